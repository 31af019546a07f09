// What only the PostgreSQL store does (the shared behaviour is in test/store-suite.ts): versioned migrations run once
// when many replicas start at once, expired jtis swept from the table, two stores (two replicas) deciding together,
// audit columns an operator can query, ready() refusing a database that accepts no writes. A real throwaway cluster
// (test/helpers/postgres.ts), a new database for each test.
import { randomUUID } from 'node:crypto';
import { createPgStore, migrate, type PgStore } from '../src/store/pg-store';
import { MIGRATIONS } from '../src/store/pg-migrations';
import type { AuditRecord } from '../src/store/types';
import { postgresAvailable, startPostgres, type ThrowawayPostgres } from './helpers/postgres';

const available = postgresAvailable('the PostgreSQL store tests');
const suite = available ? describe : describe.skip;

jest.setTimeout(60000);

const T0 = Date.parse('2026-06-01T12:00:00Z');

suite('PgStore on a real PostgreSQL', () => {
  let pg: ThrowawayPostgres;
  let url = '';
  let db = '';
  const open: PgStore[] = [];
  let clock = T0;
  const now = (): number => clock;

  const store = async (over: { audit?: boolean; onError?: (m: string, e: unknown) => void } = {}): Promise<PgStore> => {
    const s = await createPgStore({ connectionString: url, audit: true, auditRetentionDays: 30, now, ...over });
    open.push(s);
    return s;
  };
  const rows = <R = Record<string, unknown>>(text: string, values: unknown[] = []): Promise<R[]> =>
    pg.sql<R>(text, values, db);

  beforeAll(async () => {
    pg = await startPostgres();
  }, 120000);
  afterAll(() => {
    pg?.stop();
  });
  beforeEach(async () => {
    clock = T0;
    url = await pg.createDatabase();
    db = new URL(url).pathname.slice(1);
  });
  afterEach(async () => {
    await Promise.allSettled(open.splice(0).map((s) => s.close()));
  });

  it('migrates an empty database once when eight replicas start at the same time', async () => {
    const stores = await Promise.all(Array.from({ length: 8 }, () => store()));
    expect(stores).toHaveLength(8);
    const applied = await rows<{ version: number; name: string }>(
      'SELECT version, name FROM cds_schema_migrations ORDER BY version'
    );
    expect(applied).toEqual(MIGRATIONS.map((m) => ({ version: m.version, name: m.name })));
    const tables = await rows<{ tablename: string }>(
      "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
    );
    expect(tables.map((t) => t.tablename)).toEqual([
      'cds_assertion',
      'cds_audit',
      'cds_feedback',
      'cds_issued_card',
      'cds_jti',
      'cds_ready',
      'cds_schema_migrations',
    ]);
    // A later start finds nothing to do.
    const client = await stores[0]!.pool.connect();
    try {
      expect(await migrate(client)).toEqual([]);
    } finally {
      client.release();
    }
  });

  it('applies a new migration version on the next start, and leaves the schema untouched when one fails', async () => {
    const s = await store();
    const last = MIGRATIONS[MIGRATIONS.length - 1]!.version;
    const client = await s.pool.connect();
    try {
      const next = [
        ...MIGRATIONS,
        { version: last + 1, name: 'test column', sql: 'ALTER TABLE cds_audit ADD COLUMN note text' },
      ];
      expect(await migrate(client, next)).toEqual([last + 1]);
      expect(await migrate(client, next)).toEqual([]);
      const broken = [
        ...next,
        { version: last + 2, name: 'broken', sql: 'ALTER TABLE cds_audit ADD COLUMN x text; SELECT 1/0' },
      ];
      await expect(migrate(client, broken)).rejects.toThrow(/division by zero/);
    } finally {
      client.release();
    }
    const applied = await rows<{ version: number }>('SELECT version FROM cds_schema_migrations ORDER BY version');
    expect(applied.map((a) => a.version)).toEqual([...MIGRATIONS.map((m) => m.version), last + 1]);
    const columns = await rows<{ column_name: string }>(
      "SELECT column_name FROM information_schema.columns WHERE table_name = 'cds_audit' AND column_name IN ('note', 'x')"
    );
    expect(columns.map((c) => c.column_name)).toEqual(['note']);
  });

  it('sweeps expired jtis from the table (at start-up and on the sweep), keeps live ones', async () => {
    const s = await store();
    expect(await s.rememberJti('iss', 'short', T0 + 1000)).toBe(true);
    expect(await s.rememberJti('iss', 'long', T0 + 3600000)).toBe(true);
    clock = T0 + 2000;
    expect(await s.sweepJtis()).toBe(1);
    expect((await rows<{ jti: string }>('SELECT jti FROM cds_jti')).map((r) => r.jti)).toEqual(['long']);
    clock = T0 + 3600001;
    await store();
    expect(await rows('SELECT jti FROM cds_jti')).toEqual([]);
  });

  it('lets two stores on one database (two replicas) decide every shared question together', async () => {
    const a = await store();
    const b = await store();
    expect(await a.rememberJti('iss', 'j', T0 + 60000)).toBe(true);
    expect(await b.rememberJti('iss', 'j', T0 + 60000)).toBe(false);
    const item = { card: 'c', outcome: 'accepted' as const, outcomeTimestamp: '2026-06-01T12:00:00Z' };
    const put = await Promise.all([a, b, a, b].map((s) => s.putFeedback('svc', item)));
    expect(put.filter((p) => p)).toHaveLength(1);
    await a.rememberCards('svc', ['u-1']);
    expect(await b.isIssuedCard('svc', 'u-1')).toBe(true);
    const key = { orderId: 'o', coverage: 'c', policy: 'p', policyVersion: 'v' };
    const outcome = { covered: 'covered', paNeeded: 'auth-needed' };
    const ids = await Promise.all(
      Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? a : b).assertionFor(key, outcome, `id-${i}`))
    );
    expect(new Set(ids).size).toBe(1);
    const racing = await Promise.all(
      Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? a : b).rememberJti('iss', 'race', T0 + 60000))
    );
    expect(racing.filter((r) => r)).toHaveLength(1);
  });

  it('keeps the policy version, assertion ids and decisions in columns an operator can query', async () => {
    const s = await store();
    const record: AuditRecord = {
      time: new Date(T0).toISOString(),
      kind: 'service',
      serviceId: 'blinatumomab-mmm',
      hookInstance: randomUUID(),
      request: { method: 'POST', path: '/cds-services/blinatumomab-mmm', headers: {} },
      response: { status: 200, body: { cards: [] } },
      durationMs: 3,
      policyId: 'blinatumomab-mmm',
      policyVersion: '2024-05-09',
      assertionIds: ['a-1'],
      decisions: [{ orderId: 'MedicationRequest/1', likelihood: 'likely', pathway: 'p1' }],
    };
    await s.appendAudit(record);
    const [row] = await rows(
      'SELECT service_id, hook_instance, status, policy_id, policy_version, assertion_ids, decisions, time FROM cds_audit'
    );
    expect(row).toEqual({
      service_id: 'blinatumomab-mmm',
      hook_instance: record.hookInstance,
      status: 200,
      policy_id: 'blinatumomab-mmm',
      policy_version: '2024-05-09',
      assertion_ids: ['a-1'],
      decisions: record.decisions,
      time: new Date(T0),
    });
    const found = await rows('SELECT 1 FROM cds_audit WHERE decisions @> \'[{"likelihood": "likely"}]\'');
    expect(found).toHaveLength(1);
  });

  it('is not ready, and rejects writes, when the database accepts no writes; survives its connections dropping', async () => {
    const errors: string[] = [];
    const s = await store({ onError: (m) => errors.push(m) });
    await expect(s.ready()).resolves.toBeUndefined();
    await pg.sql(`ALTER DATABASE "${db}" SET default_transaction_read_only = on`);
    // Drop this store's connections: the pool reports it and opens new, read-only ones.
    await pg.sql('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1', [db]);
    await new Promise((r) => setTimeout(r, 200));
    await expect(s.ready()).rejects.toThrow(/read-only/);
    await expect(
      s.appendAudit({
        time: new Date(T0).toISOString(),
        kind: 'service',
        serviceId: 'svc',
        request: { method: 'POST', path: '/', headers: {} },
        response: { status: 200, body: {} },
        durationMs: 1,
      })
    ).rejects.toThrow(/read-only/);
    await pg.sql(`ALTER DATABASE "${db}" SET default_transaction_read_only = off`);
    await pg.sql('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1', [db]);
    await new Promise((r) => setTimeout(r, 200));
    await expect(s.ready()).resolves.toBeUndefined();
    expect(errors.every((m) => m === 'postgres connection lost')).toBe(true);
  });

  it('fails start-up with a message naming CDS_DATABASE_URL and not its password when the database is unreachable', async () => {
    const port = pg.port;
    const bad = `postgresql://postgres:pw-s3cret@127.0.0.1:${port}/no_such_database`;
    let message = '';
    try {
      await createPgStore({ connectionString: bad, audit: true, auditRetentionDays: 30 });
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/^PostgreSQL store \(CDS_DATABASE_URL\): .*no_such_database/);
    expect(message).not.toContain('pw-s3cret');
  });

  it('refuses every operation once closed', async () => {
    const s = await store();
    await s.close();
    await expect(s.rememberJti('iss', 'j', T0 + 1000)).rejects.toThrow(/closed/);
    await expect(s.ready()).rejects.toThrow(/closed/);
  });
});
