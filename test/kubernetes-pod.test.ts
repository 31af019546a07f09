// The built service run as the Deployment runs it, as near as this machine allows without a container runtime
// (issue 11, deliverable 4): the Deployment's own variables (production mode), as an unprivileged user (not root,
// like the pod's uid 1000) for whom the application, its node_modules and the policy folders are read-only, with
// CDS_DATA_DIR the one writable directory it owns (the pod's emptyDir) besides /tmp, and an unwritable HOME. It must
// start, answer an authenticated call, audit it into CDS_DATA_DIR, and serve /health and /metrics. Needs root to
// switch users: otherwise skipped with a notice.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import YAML from 'yaml';
import { jwksOf, makeKey, signToken } from './helpers/keys';
import { buildService, freePort, send } from './helpers/service-process';

const ROOT = path.resolve(__dirname, '..');
const NOBODY = 65534;
const SERVICE = 'blinatumomab-mmm';
const FIXTURE = path.join(ROOT, 'fixtures', 'fhir', 'requests', 'adult-relapsed-ph-neg-cycle1-stepup--full.json');
const ISS = 'https://ehr.pod.test';
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

/* eslint-disable @typescript-eslint/no-explicit-any -- the manifest is read as untyped YAML */
const deployment = YAML.parse(
  fs.readFileSync(path.join(ROOT, 'deploy', 'kubernetes', 'base', 'deployment.yaml'), 'utf8')
);
const container = deployment['spec']['template']['spec']['containers'][0] as Record<string, any>;
const literalEnv: Record<string, string> = Object.fromEntries(
  (container['env'] as Array<Record<string, any>>)
    .filter((e) => typeof e['value'] === 'string')
    .map((e) => [e['name'] as string, e['value'] as string])
);

(isRoot ? describe : describe.skip)(
  'the service as the Deployment runs it (unprivileged, read-only but its data)',
  () => {
    let child: ChildProcess;
    let port: number;
    let dataDir: string;
    let secretsDir: string;
    const lines: Array<Record<string, unknown>> = [];

    beforeAll(async () => {
      const entry = buildService();
      port = await freePort();
      dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cds-pod-data-'));
      fs.chownSync(dataDir, NOBODY, NOBODY);
      secretsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cds-pod-secrets-'));
      fs.chmodSync(secretsDir, 0o755);
      const key = await makeKey('ES384', 'pod-key');
      const issuers = path.join(secretsDir, 'trusted-issuers.json');
      fs.writeFileSync(issuers, JSON.stringify([{ iss: ISS, jwks: jwksOf(key) }]), { mode: 0o644 });
      child = spawn(process.execPath, [entry], {
        cwd: ROOT,
        uid: NOBODY,
        gid: NOBODY,
        env: {
          PATH: process.env['PATH'] ?? '',
          HOME: '/nonexistent',
          ...literalEnv,
          PORT: String(port),
          CDS_HOST: '127.0.0.1',
          CDS_DATA_DIR: dataDir,
          CDS_SERVICES_DIR: path.join(ROOT, 'cds-services'),
          CDS_TRUSTED_ISSUERS: issuers,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const output: string[] = [];
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`not listening within 30 s:\n${output.join('\n')}`)), 30000);
        readline.createInterface({ input: child.stdout! }).on('line', (line) => {
          output.push(line);
          try {
            const parsed = JSON.parse(line) as Record<string, unknown>;
            lines.push(parsed);
            if (parsed['msg'] === 'cds service listening') {
              clearTimeout(timer);
              resolve();
            }
          } catch {
            // not a log line
          }
        });
        readline.createInterface({ input: child.stderr! }).on('line', (line) => output.push(line));
        child.once('exit', (code) => {
          clearTimeout(timer);
          reject(new Error(`exited with ${code}:\n${output.join('\n')}`));
        });
      });
      const body = JSON.parse(fs.readFileSync(FIXTURE, 'utf8')) as Record<string, unknown>;
      delete body['fhirServer'];
      delete body['fhirAuthorization'];
      const token = await signToken(key, {
        iss: ISS,
        aud: `${literalEnv['CDS_PUBLIC_BASE_URL']}/cds-services/${SERVICE}`,
      });
      const res = await send(port, 'POST', `/cds-services/${SERVICE}`, body, { authorization: `Bearer ${token}` });
      expect(res.status).toBe(200);
    }, 180000);

    afterAll(() => {
      if (child && child.exitCode === null) {
        child.kill('SIGKILL');
      }
      fs.rmSync(dataDir, { recursive: true, force: true });
      fs.rmSync(secretsDir, { recursive: true, force: true });
    });

    it('starts in production mode as a user who cannot write the application or the policies', () => {
      expect(literalEnv['NODE_ENV']).toBe('production');
      expect(lines.find((l) => l['msg'] === 'cds service listening')).toMatchObject({ mode: 'production', workers: 1 });
      for (const dir of [ROOT, path.join(ROOT, 'cds-services'), path.join(ROOT, 'node_modules')]) {
        const st = fs.statSync(dir);
        expect({ dir, writableByOthers: (st.mode & 0o002) !== 0, owner: st.uid }).toEqual({
          dir,
          writableByOthers: false,
          owner: 0,
        });
      }
    });

    it('audits the call into CDS_DATA_DIR, as that user', () => {
      const audit = path.join(dataDir, 'audit');
      const files = fs.readdirSync(audit);
      expect(files.length).toBeGreaterThan(0);
      const lines = files.flatMap((f) => fs.readFileSync(path.join(audit, f), 'utf8').split('\n').filter(Boolean));
      expect(lines).toHaveLength(1);
      expect(fs.statSync(path.join(audit, files[0] as string)).uid).toBe(NOBODY);
    });

    it('answers /health and /metrics, and logs no error', async () => {
      expect((await send(port, 'GET', '/health')).status).toBe(200);
      const metrics = await send(port, 'GET', '/metrics');
      expect(metrics.status).toBe(200);
      expect(metrics.body).toMatch(
        /^cds_hook_calls_total\{service="blinatumomab-mmm",hook="order-sign",status="200"\} 1$/m
      );
      expect(lines.filter((l) => l['level'] === 'error' || l['level'] === 'fatal')).toEqual([]);
    });
  }
);

if (!isRoot) {
  it('notes that the unprivileged run was skipped', () => {
    process.stderr.write('test/kubernetes-pod.test.ts: not root, cannot switch to an unprivileged user: skipped\n');
  });
}
