// When the PostgreSQL store stops accepting writes (contract sections 3 and 8): the built service in production on a
// throwaway cluster (test/helpers/postgres.ts) whose database is made read-only and its connections dropped. /ready
// answers 503 `not-ready`, a service call 503 `audit-unavailable` (never a 500, never a hang), and nothing is
// half-written; once the database accepts writes again, both recover without a restart.
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { jwksOf, makeKey, signToken, writeIssuersFile, type TestKey } from './helpers/keys';
import { postgresAvailable, startPostgres, type ThrowawayPostgres } from './helpers/postgres';
import { send, startService, type ServiceProcess } from './helpers/service-process';

const BASE = 'http://cds.test';
const SERVICE = 'blinatumomab-mmm';
const SERVICE_PATH = `/cds-services/${SERVICE}`;
const ISS = 'https://ehr.outage.test';
const FIXTURE = path.resolve(
  __dirname,
  '..',
  'fixtures',
  'fhir',
  'requests',
  'adult-mrd-positive-first-remission--full.json'
);

const available = postgresAvailable('the PostgreSQL outage tests');
const suite = available ? describe : describe.skip;

jest.setTimeout(120000);

suite('the PostgreSQL store stops accepting writes', () => {
  let pg: ThrowawayPostgres;
  let db = '';
  let key: TestKey;
  let service: ServiceProcess;
  let dataDir = '';
  const fixture = JSON.parse(fs.readFileSync(FIXTURE, 'utf8')) as Record<string, unknown>;

  const call = async (): Promise<{ status: number; body: string }> =>
    send(
      service.port,
      'POST',
      SERVICE_PATH,
      { ...fixture, hookInstance: randomUUID() },
      { authorization: `Bearer ${await signToken(key, { iss: ISS, aud: `${BASE}${SERVICE_PATH}` })}` }
    );
  const readOnly = async (on: boolean): Promise<void> => {
    await pg.sql(`ALTER DATABASE "${db}" SET default_transaction_read_only = ${on ? 'on' : 'off'}`);
    await pg.sql('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1', [db]);
  };

  beforeAll(async () => {
    key = await makeKey('ES384', 'outage-key');
    pg = await startPostgres();
    db = new URL(await pg.createDatabase()).pathname.slice(1);
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cds-outage-'));
    service = await startService({
      NODE_ENV: 'production',
      CDS_WORKERS: '1',
      CDS_TRUSTED_ISSUERS: writeIssuersFile([{ iss: ISS, jwks: jwksOf(key) }]),
      CDS_PUBLIC_BASE_URL: BASE,
      CDS_FHIR_ALLOWLIST: 'http://127.0.0.1',
      CDS_DATA_DIR: dataDir,
      CDS_DATABASE_URL: pg.url(db),
    });
  }, 120000);

  afterAll(() => {
    service?.kill();
    pg?.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('answers 503 (ready and calls) while the database is read-only, and recovers after', async () => {
    expect((await send(service.port, 'GET', '/ready')).status).toBe(200);
    expect((await call()).status).toBe(200);
    const before = await pg.sql<{ n: string }>('SELECT count(*) AS n FROM cds_audit', [], db);

    await readOnly(true);
    const ready = await send(service.port, 'GET', '/ready');
    expect(ready.status).toBe(503);
    expect(JSON.stringify(JSON.parse(ready.body))).toContain('"code":"not-ready"');
    for (let i = 0; i < 3; i += 1) {
      const answer = await call();
      expect(answer.status).toBe(503);
      const outcome = JSON.parse(answer.body) as { resourceType: string };
      expect(outcome.resourceType).toBe('OperationOutcome');
      // The token's id cannot be kept, so the call is not accepted (nor refused as a replay).
      expect(JSON.stringify(outcome)).toContain('"code":"audit-unavailable"');
    }
    expect(service.child.exitCode).toBeNull();

    await readOnly(false);
    expect((await send(service.port, 'GET', '/ready')).status).toBe(200);
    expect((await call()).status).toBe(200);
    const after = await pg.sql<{ n: string }>('SELECT count(*) AS n FROM cds_audit', [], db);
    // The refused calls left no record; the two answered ones did.
    expect(Number(after[0]?.n)).toBe(Number(before[0]?.n) + 1);
    // The database URL never reached the log, nor the errors' details.
    expect(service.output()).not.toContain(pg.url(db));
  });
});
