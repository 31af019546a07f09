// Two replicas on one PostgreSQL (issue 11; contract sections 1 "Store" and 8): two independent service processes
// (not cluster workers: CDS_WORKERS=1 each, separate data folders), production mode with a test issuer, sharing only
// CDS_DATABASE_URL, on a throwaway cluster (test/helpers/postgres.ts). A token used at one is refused at the other;
// 1,000 calls split between them leave exactly 1,000 audit records; feedback sent twice through both is stored once;
// killing one replica mid-load loses no acknowledged record (the audit is written before the answer is sent).
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MIGRATIONS } from '../src/store/pg-migrations';
import { jwksOf, makeKey, signToken, writeIssuersFile, type TestKey } from './helpers/keys';
import { postgresAvailable, startPostgres, type ThrowawayPostgres } from './helpers/postgres';
import { send, startService, type Answer, type ServiceProcess } from './helpers/service-process';

const BASE = 'http://cds.test';
const SERVICE = 'blinatumomab-mmm';
const SERVICE_PATH = `/cds-services/${SERVICE}`;
const FEEDBACK_PATH = `${SERVICE_PATH}/feedback`;
const ISS = 'https://ehr.replicas.test';
const FIXTURE = path.resolve(
  __dirname,
  '..',
  'fixtures',
  'fhir',
  'requests',
  'adult-mrd-positive-first-remission--full.json'
);

const available = postgresAvailable('the two-replica PostgreSQL tests');
const suite = available ? describe : describe.skip;

jest.setTimeout(300000);

suite('two replicas on one PostgreSQL', () => {
  let pg: ThrowawayPostgres;
  let db = '';
  let key: TestKey;
  let replicas: ServiceProcess[] = [];
  const dirs: string[] = [];
  const fixture = JSON.parse(fs.readFileSync(FIXTURE, 'utf8')) as Record<string, unknown>;

  const orderSign = (hookInstance: string): Record<string, unknown> => ({ ...fixture, hookInstance });
  const token = (aud: string, jti?: string): Promise<string> =>
    signToken(key, { iss: ISS, aud: `${BASE}${aud}`, ...(jti ? { jti } : {}) });
  const bearer = (t: string): Record<string, string> => ({ authorization: `Bearer ${t}` });
  const rows = <R = Record<string, unknown>>(text: string, values: unknown[] = []): Promise<R[]> =>
    pg.sql<R>(text, values, db);

  const startReplica = async (workers = 1): Promise<ServiceProcess> => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cds-replica-'));
    dirs.push(dataDir);
    return startService({
      NODE_ENV: 'production',
      CDS_WORKERS: String(workers),
      CDS_TRUSTED_ISSUERS: writeIssuersFile([{ iss: ISS, jwks: jwksOf(key) }]),
      CDS_PUBLIC_BASE_URL: BASE,
      CDS_FHIR_ALLOWLIST: 'http://127.0.0.1',
      CDS_DATA_DIR: dataDir,
      CDS_DATABASE_URL: pg.url(db),
    });
  };

  /** One order-sign call with a fresh token at `replica`; undefined when the connection failed. */
  const call = async (replica: ServiceProcess, hookInstance: string): Promise<Answer | undefined> => {
    try {
      return await send(replica.port, 'POST', SERVICE_PATH, orderSign(hookInstance), bearer(await token(SERVICE_PATH)));
    } catch {
      return undefined;
    }
  };

  /** Runs `count` calls, `concurrency` at a time, the i-th at `pick(i)`; returns each hookInstance and answer. */
  const load = async (
    count: number,
    concurrency: number,
    pick: (i: number) => ServiceProcess,
    prefix: string,
    onAnswer?: (done: number) => void
  ): Promise<Array<{ hookInstance: string; answer: Answer | undefined }>> => {
    const results: Array<{ hookInstance: string; answer: Answer | undefined }> = [];
    let next = 0;
    const lane = async (): Promise<void> => {
      while (next < count) {
        const i = next;
        next += 1;
        const hookInstance = `${prefix}-${i}-${randomUUID()}`;
        const answer = await call(pick(i), hookInstance);
        results.push({ hookInstance, answer });
        onAnswer?.(results.length);
      }
    };
    await Promise.all(Array.from({ length: concurrency }, lane));
    return results;
  };

  beforeAll(async () => {
    key = await makeKey('ES384', 'replica-key');
    pg = await startPostgres();
    db = new URL(await pg.createDatabase()).pathname.slice(1);
    // Started together on an empty database: both migrate at once (the advisory lock lets one do it).
    replicas = await Promise.all([startReplica(), startReplica()]);
  }, 300000);

  afterAll(() => {
    for (const r of replicas) {
      r.kill();
    }
    pg?.stop();
    for (const d of dirs) {
      fs.rmSync(d, { recursive: true, force: true });
    }
  });

  it('runs two independent processes on one schema, migrated once', async () => {
    const [a, b] = replicas;
    expect(a!.child.pid).not.toBe(b!.child.pid);
    for (const r of replicas) {
      expect(r.logs.find((l) => l['msg'] === 'cds service listening')).toMatchObject({
        store: 'postgresql',
        workers: 1,
        mode: 'production',
      });
      // The database URL is never logged.
      expect(r.output()).not.toContain(pg.url(db));
    }
    const migrations = await rows<{ version: number }>('SELECT version FROM cds_schema_migrations ORDER BY version');
    expect(migrations.map((m) => m.version)).toEqual(MIGRATIONS.map((m) => m.version));
  });

  it('refuses at one replica a token already used at the other', async () => {
    const [a, b] = replicas as [ServiceProcess, ServiceProcess];
    for (const [first, second] of [
      [a, b],
      [b, a],
    ] as const) {
      const t = await token(SERVICE_PATH);
      expect((await send(first.port, 'POST', SERVICE_PATH, orderSign(randomUUID()), bearer(t))).status).toBe(200);
      const replay = await send(second.port, 'POST', SERVICE_PATH, orderSign(randomUUID()), bearer(t));
      expect(replay.status).toBe(401);
      expect(replay.headers['www-authenticate']).toBe('Bearer');
    }
  });

  it('leaves exactly 1,000 audit records for 1,000 calls split between them', async () => {
    const [a, b] = replicas as [ServiceProcess, ServiceProcess];
    const prefix = `split-${randomUUID()}`;
    const results = await load(1000, 8, (i) => (i % 2 === 0 ? a : b), prefix);
    expect(results.map((r) => r.answer?.status)).toEqual(results.map(() => 200));
    // Each replica answered half; every record was committed before its answer.
    const counted = await rows<{ n: string; services: string }>(
      `SELECT count(*) AS n, count(DISTINCT hook_instance) AS services FROM cds_audit WHERE hook_instance LIKE $1`,
      [`${prefix}-%`]
    );
    expect(counted[0]).toEqual({ n: '1000', services: '1000' });
    const stored = await rows<{ hook_instance: string }>(
      'SELECT hook_instance FROM cds_audit WHERE hook_instance LIKE $1',
      [`${prefix}-%`]
    );
    expect(stored.map((s) => s.hook_instance).sort()).toEqual(results.map((r) => r.hookInstance).sort());
  });

  it('stores feedback sent twice through both replicas once', async () => {
    const [a, b] = replicas as [ServiceProcess, ServiceProcess];
    const answer = await call(a, randomUUID());
    const cards = (JSON.parse(answer!.body) as { cards: Array<{ uuid: string }> }).cards;
    expect(cards.length).toBeGreaterThan(0);
    const item = {
      card: cards[0]!.uuid,
      outcome: 'overridden',
      outcomeTimestamp: '2026-12-02T10:00:00Z',
      overrideReason: { userComment: 'replica copy test' },
    };
    const sent = await Promise.all(
      [a, b, a, b].map(async (r) =>
        send(r.port, 'POST', FEEDBACK_PATH, { feedback: [item] }, bearer(await token(FEEDBACK_PATH)))
      )
    );
    expect(sent.map((s) => s.status)).toEqual([200, 200, 200, 200]);
    const stored = await rows<{ n: string }>(
      'SELECT count(*) AS n FROM cds_feedback WHERE service_id = $1 AND card = $2',
      [SERVICE, item.card]
    );
    expect(stored[0]?.n).toBe('1');
  });

  it('loses no acknowledged record when one replica is killed mid-load', async () => {
    const [a, b] = replicas as [ServiceProcess, ServiceProcess];
    const prefix = `kill-${randomUUID()}`;
    let killed = false;
    const results = await load(
      400,
      8,
      (i) => (i % 2 === 0 ? a : b),
      prefix,
      (done) => {
        if (!killed && done >= 100) {
          killed = true;
          b.child.kill('SIGKILL');
        }
      }
    );
    await b.exited;
    const acknowledged = results.filter((r) => r.answer?.status === 200).map((r) => r.hookInstance);
    // The survivor answered all of its share; some of the killed replica's calls failed.
    expect(acknowledged.length).toBeGreaterThanOrEqual(200);
    expect(results.some((r) => r.answer === undefined)).toBe(true);
    const stored = await rows<{ hook_instance: string }>(
      'SELECT hook_instance FROM cds_audit WHERE hook_instance LIKE $1',
      [`${prefix}-%`]
    );
    const audited = stored.map((s) => s.hook_instance);
    // Every acknowledged call has its record, none is doubled (a call cut off may have one without an answer).
    expect(new Set(audited).size).toBe(audited.length);
    expect(audited).toEqual(expect.arrayContaining(acknowledged));
  });

  it('shares the database with a replica of two workers (its cluster primary holds the pool)', async () => {
    const [a] = replicas as [ServiceProcess];
    const c = await startReplica(2);
    replicas.push(c);
    expect(c.logs.find((l) => l['msg'] === 'cds service listening')).toMatchObject({ store: 'postgresql', workers: 2 });
    expect((await send(c.port, 'GET', '/ready')).status).toBe(200);
    const t = await token(SERVICE_PATH);
    const hookInstance = `workers-${randomUUID()}`;
    expect((await send(c.port, 'POST', SERVICE_PATH, orderSign(hookInstance), bearer(t))).status).toBe(200);
    expect((await send(a.port, 'POST', SERVICE_PATH, orderSign(randomUUID()), bearer(t))).status).toBe(401);
    const replayedHere = await token(SERVICE_PATH);
    expect((await send(a.port, 'POST', SERVICE_PATH, orderSign(randomUUID()), bearer(replayedHere))).status).toBe(200);
    expect((await send(c.port, 'POST', SERVICE_PATH, orderSign(randomUUID()), bearer(replayedHere))).status).toBe(401);
    const stored = await rows('SELECT 1 FROM cds_audit WHERE hook_instance = $1', [hookInstance]);
    expect(stored).toHaveLength(1);
  });
});
