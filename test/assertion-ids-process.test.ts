// One coverage-assertion-id across worker processes and restarts (contract sections 1 "Store" and 5; issue 10
// deliverable 3), with the real built service: CDS_WORKERS=2 gives one id whichever worker answers; after a restart on
// the same CDS_DATA_DIR the id is still the same, and order-dispatch of the order as returned sends nothing; a store
// that cannot write answers 200 with a fresh id and says so in the call's log line.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { MedicationRequest } from 'fhir/r4';
import { asSigned, toOrderDispatch } from '../src/dev/hook-requests';
import type { CdsResponse } from '../src/hooks/types';
import { send, startService, type ServiceProcess } from './helpers/service-process';

type Json = Record<string, unknown>;
const FIXTURE = path.resolve(
  __dirname,
  '..',
  'fixtures',
  'fhir',
  'requests',
  'adult-relapsed-ph-neg-cycle1-stepup--full.json'
);
const COVERAGE_INFORMATION_URL = 'http://hl7.org/fhir/us/davinci-crd/StructureDefinition/ext-coverage-information';

let dataDir: string;
let service: ServiceProcess | undefined;

function orderSign(hookInstance: string): Json {
  return { ...(JSON.parse(fs.readFileSync(FIXTURE, 'utf8')) as Json), hookInstance };
}

function assertionIdOf(response: CdsResponse): string {
  const resource = response.systemActions?.[0]?.resource as MedicationRequest | undefined;
  const info = (resource?.extension ?? []).filter((e) => e.url === COVERAGE_INFORMATION_URL).pop();
  const id = info?.extension?.find((e) => e.url === 'coverage-assertion-id')?.valueString;
  if (!id) {
    throw new Error(`no coverage-assertion-id in ${JSON.stringify(response).slice(0, 300)}`);
  }
  return id;
}

async function call(servicePath: string, body: Json): Promise<CdsResponse> {
  if (!service) {
    throw new Error('no service');
  }
  const answer = await send(service.port, 'POST', servicePath, body);
  expect({ status: answer.status, body: answer.status === 200 ? 'ok' : answer.body }).toEqual({
    status: 200,
    body: 'ok',
  });
  return JSON.parse(answer.body) as CdsResponse;
}

async function start(workers: number): Promise<void> {
  service = await startService({ NODE_ENV: 'development', CDS_WORKERS: String(workers), CDS_DATA_DIR: dataDir });
}

async function stop(): Promise<void> {
  if (service) {
    service.child.kill('SIGTERM');
    await service.exited;
    service = undefined;
  }
}

beforeAll(() => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cds-assertion-process-'));
});

afterAll(async () => {
  service?.kill();
  await service?.exited;
  fs.rmSync(dataDir, { recursive: true, force: true });
});

describe('the coverage-assertion-id across processes', () => {
  let kept: string;
  let returned: MedicationRequest;

  it('is one id whichever of two workers answers, on the per-policy and routed services', async () => {
    await start(2);
    const ids: string[] = [];
    for (let i = 0; i < 10; i += 1) {
      const servicePath = i % 2 ? '/cds-services/blinatumomab-order-sign' : '/cds-services/blinatumomab-mmm';
      const response = await call(servicePath, orderSign(`3f8e6a52-0000-4000-8000-00000000000${i}`));
      ids.push(assertionIdOf(response));
      returned = response.systemActions?.[0]?.resource as MedicationRequest;
      // Let this answer's log line be written before the next call can be answered by the other worker.
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(new Set(ids).size).toBe(1);
    kept = ids[0] as string;
    const pids = service?.logs.filter((l) => l['msg'] === 'service call').map((l) => l['pid']);
    // New connections are shared between the workers: both answered.
    expect(new Set(pids).size).toBe(2);
  }, 180000);

  it('is the same id after a restart on the same data dir, and order-dispatch of the returned order sends nothing', async () => {
    await stop();
    await start(1);
    expect(assertionIdOf(await call('/cds-services/blinatumomab-mmm', orderSign('restart-1')))).toBe(kept);
    const dispatch = toOrderDispatch(orderSign('restart-2'), {
      placement: 'prefetch',
      orders: [asSigned(returned as unknown as Json)],
    });
    const response = await call('/cds-services/blinatumomab-order-dispatch', dispatch);
    expect(response.systemActions).toBeUndefined();
    expect(
      fs.readdirSync(path.join(dataDir, 'assertions')).every((name) => /^\d{4}-\d{2}-\d{2}\.jsonl$/.test(name))
    ).toBe(true);
  }, 180000);

  it('answers with a fresh id, and logs why, when the store cannot keep it', async () => {
    // The journal's folder replaced by a file: no id can be written.
    fs.rmSync(path.join(dataDir, 'assertions'), { recursive: true });
    fs.writeFileSync(path.join(dataDir, 'assertions'), '');
    const body = orderSign('broken-store-1');
    const order = ((body.context as Json).draftOrders as { entry: Array<{ resource: Json }> }).entry[0]!.resource;
    order.id = 'never-kept';
    const first = assertionIdOf(await call('/cds-services/blinatumomab-mmm', body));
    const second = assertionIdOf(await call('/cds-services/blinatumomab-mmm', { ...body, hookInstance: 'broken-2' }));
    expect(first).not.toBe(second);
    const line = await service!.waitForLog((l) => l['msg'] === 'service call' && l['hookInstance'] === 'broken-2');
    expect(line['errors']).toEqual([
      expect.objectContaining({ where: 'store', message: expect.stringContaining('fresh ids sent') }),
    ]);
  }, 60000);
});
