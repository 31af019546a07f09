// GET /metrics of the real built service (contract section 1, "Metrics"; issue 11): one process alone, and a
// cluster of two workers, where a scrape reaching either worker answers for the whole cluster (the primary sums every
// worker's registry and its own process metrics). The known calls are spread over both workers (new connections are
// shared between them): every scrape must count all of them. Process metrics are there in both modes;
// CDS_METRICS=false turns the endpoint off (404) in a cluster too.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { METRIC } from '../src/metrics/metrics';
import { parseExposition, valueOf, type Exposition } from './helpers/prometheus';
import { send, startService, type ServiceProcess } from './helpers/service-process';

const SERVICE = 'blinatumomab-mmm';
const FIXTURE = path.resolve(
  __dirname,
  '..',
  'fixtures',
  'fhir',
  'requests',
  'adult-relapsed-ph-neg-cycle1-stepup--full.json'
);
const CALLS = 12;

const PROCESS_METRICS = [
  'process_cpu_user_seconds_total',
  'process_resident_memory_bytes',
  'nodejs_heap_size_used_bytes',
  'nodejs_eventloop_lag_seconds',
];

function body(i: number): Record<string, unknown> {
  const b = JSON.parse(fs.readFileSync(FIXTURE, 'utf8')) as Record<string, unknown>;
  return { ...b, hookInstance: `metrics-process-${i}` };
}

async function scrape(service: ServiceProcess): Promise<Exposition> {
  const res = await send(service.port, 'GET', '/metrics');
  expect(res.status).toBe(200);
  expect(res.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
  return parseExposition(res.body);
}

describe.each([
  ['one process (CDS_WORKERS=1)', 1],
  ['two workers (CDS_WORKERS=2)', 2],
])('GET /metrics of %s', (_title, workers) => {
  let service: ServiceProcess;
  let dataDir: string;

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cds-metrics-'));
    service = await startService({ CDS_WORKERS: String(workers), CDS_DATA_DIR: dataDir });
    for (let i = 0; i < CALLS; i += 1) {
      const res = await send(service.port, 'POST', `/cds-services/${SERVICE}`, body(i));
      expect(res.status).toBe(200);
    }
    const missing = await send(service.port, 'POST', '/cds-services/no-such-service', body(99));
    expect(missing.status).toBe(404);
  }, 180000);

  afterAll(() => {
    service?.kill();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('the calls were served by every worker', () => {
    const pids = new Set(service.logs.filter((l) => l['msg'] === 'service call').map((l) => l['pid']));
    expect(pids.size).toBe(workers);
  });

  it('counts every call in every scrape, whichever process answers it', async () => {
    for (let scrapeNo = 0; scrapeNo < 4; scrapeNo += 1) {
      const e = await scrape(service);
      expect(valueOf(e, METRIC.calls, { service: SERVICE, hook: 'order-sign', status: '200' })).toBe(CALLS);
      expect(valueOf(e, `${METRIC.callDuration}_count`, { service: SERVICE, hook: 'order-sign', status: '200' })).toBe(
        CALLS
      );
      expect(valueOf(e, METRIC.calls, { service: 'unknown', hook: 'unknown', status: '404' })).toBe(1);
      expect(valueOf(e, METRIC.decisions, { service: SERVICE, policy: SERVICE, likelihood: 'likely' })).toBe(CALLS);
      const within = valueOf(e, METRIC.callsWithinTarget, { service: SERVICE, hook: 'order-sign' });
      const withinUnknown = valueOf(e, METRIC.callsWithinTarget, { service: 'unknown', hook: 'unknown' });
      expect(valueOf(e, METRIC.withinTargetRatio)).toBeCloseTo((within + withinUnknown) / (CALLS + 1), 10);
    }
  });

  it('has the process metrics (summed over the primary and its workers in a cluster)', async () => {
    const e = await scrape(service);
    for (const name of PROCESS_METRICS) {
      expect({ name, present: e.samples.some((s) => s.name === name) }).toEqual({ name, present: true });
    }
    // One start time is not a sum: prom-client leaves it out of an aggregate.
    expect(e.samples.some((s) => s.name === 'process_start_time_seconds')).toBe(workers === 1);
    expect(valueOf(e, 'process_resident_memory_bytes')).toBeGreaterThan(0);
  });
});

describe('CDS_METRICS=false with two workers', () => {
  let service: ServiceProcess;
  let dataDir: string;

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cds-metrics-off-'));
    service = await startService({ CDS_WORKERS: '2', CDS_DATA_DIR: dataDir, CDS_METRICS: 'false' });
  }, 180000);

  afterAll(() => {
    service?.kill();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('answers 404 not-found', async () => {
    const res = await send(service.port, 'GET', '/metrics');
    expect(res.status).toBe(404);
    expect(JSON.parse(res.body)).toMatchObject({ resourceType: 'OperationOutcome' });
    expect(res.body).toContain('"not-found"');
  });
});
