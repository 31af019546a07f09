// The Docker files (issue 8 finding 12). No Docker engine runs here, so the image is never built: what can be checked
// is checked. The Dockerfile and docker-compose.yml pin every image by version; the runtime user owns the data
// directory; the image's HEALTHCHECK asks GET /ready (scripts/healthcheck.js, run here against the built service);
// the container starts with the node flags of `npm start`; .dockerignore keeps the build context small; the fixture
// loader (scripts/load-fixtures.sh) waits for the FHIR server's /metadata and fails loudly on a refused bundle (run
// here with dash and curl against scripted servers); `docker-compose config` accepts the compose file.
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { startScriptedServer, type ScriptedServer } from './helpers/fhir-servers';
import { startService, type ServiceProcess } from './helpers/service-process';

const ROOT = path.resolve(__dirname, '..');
const DOCKERFILE = fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
/* eslint-disable @typescript-eslint/no-explicit-any -- the compose file is read as untyped YAML */
const COMPOSE = YAML.parse(fs.readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8')) as Record<string, any>;
const hasDockerCompose = spawnSync('docker-compose', ['version'], { stdio: 'ignore' }).status === 0;
const hasCurl = spawnSync('curl', ['--version'], { stdio: 'ignore' }).status === 0;

/** Dockerfile instructions, continuation lines joined, comments dropped. */
function instructions(): Array<{ op: string; args: string }> {
  return DOCKERFILE.replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const [op = '', ...rest] = l.split(/\s+/);
      return { op: op.toUpperCase(), args: rest.join(' ') };
    });
}

/** An image reference pinned by version: a tag with a digit that is not `latest`, or a digest. */
function pinned(image: string): boolean {
  if (/@sha256:[0-9a-f]{64}$/.test(image)) {
    return true;
  }
  const tag = /:([^/:]+)$/.exec(image)?.[1];
  return tag !== undefined && tag !== 'latest' && /\d/.test(tag);
}

describe('Dockerfile', () => {
  const ops = instructions();

  it('pins every base image by version', () => {
    const froms = ops.filter((i) => i.op === 'FROM').map((i) => i.args.split(/\s+/)[0] ?? '');
    expect(froms.length).toBeGreaterThan(0);
    for (const image of froms) {
      expect({ image, pinned: pinned(image) }).toEqual({ image, pinned: true });
    }
  });

  it('runs as node, with the data directory created and owned by node before USER, and CDS_DATA_DIR there', () => {
    const user = ops.findIndex((i) => i.op === 'USER');
    expect(ops[user]?.args).toBe('node');
    const chown = ops.findIndex(
      (i) => i.op === 'RUN' && /mkdir -p \/app\/data/.test(i.args) && /chown node:node \/app\/data/.test(i.args)
    );
    expect(chown).toBeGreaterThanOrEqual(0);
    expect(chown).toBeLessThan(user);
    expect(ops.some((i) => i.op === 'ENV' && /CDS_DATA_DIR=\/app\/data/.test(i.args))).toBe(true);
  });

  it('checks health on /ready with the healthcheck script it copies', () => {
    const check = ops.find((i) => i.op === 'HEALTHCHECK');
    expect(check?.args).toMatch(/CMD \["node", "scripts\/healthcheck\.js"\]$/);
    expect(ops.some((i) => i.op === 'COPY' && i.args === 'scripts/healthcheck.js ./scripts/healthcheck.js')).toBe(true);
    expect(fs.readFileSync(path.join(ROOT, 'scripts', 'healthcheck.js'), 'utf8')).toContain("path: '/ready'");
  });

  it('starts node with exactly the flags of npm start', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    const start = pkg.scripts['start'] ?? '';
    const npmFlags = start
      .replace(/^exec\s+/, '')
      .split(/\s+/)
      .filter((w) => w.startsWith('--'));
    const cmd = JSON.parse(ops.filter((i) => i.op === 'CMD').pop()?.args ?? '[]') as string[];
    expect(cmd[0]).toBe('node');
    expect(cmd.filter((w) => w.startsWith('--'))).toEqual(npmFlags);
    expect(npmFlags.length).toBeGreaterThan(0);
    expect(cmd[cmd.length - 1]).toBe('dist/index.js');
  });

  it('has a .dockerignore that keeps node_modules, dist, data and .git out of the build context', () => {
    const ignored = fs
      .readFileSync(path.join(ROOT, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim());
    expect(ignored).toEqual(expect.arrayContaining(['node_modules', 'dist', 'data', '.git']));
    // Nothing the build copies is ignored.
    for (const copied of ['package.json', 'package-lock.json', 'tsconfig.json', 'src', 'cds-services', 'scripts']) {
      expect(ignored).not.toContain(copied);
    }
  });
});

describe('docker-compose.yml', () => {
  it('pins every image by version', () => {
    const images = Object.values(COMPOSE['services'] as Record<string, { image?: string }>)
      .map((s) => s.image)
      .filter((i): i is string => i !== undefined);
    expect(images.length).toBeGreaterThanOrEqual(2);
    for (const image of images) {
      expect({ image, pinned: pinned(image) }).toEqual({ image, pinned: true });
    }
  });

  it('loads the fixtures with scripts/load-fixtures.sh', () => {
    const loader = COMPOSE['services']['hapi-loader'];
    expect(loader['entrypoint']).toEqual(['/bin/sh', '/load-fixtures.sh']);
    expect(loader['volumes']).toEqual(
      expect.arrayContaining(['./scripts/load-fixtures.sh:/load-fixtures.sh:ro', './fixtures/fhir/bundles:/bundles:ro'])
    );
  });

  (hasDockerCompose ? it : it.skip)('is valid for docker-compose config', () => {
    const out = execFileSync('docker-compose', ['-f', path.join(ROOT, 'docker-compose.yml'), 'config'], {
      cwd: ROOT,
      stdio: 'pipe',
    }).toString('utf8');
    const resolved = YAML.parse(out) as Record<string, any>;
    expect(Object.keys(resolved['services'] as object)).toEqual(expect.arrayContaining(['cds', 'hapi', 'hapi-loader']));
  });

  if (!hasDockerCompose) {
    it('notes that docker-compose config was skipped', () => {
      process.stderr.write(
        'docker-compose is not installed: `docker-compose config` skipped (apt-get install docker-compose)\n'
      );
    });
  }
});

describe('scripts/healthcheck.js against the built service', () => {
  let service: ServiceProcess;
  let dataDir: string;
  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cds-health-'));
    service = await startService({ CDS_DATA_DIR: dataDir });
  }, 180000);
  afterAll(() => {
    service?.kill();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  function healthcheck(env: Record<string, string>): number | null {
    return spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'healthcheck.js')], {
      env: { PATH: process.env['PATH'] ?? '', ...env },
      timeout: 20000,
    }).status;
  }

  it('exits 0 when /ready answers 200, 1 when the store cannot write or nothing listens', async () => {
    const port = String(service.port);
    expect(healthcheck({ PORT: port })).toBe(0);
    expect(healthcheck({ PORT: port, CDS_HOST: '0.0.0.0' })).toBe(0);
    expect(healthcheck({ PORT: port, CDS_HOST: '127.0.0.1' })).toBe(0);
    const moved = `${dataDir}.away`;
    fs.renameSync(dataDir, moved);
    try {
      expect(healthcheck({ PORT: port })).toBe(1);
    } finally {
      fs.renameSync(moved, dataDir);
    }
    service.kill();
    await service.exited;
    expect(healthcheck({ PORT: port })).toBe(1);
  }, 60000);
});

(hasCurl ? describe : describe.skip)('scripts/load-fixtures.sh', () => {
  let bundles: string;
  const servers: ScriptedServer[] = [];
  beforeAll(() => {
    bundles = fs.mkdtempSync(path.join(os.tmpdir(), 'cds-bundles-'));
    for (const name of ['a-good.json', 'b-refused.json', 'c-good.json']) {
      fs.writeFileSync(
        path.join(bundles, name),
        JSON.stringify({ resourceType: 'Bundle', type: 'transaction', id: name })
      );
    }
  });
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.close()));
    fs.rmSync(bundles, { recursive: true, force: true });
  });

  function run(env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      execFile(
        'sh',
        [path.join(ROOT, 'scripts', 'load-fixtures.sh')],
        {
          env: { PATH: process.env['PATH'] ?? '', BUNDLES_DIR: bundles, FHIR_WAIT_INTERVAL_S: '1', ...env },
          timeout: 60000,
        },
        (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr })
      );
    });
  }

  it('waits until /metadata answers, then loads every bundle', async () => {
    let metadataCalls = 0;
    const fhir = await startScriptedServer((req) => {
      if (req.url.endsWith('/metadata')) {
        metadataCalls += 1;
        // Not up for the first two tries, as HAPI while it starts.
        return metadataCalls <= 2
          ? { kind: 'raw', status: 503, body: 'starting' }
          : { kind: 'json', body: { resourceType: 'CapabilityStatement' } };
      }
      return { kind: 'json', body: { resourceType: 'Bundle', type: 'transaction-response' } };
    });
    servers.push(fhir);
    const { code, stdout } = await run({ FHIR_BASE: fhir.base, FHIR_WAIT_S: '30' });
    expect(code).toBe(0);
    expect(metadataCalls).toBe(3);
    expect(fhir.requests.filter((r) => r.method === 'POST').map((r) => r.url)).toEqual(['/fhir', '/fhir', '/fhir']);
    expect(stdout).toMatch(/3 bundles loaded/);
  }, 60000);

  it('fails loudly, naming the bundle and the server’s answer, when a bundle is refused', async () => {
    let posts = 0;
    const fhir = await startScriptedServer((req) => {
      if (req.url.endsWith('/metadata')) {
        return { kind: 'json', body: { resourceType: 'CapabilityStatement' } };
      }
      posts += 1;
      return posts === 2
        ? {
            kind: 'json',
            status: 400,
            body: { resourceType: 'OperationOutcome', issue: [{ diagnostics: 'no such resource type' }] },
          }
        : { kind: 'json', body: { resourceType: 'Bundle', type: 'transaction-response' } };
    });
    servers.push(fhir);
    const { code, stderr, stdout } = await run({ FHIR_BASE: fhir.base });
    expect(code).toBe(1);
    expect(stderr).toMatch(/refused .*b-refused\.json \(HTTP 400\)/);
    expect(stderr).toContain('no such resource type');
    expect(stdout).not.toMatch(/bundles loaded/);
    // It stops at the refused bundle.
    expect(posts).toBe(2);
  }, 60000);

  it('fails when the server never answers /metadata', async () => {
    const fhir = await startScriptedServer(() => ({ kind: 'raw', status: 503, body: 'down' }));
    servers.push(fhir);
    const { code, stderr } = await run({ FHIR_BASE: fhir.base, FHIR_WAIT_S: '2' });
    expect(code).toBe(1);
    expect(stderr).toMatch(/metadata did not answer within 2 s/);
    expect(fhir.requests.every((r) => r.method === 'GET')).toBe(true);
  }, 60000);
});
