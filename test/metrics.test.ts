// GET /metrics (contract section 1, "Metrics"; issue 11): the real application, scraped after known calls. Every
// count is checked against the calls made: hook calls by service, hook and status with the latency histogram,
// decisions by likelihood (and the deciding policy, for the routed service), FHIR requests by outcome with their
// histogram, feedback calls, the 5 s counters and ratio; and nothing a client sent appears in it beyond a served
// service id. CDS_METRICS=false makes it a 404. Processes and workers: test/metrics-process.test.ts.
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import request from 'supertest';
import { ERROR_SYSTEM } from '../src/errors';
import type { Bundle } from 'fhir/r4';
import type { CdsResponse, HookRequest } from '../src/hooks/types';
import { METRIC } from '../src/metrics/metrics';
import { parseExposition, samplesOf, sumOf, valueOf, type Exposition } from './helpers/prometheus';
import { MMM, SINGLE_AGENT, buildServiceApp, type ServiceApp } from './helpers/service-app';

const REQUESTS = path.resolve(__dirname, '..', 'fixtures', 'fhir', 'requests');
const LIKELY = 'adult-relapsed-ph-neg-cycle1-stepup--full.json';
const UNLIKELY = 'adult-mrd-below-threshold--full.json';
const NOT_COVERED = 'adult-dlbcl--full.json';
const ROUTED = 'blinatumomab-order-sign';
const NOBODY = 'blinatumomab-nobody-serves-this';

function fixture(file: string): HookRequest {
  return JSON.parse(fs.readFileSync(path.join(REQUESTS, file), 'utf8')) as HookRequest;
}

/** A FHIR server answering searches under /ok with `bundle`, and everything under /fail with HTTP 500. */
async function startFhir(bundle: Bundle): Promise<{ base: string; close: () => Promise<void> }> {
  const server = http.createServer((req, res) => {
    if (req.url?.startsWith('/ok/')) {
      res.writeHead(200, { 'content-type': 'application/fhir+json' });
      res.end(JSON.stringify(bundle));
    } else {
      res.writeHead(500);
      res.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

async function scrape(h: ServiceApp): Promise<{ text: string; e: Exposition }> {
  const res = await request(h.app).get('/metrics');
  expect(res.status).toBe(200);
  expect(res.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
  expect(res.headers['cache-control']).toBe('no-store');
  return { text: res.text, e: parseExposition(res.text) };
}

describe('GET /metrics after known calls', () => {
  let h: ServiceApp;
  let fhir: { base: string; close: () => Promise<void> };
  let before: Exposition;
  let text: string;
  let e: Exposition;
  const sent: HookRequest[] = [];

  beforeAll(async () => {
    h = await buildServiceApp();
    before = (await scrape(h)).e;
    const call = async (id: string, body: HookRequest, status: number): Promise<CdsResponse> => {
      sent.push(body);
      const res = await request(h.app).post(`/cds-services/${id}`).send(body);
      expect({ id, status: res.status }).toEqual({ id, status });
      return res.body as CdsResponse;
    };
    const likely = await call(MMM, fixture(LIKELY), 200);
    await call(MMM, fixture(LIKELY), 200);
    await call(MMM, fixture(NOT_COVERED), 200);
    await call(SINGLE_AGENT, fixture(UNLIKELY), 200);
    await call(ROUTED, fixture(LIKELY), 200);
    // One key fetched from the EHR's FHIR server (a 200), and one the server fails (HTTP 500: 412).
    const full = fixture(LIKELY);
    fhir = await startFhir(full.prefetch?.['conditions'] as Bundle);
    const fetched = fixture(LIKELY);
    delete fetched.prefetch?.['conditions'];
    fetched.fhirServer = `${fhir.base}/ok`;
    await call(MMM, fetched, 200);
    const failing = fixture(LIKELY);
    delete failing.prefetch?.['conditions'];
    failing.fhirServer = `${fhir.base}/fail`;
    await call(MMM, failing, 412);
    // Errors: a body that is not JSON (400), a service nobody serves (404, whatever its id).
    const bad = await request(h.app)
      .post(`/cds-services/${MMM}`)
      .set('content-type', 'application/json')
      .send('{"hook": ');
    expect(bad.status).toBe(400);
    const unknown = await request(h.app).post(`/cds-services/${NOBODY}`).send(fixture(LIKELY));
    expect(unknown.status).toBe(404);
    // Feedback on a card the service issued.
    const feedback = await request(h.app)
      .post(`/cds-services/${MMM}/feedback`)
      .send({
        feedback: [
          {
            card: likely.cards[0]?.uuid,
            outcome: 'overridden',
            outcomeTimestamp: '2026-11-22T15:01:00Z',
            overrideReason: { userComment: 'metrics test' },
          },
        ],
      });
    expect(feedback.status).toBe(200);
    ({ text, e } = await scrape(h));
  });

  afterAll(async () => {
    await fhir?.close();
    await h?.close();
  });

  it('before any call: every metric declared, no sample, no ratio', () => {
    for (const name of [METRIC.calls, METRIC.callsWithinTarget, METRIC.decisions, METRIC.fhirRequests]) {
      expect(before.types.get(name)).toBe('counter');
      expect(samplesOf(before, name)).toEqual([]);
    }
    expect(before.types.get(METRIC.callDuration)).toBe('histogram');
    expect(before.types.get(METRIC.fhirDuration)).toBe('histogram');
    expect(before.types.has(METRIC.withinTargetRatio)).toBe(false);
  });

  it('counts hook calls by service id, hook and status', () => {
    const calls = (service: string, status: string): number =>
      valueOf(e, METRIC.calls, { service, hook: 'order-sign', status });
    expect(calls(MMM, '200')).toBe(4);
    expect(calls(MMM, '400')).toBe(1);
    expect(calls(MMM, '412')).toBe(1);
    expect(calls(SINGLE_AGENT, '200')).toBe(1);
    expect(calls(ROUTED, '200')).toBe(1);
    // The id nobody serves is not a label value: `unknown`, for the service and the hook.
    expect(valueOf(e, METRIC.calls, { service: 'unknown', hook: 'unknown', status: '404' })).toBe(1);
    expect(sumOf(e, METRIC.calls)).toBe(9);
    expect(samplesOf(e, METRIC.calls).every((s) => Object.keys(s.labels).sort().join() === 'hook,service,status')).toBe(
      true
    );
  });

  it('keeps the latency histogram beside them, with 5 s as a bucket bound', () => {
    for (const s of samplesOf(e, METRIC.calls)) {
      const labels = s.labels;
      expect(valueOf(e, `${METRIC.callDuration}_count`, labels)).toBe(s.value);
      expect(valueOf(e, `${METRIC.callDuration}_bucket`, { ...labels, le: '+Inf' })).toBe(s.value);
      expect(valueOf(e, `${METRIC.callDuration}_sum`, labels)).toBeGreaterThan(0);
    }
    const bounds = samplesOf(e, `${METRIC.callDuration}_bucket`, { service: MMM, status: '200' }).map(
      (s) => s.labels['le']
    );
    expect(bounds).toContain('5');
  });

  it("keeps CRD's measure: calls within 5 s (counters, the histogram's 5 s bucket) and their share", () => {
    let within = 0;
    for (const s of samplesOf(e, METRIC.callsWithinTarget)) {
      const { service, hook } = s.labels as { service: string; hook: string };
      expect(s.value).toBe(sumOf(e, `${METRIC.callDuration}_bucket`, { service, hook, le: '5' }));
      within += s.value;
    }
    expect(samplesOf(e, METRIC.callsWithinTarget)).toHaveLength(4);
    expect(e.types.get(METRIC.withinTargetRatio)).toBe('gauge');
    expect(samplesOf(e, METRIC.withinTargetRatio)).toEqual([
      { name: METRIC.withinTargetRatio, labels: {}, value: within / 9 },
    ]);
  });

  it('counts the decisions of 200 answers by likelihood, with the service called and the policy that decided', () => {
    expect(valueOf(e, METRIC.decisions, { service: MMM, policy: MMM, likelihood: 'likely' })).toBe(3);
    expect(valueOf(e, METRIC.decisions, { service: MMM, policy: MMM, likelihood: 'not-covered' })).toBe(1);
    expect(valueOf(e, METRIC.decisions, { service: SINGLE_AGENT, policy: SINGLE_AGENT, likelihood: 'unlikely' })).toBe(
      1
    );
    // The routed service answered as policy 000 (the fixture's payer is mmm-healthcare).
    expect(valueOf(e, METRIC.decisions, { service: ROUTED, policy: MMM, likelihood: 'likely' })).toBe(1);
    expect(sumOf(e, METRIC.decisions)).toBe(6);
  });

  it('counts FHIR requests by outcome, with their latency histogram', () => {
    expect(valueOf(e, METRIC.fhirRequests, { outcome: 'ok' })).toBe(1);
    expect(valueOf(e, METRIC.fhirRequests, { outcome: 'http-status' })).toBe(1);
    expect(sumOf(e, METRIC.fhirRequests)).toBe(2);
    for (const outcome of ['ok', 'http-status']) {
      expect(valueOf(e, `${METRIC.fhirDuration}_count`, { outcome })).toBe(1);
      expect(valueOf(e, `${METRIC.fhirDuration}_bucket`, { outcome, le: '+Inf' })).toBe(1);
    }
  });

  it('counts feedback calls apart from hook calls', () => {
    expect(samplesOf(e, METRIC.feedbackCalls)).toEqual([
      { name: METRIC.feedbackCalls, labels: { service: MMM, status: '200' }, value: 1 },
    ]);
  });

  it('carries nothing a client sent but served service ids: no patient, token, hookInstance, URL or unknown id', () => {
    const values = new Set(e.samples.flatMap((s) => Object.values(s.labels)));
    const allowed = new Set([
      ...h.services.flatMap((s) => [s.id]),
      MMM,
      SINGLE_AGENT,
      ROUTED,
      'order-sign',
      'unknown',
      ...['200', '400', '404', '412'],
      ...['likely', 'unlikely', 'not-covered', 'ok', 'http-status'],
    ]);
    const le = new Set(samplesOf(e, `${METRIC.callDuration}_bucket`).map((s) => s.labels['le']));
    const fhirLe = new Set(samplesOf(e, `${METRIC.fhirDuration}_bucket`).map((s) => s.labels['le']));
    expect([...values].filter((v) => !allowed.has(v) && !le.has(v) && !fhirLe.has(v))).toEqual([]);
    for (const body of sent) {
      expect(text).not.toContain(body.context.patientId);
      expect(text).not.toContain(body.hookInstance);
      if (body.fhirAuthorization?.access_token) {
        expect(text).not.toContain(body.fhirAuthorization.access_token);
      }
    }
    expect(text).not.toContain(NOBODY);
    expect(text).not.toContain('127.0.0.1');
  });

  it('needs no JWT, and answers only GET', async () => {
    const post = await request(h.app).post('/metrics').send({});
    expect(post.status).toBe(405);
    expect(post.headers['allow']).toBe('GET, OPTIONS');
  });
});

describe('CDS_METRICS=false', () => {
  let h: ServiceApp;

  beforeAll(async () => {
    h = await buildServiceApp({ env: { CDS_METRICS: 'false' } });
  });

  afterAll(async () => {
    await h?.close();
  });

  it('makes GET /metrics a 404 OperationOutcome, and the service still answers', async () => {
    const res = await request(h.app).get('/metrics');
    expect(res.status).toBe(404);
    expect(res.body.resourceType).toBe('OperationOutcome');
    expect(res.body.issue[0].details.coding[0]).toEqual({ system: ERROR_SYSTEM, code: 'not-found' });
    const call = await request(h.app).post(`/cds-services/${MMM}`).send(fixture(LIKELY));
    expect(call.status).toBe(200);
  });
});
