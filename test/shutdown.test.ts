// Stopping cleanly (issue 5): SIGTERM with a request in flight (a FHIR fallback against a slow local FHIR server)
// lets that request finish with its real answer, refuses new connections, closes idle keep-alive connections and
// exits 0; the same with two workers, where the primary drains every worker and restarts none.
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { searchset, startScriptedServer, pathOf, type ScriptedServer } from './helpers/fhir-servers';
import { childrenOf, isAlive, send, startService, type Answer, type ServiceProcess } from './helpers/service-process';

const SERVICE_PATH = '/cds-services/blinatumomab-mmm';
const FIXTURE = path.resolve(
  __dirname,
  '..',
  'fixtures',
  'fhir',
  'requests',
  'adult-relapsed-ph-neg-cycle1-stepup--none.json'
);
const FHIR_DELAY_MS = 1200;

let fhir: ScriptedServer;
let dataDir: string;

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cds-shutdown-'));
  // Every answer takes FHIR_DELAY_MS: the patient exists, every search is empty.
  fhir = await startScriptedServer((req) => {
    const p = pathOf(req);
    if (p.startsWith('/Patient/')) {
      return {
        kind: 'json',
        delayMs: FHIR_DELAY_MS,
        body: { resourceType: 'Patient', id: p.slice('/Patient/'.length), birthDate: '1974-03-14' },
      };
    }
    return { kind: 'json', delayMs: FHIR_DELAY_MS, body: searchset([]) };
  });
});

afterAll(async () => {
  await fhir.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

function fallbackRequest(hookInstance: string): Record<string, unknown> {
  const body = JSON.parse(fs.readFileSync(FIXTURE, 'utf8')) as Record<string, unknown>;
  return { ...body, hookInstance, fhirServer: fhir.base };
}

function env(workers: number): Record<string, string> {
  return {
    NODE_ENV: 'development',
    CDS_WORKERS: String(workers),
    CDS_DATA_DIR: dataDir,
    CDS_FHIR_TIMEOUT_MS: '5000',
    CDS_DEADLINE_MS: '8000',
    CDS_FHIR_ALLOWLIST: fhir.origin,
  };
}

/** Resolves once the FHIR server has received `n` more requests than `from`. */
async function fhirRequestsReach(from: number, n: number): Promise<void> {
  for (let i = 0; i < 200 && fhir.requests.length < from + n; i += 1) {
    await new Promise((r) => setTimeout(r, 10));
  }
  expect(fhir.requests.length).toBeGreaterThanOrEqual(from + n);
}

function connectionRefused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ECONNREFUSED'));
  });
}

/** A keep-alive connection that has served one request and now sits idle. */
async function idleKeepAlive(port: number): Promise<{ agent: http.Agent; closed: Promise<void> }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  let socketClosed: () => void = () => undefined;
  const closed = new Promise<void>((r) => (socketClosed = r));
  await new Promise<void>((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/health', agent }, (res) => {
      res.resume();
      res.on('end', resolve);
    });
    req.on('socket', (s: net.Socket) => s.once('close', () => socketClosed()));
    req.on('error', reject);
  });
  return { agent, closed };
}

async function stopWithRequestsInFlight(service: ServiceProcess, inFlight: number): Promise<void> {
  const idle = await idleKeepAlive(service.port);
  const before = fhir.requests.length;
  const answers: Array<Promise<Answer>> = Array.from({ length: inFlight }, (_, i) =>
    send(service.port, 'POST', SERVICE_PATH, fallbackRequest(`drain-${i}`))
  );
  // Each call fetches several keys at once; wait until every call is waiting on the slow FHIR server.
  await fhirRequestsReach(before, inFlight * 2);
  const stopAt = Date.now();
  service.child.kill('SIGTERM');

  // The idle keep-alive connection is closed at once and new connections are refused while the calls finish.
  await idle.closed;
  await new Promise((r) => setTimeout(r, 150));
  expect(await connectionRefused(service.port)).toBe(true);
  expect(Date.now() - stopAt).toBeLessThan(FHIR_DELAY_MS);

  const settled = await Promise.allSettled(answers);
  for (const s of settled) {
    // Never a dropped connection: the real answer, after the slow FHIR server replied.
    expect(s.status).toBe('fulfilled');
    const answer = (s as PromiseFulfilledResult<Answer>).value;
    expect([200, 412]).toContain(answer.status);
    expect(answer.headers['connection']).toBe('close');
    const body = JSON.parse(answer.body) as Record<string, unknown>;
    expect(answer.status === 200 ? Array.isArray(body['cards']) : body['resourceType'] === 'OperationOutcome').toBe(
      true
    );
  }
  const answeredAt = Date.now();
  const { code, signal } = await service.exited;
  expect(signal).toBeNull();
  expect(code).toBe(0);
  // It stops as soon as the last answer is out (not after a grace period).
  expect(Date.now() - answeredAt).toBeLessThan(2000);
  expect(Date.now() - stopAt).toBeGreaterThanOrEqual(FHIR_DELAY_MS - 200);
  idle.agent.destroy();
}

describe('SIGTERM', () => {
  it('one process: finishes the request in flight, then exits 0', async () => {
    const service = await startService(env(1));
    try {
      await stopWithRequestsInFlight(service, 1);
      expect(service.logs.some((l) => l['msg'] === 'stopped')).toBe(true);
      const calls = service.logs.filter((l) => l['msg'] === 'service call');
      expect(calls).toHaveLength(1);
    } finally {
      service.kill();
    }
  }, 60000);

  it('two workers: every worker finishes its requests in flight, none is restarted, the primary exits 0', async () => {
    const service = await startService(env(2));
    try {
      const pid = service.child.pid!;
      const workers = childrenOf(pid);
      expect(workers).toHaveLength(2);
      await stopWithRequestsInFlight(service, 4);
      const calls = service.logs.filter((l) => l['msg'] === 'service call');
      expect(calls).toHaveLength(4);
      // Both workers had calls in flight and answered them.
      expect(new Set(calls.map((l) => l['pid']))).toEqual(new Set(workers));
      expect(workers.every((w) => !isAlive(w))).toBe(true);
      expect(service.logs.some((l) => String(l['msg']).includes('starting another'))).toBe(false);
    } finally {
      service.kill();
    }
  }, 60000);

  it('a service with nothing in flight stops at once', async () => {
    const service = await startService(env(1));
    try {
      const answer = await send(service.port, 'GET', '/health');
      expect(answer.status).toBe(200);
      const at = Date.now();
      service.child.kill('SIGTERM');
      const { code } = await service.exited;
      expect(code).toBe(0);
      expect(Date.now() - at).toBeLessThan(1500);
    } finally {
      service.kill();
    }
  }, 60000);
});
