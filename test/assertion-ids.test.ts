// One coverage-assertion-id while nothing changes (contract section 5; issue 10 deliverable 3), over HTTP with the
// real app: the same order, Coverage, policy and version keep one id across calls, the three hooks and the per-policy
// and routed services while `covered` and `pa-needed` hold; a changed outcome gets a new id, and the old one never
// returns; order-dispatch sends nothing for an order carrying our current assertion, and our id for one carrying a
// stale or foreign one; two drafts with one order id get one assertion; the audit record names the policy, the ids
// and the decisions; a failing store gives fresh ids and a silent one a 503 at the deadline.
// (Restarts and CDS_WORKERS=2: test/assertion-ids-process.test.ts.)
import fs from 'node:fs';
import path from 'node:path';
import type { Bundle, Condition, MedicationRequest } from 'fhir/r4';
import request from 'supertest';
import { loadConfig } from '../src/config';
import { loadFixtureRequests } from '../src/dev/demo-fixtures';
import { asSigned, toOrderDispatch, toOrderSelect } from '../src/dev/hook-requests';
import { ERROR_SYSTEM } from '../src/errors';
import type { CdsResponse, HookRequest } from '../src/hooks/types';
import { createLogger } from '../src/log';
import { createServiceApp } from '../src/server/service';
import { createClusterStore } from '../src/store/cluster-store';
import { assertCardRules } from './card-rules';
import {
  BASE_URL,
  MMM,
  RECEIVED_AT,
  assessmentOf,
  buildServiceApp,
  codeOf,
  coverageCards,
  servicesOf,
  subs,
  systemActionInfo,
  type ServiceApp,
} from './helpers/service-app';

type Json = Record<string, unknown>;
const BASELINE = 'adult-relapsed-ph-neg-cycle1-stepup--full.json';
const HOOKS = ['order-sign', 'order-select', 'order-dispatch'] as const;
type Hook = (typeof HOOKS)[number];

const fixtures = new Map(loadFixtureRequests().map((f) => [f.name.file, f.body]));
let h: ServiceApp;

beforeAll(async () => {
  h = await buildServiceApp({ env: { CDS_AUDIT: 'true' } });
});

afterAll(async () => {
  await h.close();
});

function fixture(file: string): Json {
  const body = fixtures.get(file);
  if (!body) {
    throw new Error(`no fixture ${file}`);
  }
  return structuredClone(body);
}

function draftOf(body: Json, index = 0): MedicationRequest {
  const ctx = body.context as { draftOrders: Bundle };
  return ctx.draftOrders.entry?.[index]?.resource as MedicationRequest;
}

/** The order-sign request of `file` turned into `hook`'s (order-dispatch: the orders given, or the drafts signed). */
function asHook(sign: Json, hook: Hook, orders?: MedicationRequest[]): Json {
  switch (hook) {
    case 'order-sign':
      return structuredClone(sign);
    case 'order-select':
      return toOrderSelect(sign);
    case 'order-dispatch':
      return toOrderDispatch(sign, {
        placement: 'prefetch',
        ...(orders ? { orders: orders as unknown as Json[] } : {}),
      });
  }
}

/** What order-dispatch assesses (its dispatched orders as `draftOrders`), for the card rules. */
function assessed(body: Json, orders: MedicationRequest[]): HookRequest {
  return {
    ...(body as unknown as HookRequest),
    context: {
      ...(body.context as HookRequest['context']),
      draftOrders: { resourceType: 'Bundle', type: 'collection', entry: orders.map((resource) => ({ resource })) },
    },
  };
}

function serviceId(hook: Hook, routed: boolean): string {
  if (routed) {
    return `blinatumomab-${hook}`;
  }
  return hook === 'order-sign' ? MMM : `${MMM}-${hook}`;
}

async function call(service: string, body: Json, forRules?: HookRequest): Promise<CdsResponse> {
  const res = await request(h.app).post(`/cds-services/${service}`).send(body);
  expect({ status: res.status, body: res.status === 200 ? 'ok' : (res.body as unknown) }).toEqual({
    status: 200,
    body: 'ok',
  });
  assertCardRules(res.body as CdsResponse, forRules ?? (body as unknown as HookRequest));
  return res.body as CdsResponse;
}

function idOf(response: CdsResponse, index = 0): string {
  const id = subs(systemActionInfo(response, index), 'coverage-assertion-id')[0]?.valueString;
  if (!id) {
    throw new Error('no coverage-assertion-id');
  }
  return id;
}

/** The order a system action sends back (what the EHR stores and later dispatches), signed. */
function returnedOrder(response: CdsResponse, index = 0): MedicationRequest {
  return asSigned(response.systemActions?.[index]?.resource as unknown as Json) as unknown as MedicationRequest;
}

/** The baseline with its order given a new id, so that each test starts with no stored assertion. */
function baseline(orderId: string): Json {
  const body = fixture(BASELINE);
  const order = draftOf(body);
  order.id = orderId;
  return body;
}

/**
 * The diagnosis on file corrected to diffuse large B-cell lymphoma, with no B-cell precursor ALL diagnosis: policy
 * 000 D.i excludes it, and the outcome turns not-covered.
 */
function withDlbcl(body: Json): Json {
  const copy = structuredClone(body);
  const conditions = (copy.prefetch as Record<string, Bundle>).conditions as Bundle;
  const dlbcl: Condition = {
    resourceType: 'Condition',
    id: 'relapsed-dx-dlbcl',
    clinicalStatus: {
      coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' }],
    },
    verificationStatus: {
      coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-ver-status', code: 'confirmed' }],
    },
    category: [
      {
        coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-category', code: 'problem-list-item' }],
      },
    ],
    code: { coding: [{ system: 'http://hl7.org/fhir/sid/icd-10-cm', code: 'C83.38' }] },
    subject: { reference: 'Patient/relapsed-patient' },
    onsetDateTime: '2025-09-15',
    recordedDate: '2025-09-15',
  };
  conditions.entry = [{ resource: dlbcl, search: { mode: 'match' } }];
  conditions.total = 1;
  return copy;
}

/** No Observation on file (null: no data): the evidence the likelihood rests on is gone, `covered` stays. */
function withoutObservations(body: Json): Json {
  const copy = structuredClone(body);
  const prefetch = copy.prefetch as Record<string, unknown>;
  for (const key of Object.keys(prefetch).filter((k) => k.startsWith('observations'))) {
    prefetch[key] = null;
  }
  return copy;
}

describe('one coverage-assertion-id while nothing changes', () => {
  test('the same id across calls, the three hooks, and the per-policy and routed services', async () => {
    const sign = baseline('assert-same-everywhere');
    const order = draftOf(sign);
    const ids: Array<{ hook: Hook; routed: boolean; id: string }> = [];
    for (const routed of [false, true]) {
      for (const hook of HOOKS) {
        // order-dispatch: the order as signed, without our assertion, so that a system action is due.
        const body = asHook(sign, hook, hook === 'order-dispatch' ? [asSigned(order as never) as never] : undefined);
        const rules =
          hook === 'order-dispatch'
            ? assessed(body, [asSigned(order as never) as unknown as MedicationRequest])
            : undefined;
        const response = await call(serviceId(hook, routed), body, rules);
        expect(coverageCards(response).map((c) => assessmentOf(c)?.policy)).toEqual([expect.any(String)]);
        ids.push({ hook, routed, id: idOf(response) });
      }
    }
    const again = await call(MMM, sign);
    expect(new Set([...ids.map((i) => i.id), idOf(again)]).size).toBe(1);
    expect(ids[0]?.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  test('a changed outcome gets a new id, and going back gets another: an id is never restored', async () => {
    const sign = baseline('assert-outcome-changes');
    const first = await call(MMM, sign);
    expect(codeOf(systemActionInfo(first), 'covered')).toBe('covered');
    // A new diagnosis on file: excluded, not-covered.
    const excluded = await call(MMM, withDlbcl(sign));
    expect(codeOf(systemActionInfo(excluded), 'covered')).toBe('not-covered');
    const excludedAgain = await call(`blinatumomab-order-sign`, withDlbcl(sign));
    // Back to what it was.
    const back = await call(MMM, sign);
    expect(codeOf(systemActionInfo(back), 'covered')).toBe('covered');
    const ids = [idOf(first), idOf(excluded), idOf(excludedAgain), idOf(back)];
    expect(ids[1]).toBe(ids[2]);
    expect(new Set(ids).size).toBe(3);
  });

  test('a likelihood that changes within covered + auth-needed keeps the id (only covered and pa-needed count)', async () => {
    const full = baseline('assert-likelihood-moves');
    const a = await call(MMM, full);
    const b = await call(MMM, withoutObservations(full));
    const likelihoods = [a, b].map((r) => assessmentOf(coverageCards(r)[0]!)?.likelihood);
    expect(likelihoods[0]).not.toBe(likelihoods[1]);
    expect([a, b].map((r) => codeOf(systemActionInfo(r), 'pa-needed'))).toEqual(['auth-needed', 'auth-needed']);
    expect(idOf(b)).toBe(idOf(a));
  });

  test('each policy keeps its own id for the same order and Coverage', async () => {
    const sign = baseline('assert-per-policy');
    const mmm = await call(MMM, sign);
    const single = await call('blinatumomab-single-agent', sign);
    const mmmAgain = await call(MMM, sign);
    expect(idOf(single)).not.toBe(idOf(mmm));
    expect(idOf(mmmAgain)).toBe(idOf(mmm));
  });
});

describe('order-dispatch and the assertion the order carries', () => {
  test('the order as order-sign returned it gets no system action and no cards beyond corrections', async () => {
    const sign = baseline('assert-dispatch-unchanged');
    const signed = await call(MMM, sign);
    const carried = returnedOrder(signed);
    for (const routed of [false, true]) {
      const body = asHook(sign, 'order-dispatch', [carried]);
      const response = await call(serviceId('order-dispatch', routed), body, assessed(body, [carried]));
      expect(response.systemActions).toBeUndefined();
      expect(coverageCards(response)).toEqual([]);
    }
  });

  test('an assertion with the same outcome but another id is not ours: our kept id is sent', async () => {
    const sign = baseline('assert-dispatch-foreign');
    const signed = await call(MMM, sign);
    const carried = returnedOrder(signed);
    const info = systemActionInfo({
      cards: [],
      systemActions: [{ type: 'update', description: 'carried', resource: carried }],
    });
    const idExt = subs(info, 'coverage-assertion-id')[0];
    if (!idExt) {
      throw new Error('no id');
    }
    idExt.valueString = 'not-one-of-ours';
    const body = asHook(sign, 'order-dispatch', [carried]);
    const response = await call(`${MMM}-order-dispatch`, body, assessed(body, [carried]));
    expect(idOf(response)).toBe(idOf(signed));
    // Its own assertion for that Coverage replaced: one coverage-information, ours.
    const resource = response.systemActions?.[0]?.resource as MedicationRequest;
    expect(JSON.stringify(resource)).not.toContain('not-one-of-ours');
  });

  test('an order signed before the outcome changed gets the new id on dispatch', async () => {
    const sign = baseline('assert-dispatch-changed');
    const signed = await call(MMM, sign);
    const carried = returnedOrder(signed);
    const body = withDlbcl(asHook(sign, 'order-dispatch', [carried]));
    const response = await call(`${MMM}-order-dispatch`, body, assessed(body, [carried]));
    expect(codeOf(systemActionInfo(response), 'covered')).toBe('not-covered');
    expect(idOf(response)).not.toBe(idOf(signed));
    // And the new id is the one kept: order-sign with the same data now answers it.
    expect(idOf(await call(MMM, withDlbcl(sign)))).toBe(idOf(response));
  });
});

describe('two draft orders with one order id in a call', () => {
  test('one system action, for the first by position, with the id kept for that order', async () => {
    const sign = baseline('assert-twice');
    const ctx = sign.context as { draftOrders: Bundle };
    const order = draftOf(sign);
    ctx.draftOrders.entry = [{ resource: order }, { resource: structuredClone(order) }];
    const first = await request(h.app).post(`/cds-services/${MMM}`).send(sign);
    expect(first.status).toBe(200);
    const body = first.body as CdsResponse;
    expect(body.systemActions).toHaveLength(1);
    const alone = baseline('assert-twice');
    expect(idOf(await call(MMM, alone))).toBe(idOf(body));
    const again = (await request(h.app).post(`/cds-services/${MMM}`).send(sign)).body as CdsResponse;
    expect(idOf(again)).toBe(idOf(body));
  });
});

describe('the audit record', () => {
  test('names the policy, its version, the ids sent and one decision per order under assessment', async () => {
    const sign = baseline('assert-audited');
    sign.hookInstance = 'b7a3c1e0-audit-assertion';
    const response = await call('blinatumomab-order-sign', sign);
    // The record is appended as the response goes out: wait for it (a condition, not a delay).
    let records: Json[] = [];
    for (let waited = 0; records.length === 0 && waited < 10000; waited += 20) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      records = auditRecords().filter((r) => r.hookInstance === 'b7a3c1e0-audit-assertion');
    }
    expect(records).toHaveLength(1);
    const policy = h.service(MMM);
    expect(records[0]).toMatchObject({
      serviceId: 'blinatumomab-order-sign',
      policyId: MMM,
      policyVersion: policy.version,
      assertionIds: [idOf(response)],
      decisions: [
        {
          orderId: 'assert-audited',
          likelihood: assessmentOf(coverageCards(response)[0]!)?.likelihood,
          pathway: assessmentOf(coverageCards(response)[0]!)?.pathway,
        },
      ],
    });
  });

  function auditRecords(): Json[] {
    const dir = path.join(h.dataDir, 'audit');
    if (!fs.existsSync(dir)) {
      return [];
    }
    return fs
      .readdirSync(dir)
      .flatMap((f) => fs.readFileSync(path.join(dir, f), 'utf8').split('\n'))
      .filter((l) => l.trim() !== '')
      .flatMap((l) => {
        try {
          return [JSON.parse(l) as Json];
        } catch {
          return []; // a line still being written
        }
      });
  }
});

describe('when the store fails or is silent', () => {
  test('a store that cannot keep the id: 200 with a fresh id each call; dispatch trusts the outcome carried', async () => {
    const broken = await buildServiceApp();
    try {
      // The journal's folder replaced by a file: no id can be written.
      fs.rmSync(path.join(broken.dataDir, 'assertions'), { recursive: true });
      fs.writeFileSync(path.join(broken.dataDir, 'assertions'), '');
      const sign = baseline('assert-broken-store');
      const answers = [];
      for (let i = 0; i < 2; i += 1) {
        const res = await request(broken.app).post(`/cds-services/${MMM}`).send(sign);
        expect(res.status).toBe(200);
        answers.push(idOf(res.body as CdsResponse));
      }
      expect(new Set(answers).size).toBe(2);
      // order-dispatch of the order as returned: with no kept id to compare, the outcome it carries decides, and it
      // is unchanged, so nothing is sent again.
      const signed = (await request(broken.app).post(`/cds-services/${MMM}`).send(sign)).body as CdsResponse;
      const carried = returnedOrder(signed);
      const dispatch = asHook(sign, 'order-dispatch', [carried]);
      const res = await request(broken.app).post(`/cds-services/${MMM}-order-dispatch`).send(dispatch);
      expect(res.status).toBe(200);
      expect((res.body as CdsResponse).systemActions).toBeUndefined();
    } finally {
      await broken.close();
    }
  });

  test('a store silent at the deadline: 503 deadline-exceeded, not a hang', async () => {
    // A cluster worker whose primary never answers.
    const silentPrimary = { send: (): boolean => true, on: (): void => undefined, off: (): void => undefined };
    const store = createClusterStore(silentPrimary, { replyTimeoutMs: 60000 });
    const config = loadConfig({
      NODE_ENV: 'test',
      CDS_DATA_DIR: h.dataDir,
      CDS_PUBLIC_BASE_URL: BASE_URL,
      CDS_DEADLINE_MS: '1500',
    });
    const app = createServiceApp(config, createLogger({ level: 'silent' }), store, servicesOf(), () => RECEIVED_AT);
    const started = Date.now();
    const res = await request(app).post(`/cds-services/${MMM}`).send(baseline('assert-silent-store'));
    const elapsed = Date.now() - started;
    expect(res.status).toBe(503);
    const coding = (res.body as { issue: Array<{ details: { coding: Array<{ system: string; code: string }> } }> })
      .issue[0]?.details.coding[0];
    expect(coding).toMatchObject({ system: ERROR_SYSTEM, code: 'deadline-exceeded' });
    expect(elapsed).toBeLessThan(1500 + 500);
  });
});
