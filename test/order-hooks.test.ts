// The rules of order-select, order-dispatch and the routed services that the fixture stories alone do not reach
// (contract sections 1 and 3), over HTTP with the real app: required context per hook and its 400s; which orders
// order-select assesses and which Medications it reads; how order-dispatch reads the dispatched orders (prefetch,
// Bundle entry, one read each, 412 order-unavailable); how the routed services read the payer (both forms, the first
// handled active Coverage, another patient's Coverage never used); and the status order of section 3.
import type { Bundle, Coverage, FhirResource, MedicationRequest, Organization } from 'fhir/r4';
import request from 'supertest';
import { loadFixtureRequests } from '../src/dev/demo-fixtures';
import { asSigned, toOrderDispatch, toOrderSelect } from '../src/dev/hook-requests';
import { ERROR_SYSTEM } from '../src/errors';
import type { CdsResponse, HookRequest } from '../src/hooks/types';
import { assertCardRules } from './card-rules';
import { pathOf, startScriptedServer, type ScriptedServer } from './helpers/fhir-servers';
import {
  MMM,
  SINGLE_AGENT,
  assessmentOf,
  buildServiceApp,
  coverageCards,
  coverageInformations,
  startFhirServerWith,
  type ServiceApp,
} from './helpers/service-app';

type Json = Record<string, unknown>;
const PAYER_SYSTEM = 'http://example.org/fhir/sid/payer-id';
const BASELINE = 'adult-relapsed-ph-neg-cycle1-stepup--full.json';
const BASELINE_NONE = 'adult-relapsed-ph-neg-cycle1-stepup--none.json';
const TWO_ORDERS = 'adult-relapsed--two-orders--full.json';
const DRAFT = 'relapsed-blina-draft';

const fixtures = new Map(loadFixtureRequests().map((f) => [f.name.file, f.body]));
let h: ServiceApp;

beforeAll(async () => {
  h = await buildServiceApp();
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

function contextOf(body: Json): Json {
  return body.context as Json;
}

function prefetchOf(body: Json): Record<string, FhirResource> {
  return body.prefetch as Record<string, FhirResource>;
}

function draftOf(body: Json, index = 0): MedicationRequest {
  return ((contextOf(body).draftOrders as Bundle).entry?.[index]?.resource ?? {}) as MedicationRequest;
}

async function call(service: string, body: Json): Promise<request.Response> {
  return request(h.app).post(`/cds-services/${service}`).send(body);
}

async function ok(service: string, body: Json, assessed?: HookRequest): Promise<CdsResponse> {
  const res = await call(service, body);
  expect({ status: res.status, body: res.status === 200 ? 'ok' : (res.body as unknown) }).toEqual({
    status: 200,
    body: 'ok',
  });
  assertCardRules(res.body as CdsResponse, assessed ?? (body as unknown as HookRequest));
  return res.body as CdsResponse;
}

function issues(res: request.Response): Array<{ status: number; code: string; expression?: string[] }> {
  expect(res.body.resourceType).toBe('OperationOutcome');
  return (res.body.issue as Json[]).map((i) => {
    const coding = (i.details as { coding: Array<{ system: string; code: string }> }).coding[0];
    expect(coding?.system).toBe(ERROR_SYSTEM);
    return {
      status: res.status,
      code: coding?.code ?? '',
      ...(i.expression !== undefined ? { expression: i.expression as string[] } : {}),
    };
  });
}

/** The request as order-dispatch assesses it (its dispatched orders as `draftOrders`), for the card rules. */
function assessedDispatch(body: Json, orders: MedicationRequest[]): HookRequest {
  return {
    ...(body as unknown as HookRequest),
    context: {
      ...(contextOf(body) as unknown as HookRequest['context']),
      draftOrders: { resourceType: 'Bundle', type: 'collection', entry: orders.map((resource) => ({ resource })) },
    },
  };
}

function withoutServer(body: Json): Json {
  const copy = structuredClone(body);
  delete copy.fhirServer;
  delete copy.fhirAuthorization;
  return copy;
}

/** A coverage searchset with these Coverages (and included resources), for the baseline patient. */
function coverageSearch(coverages: Coverage[], included: FhirResource[] = []): Bundle {
  return {
    resourceType: 'Bundle',
    type: 'searchset',
    total: coverages.length,
    entry: [
      ...coverages.map((resource) => ({ resource, search: { mode: 'match' as const } })),
      ...included.map((resource) => ({ resource, search: { mode: 'include' as const } })),
    ],
  };
}

function coverage(id: string, payor: Coverage['payor'], extra: Partial<Coverage> = {}): Coverage {
  return {
    resourceType: 'Coverage',
    id,
    status: 'active',
    beneficiary: { reference: 'Patient/relapsed-patient' },
    payor,
    ...extra,
  };
}

function payerId(value: string): { system: string; value: string } {
  return { system: PAYER_SYSTEM, value };
}

function assertedCoverage(response: CdsResponse): string | undefined {
  const info = coverageInformations(response.systemActions?.[0]?.resource as MedicationRequest).at(-1);
  return info?.extension?.find((e) => e.url === 'coverage')?.valueReference?.reference;
}

describe('required context per hook (contract section 3)', () => {
  const select = (): Json => toOrderSelect(fixture(BASELINE));
  const dispatch = (): Json => toOrderDispatch(fixture(BASELINE), { placement: 'prefetch' });

  test.each([
    [
      'order-select without selections',
      `${MMM}-order-select`,
      (b: Json) => delete contextOf(b).selections,
      'context.selections',
    ],
    [
      'selections not an array',
      `${MMM}-order-select`,
      (b: Json) => (contextOf(b).selections = 'MedicationRequest/x'),
      'context.selections',
    ],
    [
      'selections holding a number',
      `${MMM}-order-select`,
      (b: Json) => (contextOf(b).selections = ['MedicationRequest/x', 7]),
      'context.selections',
    ],
    [
      'order-select without userId',
      'blinatumomab-order-select',
      (b: Json) => delete contextOf(b).userId,
      'context.userId',
    ],
    [
      'order-select without draftOrders',
      `${SINGLE_AGENT}-order-select`,
      (b: Json) => delete contextOf(b).draftOrders,
      'context.draftOrders',
    ],
  ])('%s: 400 invalid-request naming it', async (_name, service, change, expression) => {
    const body = select();
    change(body);
    expect(issues(await call(service, body))).toEqual([
      { status: 400, code: 'invalid-request', expression: [expression] },
    ]);
  });

  test.each([
    [
      'order-dispatch without dispatchedOrders',
      (b: Json) => delete contextOf(b).dispatchedOrders,
      'context.dispatchedOrders',
    ],
    [
      'dispatchedOrders an object',
      (b: Json) => (contextOf(b).dispatchedOrders = { reference: 'MedicationRequest/x' }),
      'context.dispatchedOrders',
    ],
    [
      'dispatchedOrders holding null',
      (b: Json) => (contextOf(b).dispatchedOrders = [null]),
      'context.dispatchedOrders',
    ],
    ['order-dispatch without performer', (b: Json) => delete contextOf(b).performer, 'context.performer'],
    ['performer empty', (b: Json) => (contextOf(b).performer = ''), 'context.performer'],
    ['order-dispatch without patientId', (b: Json) => delete contextOf(b).patientId, 'context.patientId'],
  ])('%s: 400 invalid-request naming it', async (_name, change, expression) => {
    for (const service of [`${MMM}-order-dispatch`, 'blinatumomab-order-dispatch']) {
      const body = dispatch();
      change(body);
      expect(issues(await call(service, body))).toEqual([
        { status: 400, code: 'invalid-request', expression: [expression] },
      ]);
    }
  });

  test('order-dispatch needs neither userId nor draftOrders (an ill-typed draftOrders is ignored)', async () => {
    const body = dispatch();
    expect(contextOf(body).userId).toBeUndefined();
    contextOf(body).draftOrders = 'not a bundle';
    const response = await ok(
      `${MMM}-order-dispatch`,
      body,
      assessedDispatch(body, [asSigned(draftOf(fixture(BASELINE)) as never) as never])
    );
    expect(coverageCards(response)).toHaveLength(1);
  });

  test('more than 100 dispatched orders: 400 too-many-orders, before any read', async () => {
    const body = dispatch();
    contextOf(body).dispatchedOrders = Array.from({ length: 101 }, (_, i) => `MedicationRequest/order-${i}`);
    expect(issues(await call(`${MMM}-order-dispatch`, body))).toEqual([
      { status: 400, code: 'too-many-orders', expression: ['context.dispatchedOrders'] },
    ]);
  });

  test.each([
    [MMM, 'order-select'],
    [`${MMM}-order-select`, 'order-sign'],
    [`${SINGLE_AGENT}-order-dispatch`, 'order-select'],
    ['blinatumomab-order-sign', 'order-dispatch'],
    ['blinatumomab-order-select', 'order-sign'],
  ])('%s called with %s: 400 wrong-hook', async (service, hook) => {
    const body = hook === 'order-select' ? select() : hook === 'order-dispatch' ? dispatch() : fixture(BASELINE);
    expect(issues(await call(service, body))).toEqual([{ status: 400, code: 'wrong-hook', expression: ['hook'] }]);
  });
});

describe('order-select assesses the selected orders only; every draft order counts as context', () => {
  /** The baseline request with a second blinatumomab draft, `second`, beside the first. */
  function twoBlinatumomab(): Json {
    const body = fixture(BASELINE);
    const second = { ...structuredClone(draftOf(body)), id: 'second-blina-draft' };
    (contextOf(body).draftOrders as Bundle).entry?.push({ resource: second });
    return body;
  }

  test('two blinatumomab drafts, one selected: cards and the system action for that one only, same cycle', async () => {
    const sign = await ok(MMM, twoBlinatumomab());
    expect(coverageCards(sign).map((c) => assessmentOf(c)?.order)).toEqual([
      `MedicationRequest/${DRAFT}`,
      'MedicationRequest/second-blina-draft',
    ]);
    const body = toOrderSelect(twoBlinatumomab(), ['MedicationRequest/second-blina-draft']);
    for (const service of [`${MMM}-order-select`, 'blinatumomab-order-select']) {
      const response = await ok(service, body);
      const cards = coverageCards(response);
      expect(cards.map((c) => assessmentOf(c)?.order)).toEqual(['MedicationRequest/second-blina-draft']);
      expect(assessmentOf(cards[0]!)).toEqual(assessmentOf(coverageCards(sign)[1]!));
      expect(response.systemActions?.map((a) => a.resource?.id)).toEqual(['second-blina-draft']);
    }
  });

  test('two drafts, one selected: their quantities are checked together, and the card names both', async () => {
    // Each draft asks for the whole cycle's 28 vials: within the limit alone, over it together (contract section 7).
    const body = toOrderSelect(twoBlinatumomab(), ['MedicationRequest/second-blina-draft']);
    for (const service of [`${MMM}-order-select`, 'blinatumomab-order-select']) {
      const response = await ok(service, body);
      const combined = response.cards.filter((c) => / orders together exceed /.test(c.summary));
      expect(combined).toHaveLength(1);
      expect(combined[0]?.summary).toBe('Blinatumomab cycle 1: 2 orders together exceed the 28-vial cycle limit');
      expect(combined[0]?.detail).toMatch(/^- Draft order 1 \(.*\): 28 vial = 28 vials, 980 mcg$/m);
      expect(combined[0]?.detail).toMatch(/^- Draft order 2 \(.*\): 28 vial = 28 vials, 980 mcg$/m);
      expect(combined[0]?.detail).toContain('ask for 56 vials (1960 mcg) together');
      // After the selected order's cards: the last card of the response.
      expect(response.cards[response.cards.length - 1]).toBe(combined[0]);
    }
    // Selecting nothing governed sends nothing, the combined finding included.
    expect(await ok(`${MMM}-order-select`, toOrderSelect(twoBlinatumomab(), []))).toEqual({ cards: [] });
  });

  test('a selection naming no governed order answers {"cards": []}', async () => {
    const body = fixture(TWO_ORDERS);
    const allopurinol = draftOf(body, 1).id as string;
    for (const selections of [
      [`MedicationRequest/${allopurinol}`],
      [],
      ['MedicationRequest/nowhere'],
      ['ServiceRequest/x'],
    ]) {
      expect(await ok(`${SINGLE_AGENT}-order-select`, toOrderSelect(body, selections))).toEqual({ cards: [] });
    }
  });

  test('a selection may name the order absolutely under fhirServer', async () => {
    const body = fixture(BASELINE);
    const select = toOrderSelect(body, [`${String(body.fhirServer)}/MedicationRequest/${DRAFT}`]);
    expect(coverageCards(await ok(`${MMM}-order-select`, select))).toHaveLength(1);
  });

  test('the Medication of a draft order not selected is not read (no 412), while order-sign must read it', async () => {
    const body = withoutServer(twoBlinatumomab());
    const second = draftOf(body, 1);
    delete second.medicationCodeableConcept;
    second.medicationReference = { reference: 'Medication/not-in-prefetch' };
    expect(issues(await call(MMM, body))).toEqual([
      {
        status: 412,
        code: 'medication-unavailable',
        expression: ['context.draftOrders.entry[1].resource.medicationReference'],
      },
    ]);
    const select = toOrderSelect(body, [`MedicationRequest/${DRAFT}`]);
    expect(coverageCards(await ok(`${MMM}-order-select`, select))).toHaveLength(1);
    // Selected, it must be read: 412 naming it.
    const selected = toOrderSelect(body, ['MedicationRequest/second-blina-draft']);
    expect(issues(await call(`${MMM}-order-select`, selected))).toEqual([
      {
        status: 412,
        code: 'medication-unavailable',
        expression: ['context.draftOrders.entry[1].resource.medicationReference'],
      },
    ]);
  });
});

describe('order-dispatch reads the dispatched orders before anything else', () => {
  let fhir: Awaited<ReturnType<typeof startFhirServerWith>>;
  const signed = (): MedicationRequest => asSigned(draftOf(fixture(BASELINE)) as never) as unknown as MedicationRequest;

  beforeAll(async () => {
    fhir = await startFhirServerWith(['bundles/adult-relapsed-ph-neg-cycle1-stepup.json']);
    await fhir.repo.updateResource(signed() as never);
  });

  afterAll(async () => {
    await fhir.close();
  });

  function pointed(body: Json): Json {
    return { ...body, fhirServer: fhir.url };
  }

  test('from a prefetch key holding the order itself: no read', async () => {
    const body = pointed(toOrderDispatch(fixture(BASELINE), { placement: 'server', orders: [signed() as never] }));
    prefetchOf(body).dispatched = signed();
    fhir.requests.length = 0;
    const response = await ok(`${MMM}-order-dispatch`, body, assessedDispatch(body, [signed()]));
    expect(coverageCards(response)).toHaveLength(1);
    expect(fhir.requests).toEqual([]);
  });

  test('from the server, one read per distinct order, before the Medication reads and the prefetch', async () => {
    const base = fixture('adult-relapsed--medication-reference-fetch--none.json');
    const order = asSigned(draftOf(base) as never) as unknown as MedicationRequest;
    await fhir.repo.updateResource(order as never);
    const body = pointed(toOrderDispatch(base, { placement: 'server', orders: [order as never] }));
    const ref = `MedicationRequest/${order.id ?? ''}`;
    contextOf(body).dispatchedOrders = [ref, ref, 'ServiceRequest/lab-1'];
    fhir.requests.length = 0;
    const stored = (await fhir.repo.readResource('MedicationRequest', order.id ?? '')) as unknown as MedicationRequest;
    const response = await ok('blinatumomab-order-dispatch', body, assessedDispatch(body, [stored]));
    expect(coverageCards(response)).toHaveLength(1);
    expect(fhir.requests.slice(0, 2)).toEqual([`GET /fhir/${ref}`, 'GET /fhir/Medication/blincyto-35mcg']);
    expect(fhir.requests.filter((r) => r === `GET /fhir/${ref}`)).toHaveLength(1);
  });

  test('an absolute reference under fhirServer is read like a relative one', async () => {
    const body = pointed(toOrderDispatch(fixture(BASELINE_NONE), { placement: 'server' }));
    contextOf(body).dispatchedOrders = [`${fhir.url}/MedicationRequest/${DRAFT}`];
    fhir.requests.length = 0;
    await ok(
      `${SINGLE_AGENT}-order-dispatch`,
      body,
      assessedDispatch(body, [
        (await fhir.repo.readResource('MedicationRequest', DRAFT)) as unknown as MedicationRequest,
      ])
    );
    expect(fhir.requests[0]).toBe(`GET /fhir/MedicationRequest/${DRAFT}`);
  });

  test('not found on the server: 412 order-unavailable naming the reference', async () => {
    const body = pointed(toOrderDispatch(fixture(BASELINE_NONE), { placement: 'server' }));
    contextOf(body).dispatchedOrders = ['ServiceRequest/lab-1', 'MedicationRequest/never-signed'];
    const res = await call(`${MMM}-order-dispatch`, body);
    expect(issues(res)).toEqual([
      { status: 412, code: 'order-unavailable', expression: ['context.dispatchedOrders[1]'] },
    ]);
    expect(JSON.stringify(res.body)).toMatch(/MedicationRequest\/never-signed was not found/);
  });

  test('no fhirServer, or another server named: 412 order-unavailable, one issue per order', async () => {
    const body = withoutServer(toOrderDispatch(fixture(BASELINE), { placement: 'server' }));
    contextOf(body).dispatchedOrders = [
      `MedicationRequest/${DRAFT}`,
      'https://elsewhere.example/fhir/MedicationRequest/x',
    ];
    expect(issues(await call('blinatumomab-order-dispatch', body))).toEqual([
      { status: 412, code: 'order-unavailable', expression: ['context.dispatchedOrders[0]'] },
      { status: 412, code: 'order-unavailable', expression: ['context.dispatchedOrders[1]'] },
    ]);
  });

  describe('a failing FHIR server', () => {
    let failing: ScriptedServer;
    beforeAll(async () => {
      failing = await startScriptedServer(() => ({
        kind: 'json',
        status: 500,
        body: { resourceType: 'OperationOutcome' },
      }));
    });
    afterAll(async () => {
      await failing.close();
    });

    test('a read answered 500 is a 412 order-unavailable, and nothing else is fetched', async () => {
      const body = { ...toOrderDispatch(fixture(BASELINE_NONE), { placement: 'server' }), fhirServer: failing.base };
      failing.requests.length = 0;
      expect(issues(await call(`${MMM}-order-dispatch`, body))).toEqual([
        { status: 412, code: 'order-unavailable', expression: ['context.dispatchedOrders[0]'] },
      ]);
      expect(failing.requests.map(pathOf)).toEqual([`/MedicationRequest/${DRAFT}`]);
    });
  });

  test('a Medication the dispatched order names that cannot be read: 412 naming the dispatched order', async () => {
    const order = {
      ...signed(),
      medicationCodeableConcept: undefined,
      medicationReference: { reference: 'Medication/unknown' },
    };
    delete order.medicationCodeableConcept;
    const body = withoutServer(toOrderDispatch(fixture(BASELINE), { placement: 'prefetch', orders: [order] }));
    expect(issues(await call(`${MMM}-order-dispatch`, body))).toEqual([
      { status: 412, code: 'medication-unavailable', expression: ['context.dispatchedOrders[0]'] },
    ]);
  });
});

describe('the routed services read the payer from the active Coverages', () => {
  const mmmOrg: Organization = { resourceType: 'Organization', id: 'org-mmm', identifier: [payerId('mmm-healthcare')] };
  const singleOrg: Organization = {
    resourceType: 'Organization',
    id: 'org-single',
    identifier: [payerId('single-agent-plan')],
  };

  function withCoverages(coverages: Coverage[], included: FhirResource[] = []): Json {
    const body = fixture(BASELINE);
    prefetchOf(body).coverage = coverageSearch(coverages, included);
    return body;
  }

  async function policyOf(body: Json): Promise<string | undefined> {
    const response = await ok('blinatumomab-order-sign', body);
    return assessmentOf(coverageCards(response)[0]!)?.policy;
  }

  test('the payor identifier, or the identifier of the included payor Organization', async () => {
    expect(await policyOf(withCoverages([coverage('c1', [{ identifier: payerId('single-agent-plan') }])]))).toBe(
      SINGLE_AGENT
    );
    expect(await policyOf(withCoverages([coverage('c1', [{ reference: 'Organization/org-mmm' }])], [mmmOrg]))).toBe(
      MMM
    );
    // An absolute reference to the Organization works too.
    const absolute = withCoverages(
      [coverage('c1', [{ reference: 'http://localhost:8080/fhir/Organization/org-single' }])],
      [singleOrg]
    );
    expect(await policyOf(absolute)).toBe(SINGLE_AGENT);
  });

  test('the first active Coverage whose payer a policy handles chooses, and is the one asserted on', async () => {
    const body = withCoverages(
      [
        coverage('c-cancelled', [{ identifier: payerId('mmm-healthcare') }], { status: 'cancelled' }),
        coverage('c-other', [{ identifier: payerId('regional-health-plan') }]),
        coverage('c-foreign', [{ identifier: payerId('mmm-healthcare') }], {
          beneficiary: { reference: 'Patient/someone-else' },
        }),
        coverage('c-single', [{ reference: 'Organization/org-single' }]),
        coverage('c-mmm', [{ identifier: payerId('mmm-healthcare') }]),
      ],
      [singleOrg]
    );
    const response = await ok('blinatumomab-order-sign', body);
    expect(assessmentOf(coverageCards(response)[0]!)?.policy).toBe(SINGLE_AGENT);
    expect(assertedCoverage(response)).toBe('Coverage/c-single');
  });

  test('active Coverages none of which is handled: 400 payer-not-handled naming the key', async () => {
    const notIncluded = withCoverages([coverage('c1', [{ reference: 'Organization/org-mmm' }])]);
    const res = await call('blinatumomab-order-sign', notIncluded);
    expect(issues(res)).toEqual([{ status: 400, code: 'payer-not-handled', expression: ['prefetch.coverage'] }]);
    expect(JSON.stringify(res.body)).toMatch(/no payer identifier found/);
    const foreign = withCoverages([
      coverage('c1', [{ identifier: payerId('mmm-healthcare') }], {
        beneficiary: { reference: 'Patient/someone-else' },
      }),
      coverage('c2', [{ identifier: { system: 'http://other.example/ids', value: 'mmm-healthcare' } }]),
    ]);
    const refused = await call('blinatumomab-order-select', toOrderSelect(foreign));
    expect(issues(refused)).toEqual([{ status: 400, code: 'payer-not-handled', expression: ['prefetch.coverage'] }]);
    expect(JSON.stringify(refused.body)).toContain('http://other.example/ids|mmm-healthcare');
  });

  test("another patient's Coverage, in any reference form, is dropped before routing: none left is no coverage", async () => {
    const body = withCoverages([
      coverage('c-abs', [{ identifier: payerId('mmm-healthcare') }], {
        beneficiary: { reference: 'https://ehr.example/fhir/Patient/someone-else/_history/3' },
      }),
      coverage('c-rel', [{ identifier: payerId('single-agent-plan') }], {
        beneficiary: { reference: 'Patient/someone_else' },
      }),
    ]);
    for (const service of ['blinatumomab-order-sign', 'blinatumomab-order-select']) {
      const sent = service === 'blinatumomab-order-sign' ? body : toOrderSelect(body);
      const response = await ok(service, sent);
      expect(response.systemActions).toBeUndefined();
      expect(response.cards.map((c) => c.summary)).toEqual([
        'Blinatumomab: health plan not determined: no active coverage found',
      ]);
    }
  });

  test('Coverages fetched from fhirServer (the prefetch key an OperationOutcome): the 400 names no prefetch key', async () => {
    const fhir = await startFhirServerWith(['bundles/adult-other-payer.json']);
    try {
      const body = { ...fixture('adult-other-payer--full.json'), fhirServer: fhir.url };
      prefetchOf(body).coverage = { resourceType: 'OperationOutcome', issue: [] } as unknown as FhirResource;
      fhir.requests.length = 0;
      const res = await call('blinatumomab-order-sign', body);
      expect(issues(res)).toEqual([{ status: 400, code: 'payer-not-handled' }]);
      // One search, with the payor included; nothing else was fetched before the refusal.
      expect(fhir.requests).toEqual([
        'GET /fhir/Coverage?patient=otherpayer-patient&status=active&_include=Coverage:payor',
      ]);
    } finally {
      await fhir.close();
    }
  });

  test('no active Coverage: one warning card, no system action; max-cards 0 or coverage-info false: none', async () => {
    const body = withCoverages([coverage('c1', [{ identifier: payerId('mmm-healthcare') }], { status: 'cancelled' })]);
    const response = await ok('blinatumomab-order-sign', body);
    expect(response.systemActions).toBeUndefined();
    expect(response.cards.map((c) => c.indicator)).toEqual(['warning']);
    for (const configuration of [{ 'max-cards': 0 }, { 'coverage-info': false }]) {
      const quiet = { ...body, extension: { 'davinci-crd.configuration': configuration } };
      expect(await ok('blinatumomab-order-sign', quiet)).toEqual({ cards: [] });
    }
  });

  test('the per-policy services do not check the payer', async () => {
    const body = withCoverages([coverage('c1', [{ identifier: payerId('regional-health-plan') }])]);
    for (const service of [MMM, SINGLE_AGENT]) {
      const response = await ok(service, body);
      expect(assessmentOf(coverageCards(response)[0]!)?.policy).toBe(service);
      expect(assertedCoverage(response)).toBe('Coverage/c1');
    }
  });

  test('feedback on a routed service is accepted', async () => {
    // On a card the routed service issued (feedback on any other is 400 unknown-card, test/feedback.test.ts).
    const [card] = (await ok('blinatumomab-order-sign', fixture(BASELINE))).cards;
    const res = await request(h.app)
      .post('/cds-services/blinatumomab-order-sign/feedback')
      .send({
        feedback: [
          {
            card: card!.uuid,
            outcome: 'overridden',
            outcomeTimestamp: '2026-11-22T10:00:00Z',
          },
        ],
      });
    expect(res.status).toBe(200);
  });
});

describe('status order (contract section 3): order reads -> 400 payer-not-handled -> 412 prefetch', () => {
  function unhandled(body: Json): Json {
    prefetchOf(body).coverage = coverageSearch([coverage('c1', [{ identifier: payerId('regional-health-plan') }])]);
    return body;
  }

  test('an unreadable dispatched order answers 412 order-unavailable before the payer is looked at', async () => {
    const body = withoutServer(unhandled(toOrderDispatch(fixture(BASELINE), { placement: 'server' })));
    expect(issues(await call('blinatumomab-order-dispatch', body))).toEqual([
      { status: 412, code: 'order-unavailable', expression: ['context.dispatchedOrders[0]'] },
    ]);
  });

  test('an unreadable Medication answers 412 medication-unavailable before the payer is looked at', async () => {
    const body = withoutServer(unhandled(fixture(BASELINE)));
    const draft = draftOf(body);
    delete draft.medicationCodeableConcept;
    draft.medicationReference = { reference: 'Medication/unknown' };
    expect(issues(await call('blinatumomab-order-sign', body))).toEqual([
      {
        status: 412,
        code: 'medication-unavailable',
        expression: ['context.draftOrders.entry[0].resource.medicationReference'],
      },
    ]);
  });

  test('an unhandled payer answers 400 even when every other key is missing and there is no fhirServer', async () => {
    const body = withoutServer(unhandled(fixture(BASELINE)));
    body.prefetch = { coverage: prefetchOf(body).coverage };
    expect(issues(await call('blinatumomab-order-sign', body))).toEqual([
      { status: 400, code: 'payer-not-handled', expression: ['prefetch.coverage'] },
    ]);
    // A handled payer then meets the 412 of the keys still missing, named as the routed service declares them.
    const handled = withoutServer(fixture(BASELINE));
    handled.prefetch = { coverage: prefetchOf(handled).coverage };
    const res = await call('blinatumomab-order-sign', handled);
    const expressions = issues(res).map((i) => i.expression?.[0]);
    expect(res.status).toBe(412);
    expect(expressions).toEqual(
      expect.arrayContaining([
        'prefetch.patient',
        'prefetch.medicationRequests',
        'prefetch.observations-blinatumomab-mmm',
      ])
    );
    expect(expressions).not.toContain('prefetch.coverage');
    expect(expressions).not.toContain('prefetch.observations-blinatumomab-single-agent');
  });

  test('no governed order answers {"cards": []} before the payer is looked at', async () => {
    const body = unhandled(fixture('adult-relapsed--other-drug--full.json'));
    expect(await ok('blinatumomab-order-sign', body)).toEqual({ cards: [] });
  });

  test('the coverage key unobtainable: 412 prefetch-unavailable for it', async () => {
    const body = withoutServer(fixture(BASELINE));
    delete (body.prefetch as Json).coverage;
    expect(issues(await call('blinatumomab-order-sign', body))).toEqual([
      { status: 412, code: 'prefetch-unavailable', expression: ['prefetch.coverage'] },
    ]);
  });
});
