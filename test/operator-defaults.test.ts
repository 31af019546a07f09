// An operator's defaults (contract section 8; issue 8 finding 8), on the real built service as a process:
// development listens on 127.0.0.1 only, production on every interface (CDS_HOST changes either); production
// refuses to start without CDS_PUBLIC_BASE_URL or CDS_FHIR_ALLOWLIST, naming the variable; production 412
// diagnostics say only that the data could not be fetched (no connection state, status or timing), while the log
// line keeps the cause.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fixtureRequest } from './helpers/live-app';
import { jwksOf, makeKey, signToken, writeIssuersFile, type TestKey } from './helpers/keys';
import {
  buildService,
  freePort,
  runUntilExit,
  send,
  startService,
  type ServiceProcess,
} from './helpers/service-process';

const BASE = 'http://cds.test';
const ISS = 'https://ehr.defaults.test';
const SERVICE_PATH = '/cds-services/blinatumomab-mmm';
const FIXTURE = 'adult-relapsed-ph-neg-cycle1-stepup--none.json';

/**
 * The local addresses a TCP port listens on, from /proc/net/tcp and tcp6 (state 0A is LISTEN), as written there:
 * `127.0.0.1`, `0.0.0.0`, `::` or `::1`.
 */
function listeningAddresses(port: number): string[] {
  const out: string[] = [];
  for (const [file, v6] of [
    ['/proc/net/tcp', false],
    ['/proc/net/tcp6', true],
  ] as const) {
    if (!fs.existsSync(file)) {
      continue;
    }
    for (const line of fs.readFileSync(file, 'utf8').split('\n').slice(1)) {
      const [, local, , state] = line.trim().split(/\s+/);
      if (!local || state !== '0A') {
        continue;
      }
      const [hex, portHex] = local.split(':');
      if (!hex || parseInt(portHex ?? '', 16) !== port) {
        continue;
      }
      if (!v6) {
        out.push(
          (hex.match(/../g) ?? [])
            .reverse()
            .map((b) => parseInt(b, 16))
            .join('.')
        );
      } else {
        out.push(hex === '0'.repeat(32) ? '::' : hex === '00000000000000000000000001000000' ? '::1' : hex);
      }
    }
  }
  return out.sort();
}

let key: TestKey;
let issuers: string;
const dirs: string[] = [];
const running: ServiceProcess[] = [];

function dataDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cds-defaults-'));
  dirs.push(dir);
  return dir;
}

async function start(env: Record<string, string>): Promise<ServiceProcess> {
  const service = await startService({ CDS_DATA_DIR: dataDir(), ...env });
  running.push(service);
  return service;
}

function production(extra: Record<string, string> = {}): Record<string, string> {
  return {
    NODE_ENV: 'production',
    CDS_WORKERS: '1',
    CDS_TRUSTED_ISSUERS: issuers,
    CDS_PUBLIC_BASE_URL: BASE,
    CDS_FHIR_ALLOWLIST: 'http://127.0.0.1',
    ...extra,
  };
}

beforeAll(async () => {
  key = await makeKey('ES384', 'defaults-key');
  issuers = writeIssuersFile([{ iss: ISS, jwks: jwksOf(key) }]);
  buildService();
}, 180000);

afterAll(() => {
  for (const s of running) {
    s.kill();
  }
  for (const d of dirs) {
    fs.rmSync(d, { recursive: true, force: true });
  }
});

describe('where the service listens (CDS_HOST)', () => {
  it('development: 127.0.0.1 only, so an unconfigured instance is not reachable from other machines', async () => {
    const service = await start({});
    expect(listeningAddresses(service.port)).toEqual(['127.0.0.1']);
    expect(service.logs.find((l) => l['msg'] === 'cds service listening')).toMatchObject({ host: '127.0.0.1' });
    expect((await send(service.port, 'GET', '/health')).status).toBe(200);
  }, 60000);

  it('production: every interface', async () => {
    const service = await start(production());
    expect(listeningAddresses(service.port)).toEqual(['::']);
    expect((await send(service.port, 'GET', '/health')).status).toBe(200);
  }, 60000);

  it('CDS_HOST=0.0.0.0 opens development to every IPv4 interface', async () => {
    const service = await start({ CDS_HOST: '0.0.0.0' });
    expect(listeningAddresses(service.port)).toEqual(['0.0.0.0']);
  }, 60000);
});

describe('production refuses to start without what it must not guess', () => {
  it.each(['CDS_PUBLIC_BASE_URL', 'CDS_FHIR_ALLOWLIST'])(
    'no %s: exit 1, and the message names the variable',
    async (name) => {
      const env = production({ CDS_DATA_DIR: dataDir() });
      delete env[name];
      const { code, output } = await runUntilExit(env);
      expect(code).toBe(1);
      expect(output).toContain(name);
      expect(output).toMatch(/production/);
      expect(output).not.toMatch(/cds service listening/);
    },
    60000
  );
});

describe('412 diagnostics', () => {
  /** A call whose data must be fetched from a FHIR server on a loopback port where nothing listens. */
  async function callWithClosedServer(service: ServiceProcess, token?: string): Promise<Record<string, unknown>> {
    const closed = await freePort();
    const body = { ...fixtureRequest(FIXTURE), fhirServer: `http://127.0.0.1:${closed}/fhir` };
    const answer = await send(
      service.port,
      'POST',
      SERVICE_PATH,
      body,
      token ? { authorization: `Bearer ${token}` } : {}
    );
    expect(answer.status).toBe(412);
    return JSON.parse(answer.body) as Record<string, unknown>;
  }

  function diagnostics(outcome: Record<string, unknown>): string[] {
    return (outcome['issue'] as Array<{ diagnostics?: string }>).map((i) => i.diagnostics ?? '');
  }

  it('production: only that the data could not be fetched; the cause is in the log line', async () => {
    const service = await start(production());
    const token = await signToken(key, { iss: ISS, aud: `${BASE}${SERVICE_PATH}` });
    const outcome = await callWithClosedServer(service, token);
    const said = diagnostics(outcome);
    expect(said.length).toBeGreaterThan(0);
    for (const text of said) {
      expect(text).toMatch(/could not be fetched\.$/);
      expect(text).not.toMatch(/ECONNREFUSED|refused|HTTP|\d|timeout|no answer|port/i);
    }
    const line = await service.waitForLog((l) => l['msg'] === 'service call' && l['status'] === 412);
    expect(JSON.stringify(line['errors'])).toMatch(/ECONNREFUSED|refused|connect/i);
  }, 60000);

  it('development keeps the cause in the diagnostics', async () => {
    const service = await start({});
    const said = diagnostics(await callWithClosedServer(service));
    expect(said.join(' ')).toMatch(/ECONNREFUSED|refused|connect/i);
  }, 60000);
});
