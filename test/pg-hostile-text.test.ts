// Text PostgreSQL cannot hold (issue 8; contract sections 3 and 8): a NUL character or a lone surrogate is valid JSON
// (\u0000, \ud800) but neither a text nor a jsonb value. A hook call or feedback carrying one must still be answered
// as any other (the call audited, an unknown card 400 unknown-card), never a 500 or a 503 from the store. The real app
// on a real throwaway PostgreSQL (test/helpers/postgres.ts).
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import request from 'supertest';
import { loadConfig } from '../src/config';
import { policyService } from '../src/hooks/services';
import { createApp } from '../src/http/app';
import { createLogger } from '../src/log';
import { createPgStore, type PgStore } from '../src/store/pg-store';
import { fakeService, orderSignBody } from './helpers/fake-http-deps';
import { postgresAvailable, startPostgres, type ThrowawayPostgres } from './helpers/postgres';

const available = postgresAvailable('the PostgreSQL hostile-text tests');
const suite = available ? describe : describe.skip;

jest.setTimeout(60000);

suite('text PostgreSQL cannot hold, over HTTP', () => {
  let pg: ThrowawayPostgres;
  let store: PgStore;
  let db = '';
  let dataDir = '';
  let app: ReturnType<typeof createApp>;
  const logs: string[] = [];

  beforeAll(async () => {
    pg = await startPostgres();
  }, 120000);
  afterAll(() => {
    pg?.stop();
  });
  beforeEach(async () => {
    const url = await pg.createDatabase();
    db = new URL(url).pathname.slice(1);
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cds-pg-text-'));
    const config = loadConfig({
      NODE_ENV: 'test',
      CDS_DATA_DIR: dataDir,
      CDS_PUBLIC_BASE_URL: 'http://cds.test',
      CDS_AUDIT: 'true',
    });
    store = await createPgStore({ connectionString: url, audit: true, auditRetentionDays: 30 });
    const service = fakeService('svc-a');
    logs.length = 0;
    app = createApp({
      config,
      services: new Map([[service.id, service]]),
      cdsServices: [policyService(service, 'order-sign')],
      store,
      logger: createLogger({ level: 'info', destination: { write: (s: string) => void logs.push(s) } }),
      handleCall: () => Promise.resolve({ cards: [] }),
      buildQuestionnaire: () => ({ resourceType: 'Questionnaire', status: 'active' }),
    });
  });
  afterEach(async () => {
    await store.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('audits a hook call whose strings carry NUL characters and lone surrogates', async () => {
    // Written as JSON text, so that the escapes reach the service as they would from a client.
    const body = JSON.stringify(orderSignBody({ hookInstance: 'nul-\u0000-here' })).replace(
      '"context":{',
      '"context":{"note\\u0000":"lone \\ud800 surrogate and \\u0000 nul",'
    );
    const res = await request(app).post('/cds-services/svc-a').set('Content-Type', 'application/json').send(body);
    expect(res.status).toBe(200);
    const rows = await pg.sql<{ hook_instance: string; record: { request: { body: { context: object } } } }>(
      'SELECT hook_instance, record FROM cds_audit',
      [],
      db
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]!.hook_instance).toBe('nul-\ufffd-here');
    expect(rows[0]!.record.request.body.context).toMatchObject({
      'note\ufffd': 'lone \ufffd surrogate and \ufffd nul',
    });
    expect(logs.join('')).not.toMatch(/audit write failed/);
  });

  it('audits a hook call whose hookInstance is long and incompressible', async () => {
    const hookInstance = randomBytes(12000).toString('base64');
    const res = await request(app).post('/cds-services/svc-a').send(orderSignBody({ hookInstance }));
    expect(res.status).toBe(200);
    const rows = await pg.sql<{ hook_instance: string }>('SELECT hook_instance FROM cds_audit', [], db);
    expect(rows.map((r) => r.hook_instance)).toEqual([hookInstance]);
    expect(logs.join('')).not.toMatch(/audit write failed/);
  });

  it('answers feedback on a card with a NUL character 400 unknown-card', async () => {
    const res = await request(app)
      .post('/cds-services/svc-a/feedback')
      .send({ feedback: [{ card: 'a\u0000b', outcome: 'overridden', outcomeTimestamp: '2026-06-01T10:00:00Z' }] });
    expect(res.status).toBe(400);
    expect(res.body.issue[0].details.coding[0].code).toBe('unknown-card');
  });
});
