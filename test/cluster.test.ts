// Several worker processes (contract section 8; issue 5): the real built service with CDS_WORKERS=2 in production,
// a trusted issuer with inline keys. A replayed jti is refused whichever worker answers; feedback sent concurrently to
// both workers is stored once per item; every authenticated call leaves exactly one audit record; a worker that dies
// is replaced, a stop on purpose restarts none.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { jwksOf, makeKey, signToken, writeIssuersFile, type TestKey } from './helpers/keys';
import { childrenOf, isAlive, send, startService, type LogLine, type ServiceProcess } from './helpers/service-process';

const BASE = 'http://cds.test';
const SERVICE = 'blinatumomab-mmm';
const SERVICE_PATH = `/cds-services/${SERVICE}`;
const FEEDBACK_PATH = `${SERVICE_PATH}/feedback`;
const ISS = 'https://ehr.cluster.test';
const FIXTURE = path.resolve(__dirname, '..', 'fixtures', 'fhir', 'requests', 'adult-relapsed--other-drug--full.json');
/** A governed order: its answer carries cards, which feedback may then name. */
const GOVERNED = path.resolve(
  __dirname,
  '..',
  'fixtures',
  'fhir',
  'requests',
  'adult-relapsed-ph-neg-cycle1-stepup--full.json'
);

let key: TestKey;
let service: ServiceProcess;
let dataDir: string;

function orderSign(hookInstance: string): Record<string, unknown> {
  const body = JSON.parse(fs.readFileSync(FIXTURE, 'utf8')) as Record<string, unknown>;
  return { ...body, hookInstance };
}

async function token(aud: string, jti?: string): Promise<string> {
  return signToken(key, { iss: ISS, aud: `${BASE}${aud}`, ...(jti ? { jti } : {}) });
}

function bearer(t: string): Record<string, string> {
  return { authorization: `Bearer ${t}` };
}

/** The log lines of service and feedback calls, in the order they were written. */
function callLines(kind: 'service' | 'feedback'): LogLine[] {
  return service.logs.filter((l) => l['msg'] === `${kind} call`);
}

function auditRecords(): Array<Record<string, unknown>> {
  const dir = path.join(dataDir, 'audit');
  if (!fs.existsSync(dir)) {
    return [];
  }
  return fs
    .readdirSync(dir)
    .flatMap((f) => fs.readFileSync(path.join(dir, f), 'utf8').split('\n'))
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

beforeAll(async () => {
  key = await makeKey('ES384', 'cluster-key');
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cds-cluster-'));
  service = await startService({
    NODE_ENV: 'production',
    CDS_WORKERS: '2',
    CDS_TRUSTED_ISSUERS: writeIssuersFile([{ iss: ISS, jwks: jwksOf(key) }]),
    CDS_PUBLIC_BASE_URL: BASE,
    CDS_FHIR_ALLOWLIST: 'http://127.0.0.1',
    CDS_DATA_DIR: dataDir,
  });
}, 180000);

afterAll(() => {
  service?.kill();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

describe('a cluster of two workers', () => {
  it('runs a primary and two workers, and says so once', () => {
    const pid = service.child.pid!;
    expect(childrenOf(pid)).toHaveLength(2);
    const listening = service.logs.filter((l) => l['msg'] === 'cds service listening');
    expect(listening).toHaveLength(1);
    expect(listening[0]).toMatchObject({ workers: 2, mode: 'production' });
    expect(listening[0]?.['pids']).toEqual(expect.arrayContaining(childrenOf(pid)));
  });

  it('refuses a replayed jti whichever worker answers', async () => {
    const pairs = 12;
    for (let i = 0; i < pairs; i += 1) {
      const t = await token(SERVICE_PATH);
      const first = await send(service.port, 'POST', SERVICE_PATH, orderSign(`replay-${i}`), bearer(t));
      expect(first.status).toBe(200);
      expect(JSON.parse(first.body)).toEqual({ cards: [] });
      // Let the first answer's log line be written before the second request can be answered elsewhere.
      await new Promise((r) => setTimeout(r, 20));
      const second = await send(service.port, 'POST', SERVICE_PATH, orderSign(`replay-${i}-again`), bearer(t));
      expect(second.status).toBe(401);
      expect(second.headers['www-authenticate']).toBe('Bearer');
      await new Promise((r) => setTimeout(r, 20));
    }
    // Which process answered each call, in order: the accepted one, then the refused replay.
    const lines = callLines('service').slice(-2 * pairs);
    expect(lines.map((l) => l['status'])).toEqual(Array.from({ length: pairs }, () => [200, 401]).flat());
    const crossWorker = Array.from({ length: pairs }, (_, i) => [
      lines[2 * i]?.['pid'],
      lines[2 * i + 1]?.['pid'],
    ]).filter(([a, b]) => a !== b);
    // New connections are shared between the workers: at least one replay reached the other worker, and was refused.
    expect(crossWorker.length).toBeGreaterThan(0);
    expect(new Set(lines.map((l) => l['pid'])).size).toBe(2);
    const refusals = service.logs.filter(
      (l) => l['msg'] === 'authentication refused' && l['reason'] === 'jti replayed'
    );
    expect(refusals.length).toBeGreaterThanOrEqual(pairs);
  });

  it('stores each feedback item once when copies reach both workers at the same time', async () => {
    const issuing = await send(
      service.port,
      'POST',
      SERVICE_PATH,
      fs.readFileSync(GOVERNED, 'utf8'),
      bearer(await token(SERVICE_PATH))
    );
    expect(issuing.status).toBe(200);
    const cards = (JSON.parse(issuing.body) as { cards: Array<{ uuid: string }> }).cards.map((c) => c.uuid);
    expect(cards.length).toBeGreaterThan(0);
    const items = Array.from({ length: 8 }, (_, i) => ({
      card: cards[i % cards.length]!,
      outcome: 'overridden',
      outcomeTimestamp: `2026-11-22T10:00:0${i}Z`,
      overrideReason: { userComment: `copy test ${i}` },
    }));
    const copies = 4;
    const before = callLines('feedback').length;
    const answers = await Promise.all(
      items.flatMap((item) =>
        Array.from({ length: copies }, async () =>
          send(service.port, 'POST', FEEDBACK_PATH, { feedback: [item] }, bearer(await token(FEEDBACK_PATH)))
        )
      )
    );
    expect(answers.map((a) => a.status)).toEqual(answers.map(() => 200));
    expect(answers.every((a) => a.body === '{}')).toBe(true);

    const folder = path.join(dataDir, 'feedback', SERVICE);
    const stored = fs
      .readdirSync(folder)
      .filter((f) => f.endsWith('.json'))
      .map((f) => JSON.parse(fs.readFileSync(path.join(folder, f), 'utf8')) as { item: { card: string } });
    expect(stored.map((s) => s.item.card).sort()).toEqual(items.map((i) => i.card).sort());
    expect(new Set(stored.map((s) => JSON.stringify(s.item))).size).toBe(items.length);
    // Leftover temporary files would mean a lost write.
    expect(fs.readdirSync(folder).filter((f) => !f.endsWith('.json'))).toEqual([]);

    await service.waitForLog(() => callLines('feedback').length >= before + items.length * copies);
    const lines = callLines('feedback').slice(before);
    const storedByLines = lines.reduce((s, l) => s + ((l['feedback'] as { stored: number }).stored ?? 0), 0);
    expect(storedByLines).toBe(items.length);
    expect(new Set(lines.map((l) => l['pid'])).size).toBe(2);
  });

  it('replaces a worker that dies, and keeps answering', async () => {
    const pid = service.child.pid!;
    const [victim] = childrenOf(pid);
    process.kill(victim!, 'SIGKILL');
    await service.waitForLog((l) => l['msg'] === 'worker died unexpectedly: starting another');
    for (let i = 0; i < 50 && !(childrenOf(pid).length === 2 && !childrenOf(pid).includes(victim!)); i += 1) {
      await new Promise((r) => setTimeout(r, 100));
    }
    const now = childrenOf(pid);
    expect(now).toHaveLength(2);
    expect(now).not.toContain(victim);
    // Wait until the replacement listens, then both still answer.
    for (let i = 0; i < 4; i += 1) {
      const answer = await send(
        service.port,
        'POST',
        SERVICE_PATH,
        orderSign(`after-crash-${i}`),
        bearer(await token(SERVICE_PATH))
      );
      expect(answer.status).toBe(200);
    }
  });

  it('on SIGTERM drains every worker, restarts none, exits 0, and leaves one audit record per authenticated call', async () => {
    const pid = service.child.pid!;
    const workers = childrenOf(pid);
    service.child.kill('SIGTERM');
    const { code } = await service.exited;
    expect(code).toBe(0);
    expect(workers.every((w) => !isAlive(w))).toBe(true);
    expect(service.logs.filter((l) => l['msg'] === 'worker died unexpectedly: starting another')).toHaveLength(1);

    // Every call that passed authentication was audited exactly once; refused replays were not.
    const accepted = [...callLines('service'), ...callLines('feedback')].filter((l) => l['status'] === 200);
    const records = auditRecords();
    const jtis = records.map((r) => r['jti']);
    expect(new Set(jtis).size).toBe(jtis.length);
    expect(jtis.sort()).toEqual(accepted.map((l) => l['jti']).sort());
    expect(records.every((r) => !JSON.stringify(r).includes('synthetic-fixture-token-not-a-secret'))).toBe(true);
  });
});
