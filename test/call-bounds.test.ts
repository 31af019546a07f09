// One caller cannot stop the service (contract section 2; issue 8 finding 2), over HTTP:
// - more than CDS_MAX_DRAFT_ORDERS (default 100) draftOrders entries is 400 too-many-orders, before any read;
// - the call's deadline bounds evaluation as well as fetching: past it the answer is 503 deadline-exceeded, well
//   within the deadline plus 500 ms;
// - a call whose client has gone stops: no further FHIR request is made, nothing is evaluated or sent, and the log
//   line and the audit record say it was abandoned (the built service as a process).
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import request from 'supertest';
import { ERROR_SYSTEM } from '../src/errors';
import { pathOf, searchset, startScriptedServer, type ScriptedServer } from './helpers/fhir-servers';
import { fixtureRequest } from './helpers/live-app';
import { buildServiceApp, MMM, type ServiceApp } from './helpers/service-app';
import { startService, type ServiceProcess } from './helpers/service-process';

const FULL = 'adult-relapsed-ph-neg-cycle1-stepup--full.json';
const NONE = 'adult-relapsed-ph-neg-cycle1-stepup--none.json';

interface DraftOrders {
  entry: Array<{ resource: Record<string, unknown> }>;
}

/** The fixture with its governed draft order repeated `n` times, each with its own id. */
function withOrders(n: number, fixture = FULL): Record<string, unknown> {
  const body = fixtureRequest(fixture) as { context: { draftOrders: DraftOrders } };
  const [first] = body.context.draftOrders.entry;
  if (!first) {
    throw new Error('the fixture has no draft order');
  }
  body.context.draftOrders.entry = Array.from({ length: n }, (_v, i) => ({
    resource: { ...first.resource, id: `draft-${i}` },
  }));
  return body;
}

function codesOf(res: request.Response): unknown[] {
  expect(res.body.resourceType).toBe('OperationOutcome');
  return (res.body.issue as Array<{ details: { coding: Array<{ system: string; code: string }> } }>).map((i) => {
    expect(i.details.coding[0]?.system).toBe(ERROR_SYSTEM);
    return i.details.coding[0]?.code;
  });
}

function post(app: ServiceApp, body: unknown, id = MMM): request.Test {
  return request(app.app)
    .post(`/cds-services/${id}`)
    .set('Content-Type', 'application/json')
    .send(JSON.stringify(body));
}

describe('CDS_MAX_DRAFT_ORDERS', () => {
  let fhir: ScriptedServer;
  let app: ServiceApp;
  let three: ServiceApp;
  beforeAll(async () => {
    fhir = await startScriptedServer(() => ({ kind: 'json', body: searchset([]) }));
    app = await buildServiceApp({ env: { CDS_FHIR_ALLOWLIST: fhir.origin } });
    three = await buildServiceApp({ env: { CDS_FHIR_ALLOWLIST: fhir.origin, CDS_MAX_DRAFT_ORDERS: '3' } });
  });
  afterAll(async () => {
    await app.close();
    await three.close();
    await fhir.close();
  });

  it('101 draft orders (the default limit is 100): 400 too-many-orders, before any FHIR request', async () => {
    const body = { ...withOrders(101, NONE), fhirServer: fhir.base };
    const res = await post(app, body);
    expect(res.status).toBe(400);
    expect(codesOf(res)).toEqual(['too-many-orders']);
    expect(res.body.issue[0].expression).toEqual(['context.draftOrders.entry']);
    expect(res.body.issue[0].diagnostics).toMatch(/101 entries; at most 100/);
    expect(fhir.connections).toBe(0);
  });

  it('100 draft orders are answered, one coverage decision each', async () => {
    const res = await post(app, withOrders(100));
    expect(res.status).toBe(200);
    expect(res.body.systemActions).toHaveLength(100);
  }, 60000);

  it('the limit is configurable, for every hook of the policy', async () => {
    expect((await post(three, withOrders(3))).status).toBe(200);
    const refused = await post(three, withOrders(4));
    expect(refused.status).toBe(400);
    expect(codesOf(refused)).toEqual(['too-many-orders']);
    const select = {
      ...withOrders(4),
      hook: 'order-select',
      context: { ...(withOrders(4).context as object), selections: ['MedicationRequest/draft-0'] },
    };
    const res = await post(three, select, `${MMM}-order-select`);
    expect(res.status).toBe(400);
    expect(codesOf(res)).toEqual(['too-many-orders']);
  });
});

describe('CDS_DEADLINE_MS bounds the whole call, evaluation included', () => {
  let app: ServiceApp;
  beforeAll(async () => {
    // A 1 ms deadline has passed before the 100 orders are governed, let alone evaluated.
    app = await buildServiceApp({ env: { CDS_DEADLINE_MS: '1' } });
  });
  afterAll(() => app.close());

  it('with all data in prefetch (no fetch to bound): 503 deadline-exceeded within the deadline + 500 ms', async () => {
    const body = withOrders(100);
    const started = Date.now();
    const res = await post(app, body);
    const elapsed = Date.now() - started;
    expect(res.status).toBe(503);
    expect(codesOf(res)).toEqual(['deadline-exceeded']);
    expect(res.body.issue[0].code).toBe('timeout');
    expect(elapsed).toBeLessThan(1 + 500);
  });
});

describe('a client that has gone', () => {
  const COVERAGE_DELAY_MS = 3000;
  let fhir: ScriptedServer;
  let service: ServiceProcess;
  let dataDir: string;
  let coverageAsked: () => void;
  const coverageSeen = new Promise<void>((resolve) => {
    coverageAsked = resolve;
  });

  beforeAll(async () => {
    // Every search answers at once, except the routed service's first one, the Coverages, which takes 3 s.
    fhir = await startScriptedServer((req) => {
      const p = pathOf(req);
      if (p.startsWith('/Coverage')) {
        coverageAsked();
        return { kind: 'json', delayMs: COVERAGE_DELAY_MS, body: searchset([]) };
      }
      if (p.startsWith('/Patient/')) {
        return { kind: 'json', body: { resourceType: 'Patient', id: p.slice('/Patient/'.length) } };
      }
      return { kind: 'json', body: searchset([]) };
    });
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cds-abandoned-'));
    service = await startService({ CDS_DATA_DIR: dataDir, CDS_AUDIT: 'on', CDS_FHIR_ALLOWLIST: fhir.origin });
  }, 180000);

  afterAll(async () => {
    service?.kill();
    await fhir.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('stops: no further fetch, nothing sent, logged and audited as abandoned', async () => {
    const body = JSON.stringify({ ...fixtureRequest(NONE), fhirServer: fhir.base, hookInstance: 'gone-1' });
    const socket = net.connect(service.port, '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write(
      `POST /cds-services/blinatumomab-order-sign HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
    );
    let answered = '';
    socket.on('data', (c: Buffer) => (answered += c.toString('utf8')));
    await coverageSeen;
    const asked = fhir.requests.length;
    socket.destroy();

    const line = await service.waitForLog((l) => l['msg'] === 'service call' && l['hookInstance'] === 'gone-1');
    expect(line).toMatchObject({ status: 499, abandoned: true });
    expect(line['notes']).toEqual(
      expect.arrayContaining(['the client closed the connection before the answer: the work stopped'])
    );
    expect(line['timings']).not.toHaveProperty('evaluate');
    // Long after the Coverage search would have answered, nothing else was asked of the FHIR server.
    await new Promise((r) => setTimeout(r, COVERAGE_DELAY_MS + 1000));
    expect(fhir.requests.slice(asked)).toEqual([]);
    expect(
      fhir.requests.filter((r) => !pathOf(r).startsWith('/Coverage') && !pathOf(r).startsWith('/Medication/'))
    ).toEqual([]);
    expect(answered).toBe('');

    const audit = fs
      .readdirSync(path.join(dataDir, 'audit'))
      .flatMap((f) => fs.readFileSync(path.join(dataDir, 'audit', f), 'utf8').split('\n'))
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((r) => r['hookInstance'] === 'gone-1');
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ abandoned: true, response: { status: 499 } });

    // The service goes on answering.
    const res = await fetch(`http://127.0.0.1:${service.port}/health`);
    expect(res.status).toBe(200);
  }, 60000);
});
