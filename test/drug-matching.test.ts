// One drug rule (src/policy/drug.ts), over HTTP: an order is governed exactly when evaluation recognises its drug.
// The drug code set matches as every code set does (cds-services/README.md "Codes": case, surrounding spaces and
// dots ignored; NDC written forms as listed), inline, in a contained Medication or in a prefetched one, on the
// per-policy services and the routed ones; a prior cycle written the same way is counted.
import type { Medication, MedicationRequest } from 'fhir/r4';
import request from 'supertest';
import { loadFixtureRequests } from '../src/dev/demo-fixtures';
import type { CdsResponse, HookRequest } from '../src/hooks/types';
import { assertCardRules } from './card-rules';
import {
  BASE_URL,
  buildServiceApp,
  onlyAssessment,
  servicesOf,
  withDraftOrder,
  type ServiceApp,
} from './helpers/service-app';

const HCPCS = 'http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets';
const NDC = 'http://hl7.org/fhir/sid/ndc';
const RXNORM = 'http://www.nlm.nih.gov/research/umls/rxnorm';

const fixtures = new Map(loadFixtureRequests().map((f) => [f.name.file, f.body as unknown as HookRequest]));

function fixture(file: string): HookRequest {
  const body = fixtures.get(file);
  if (!body) {
    throw new Error(`no fixture ${file}`);
  }
  return structuredClone(body);
}

/** mmm-healthcare's story: the per-policy service and the routed service answer alike. */
const LIKELY = 'adult-relapsed-ph-neg-cycle1-stepup--full.json';
/** Two prior cycles and a draft order, all naming the prefetched Medication `crs-blincyto`. */
const CYCLE3 = 'adult-continuation-cycle3-crs--full.json';
const SERVICES = ['blinatumomab-mmm', 'blinatumomab-order-sign'];

let h: ServiceApp;

beforeAll(async () => {
  h = await buildServiceApp();
});

afterAll(async () => {
  await h.close();
});

async function call(serviceId: string, body: HookRequest): Promise<CdsResponse> {
  const res = await request(h.app)
    .post(`/cds-services/${serviceId}`)
    .send(body);
  expect({ status: res.status, body: res.status === 200 ? 'ok' : res.body }).toEqual({ status: 200, body: 'ok' });
  const response = res.body as CdsResponse;
  if (serviceId !== 'blinatumomab-order-sign') {
    assertCardRules(response, body, { service: h.service(serviceId), baseUrl: BASE_URL });
  }
  return response;
}

function draft(body: HookRequest): MedicationRequest {
  return body.context.draftOrders.entry?.[0]?.resource as MedicationRequest;
}

/** The LIKELY request with its draft order's medication written as `medication` (and nothing else changed). */
function codedAs(medication: Partial<MedicationRequest>): HookRequest {
  const body = fixture(LIKELY);
  const order = structuredClone(draft(body));
  delete order.medicationCodeableConcept;
  delete order.medicationReference;
  return withDraftOrder(body, 0, { ...order, ...medication });
}

function inline(system: string, code: string): Partial<MedicationRequest> {
  return { medicationCodeableConcept: { coding: [{ system, code }] } };
}

describe('the drug code set governs as evaluation reads it', () => {
  let baseline: ReturnType<typeof onlyAssessment>;

  beforeAll(async () => {
    baseline = onlyAssessment(await call('blinatumomab-mmm', fixture(LIKELY)));
    expect(baseline.likelihood).toBe('likely');
  });

  const governedForms: Array<[string, Partial<MedicationRequest>]> = [
    ['HCPCS j9039 (lower case)', inline(HCPCS, 'j9039')],
    ['HCPCS " J9039" (a leading space)', inline(HCPCS, ' J9039')],
    ['HCPCS J90.39 (a dot)', inline(HCPCS, 'J90.39')],
    ['NDC 55513016001 (no hyphens, as the code set lists it)', inline(NDC, '55513016001')],
    ['NDC 55513-0160-01 (hyphens, as the code set lists it)', inline(NDC, '55513-0160-01')],
    [
      'a contained Medication coded j9039',
      {
        contained: [
          { resourceType: 'Medication', id: 'med', code: { coding: [{ system: HCPCS, code: 'j9039' }] } } as Medication,
        ],
        medicationReference: { reference: '#med' },
      },
    ],
  ];

  describe.each(SERVICES)('%s', (serviceId) => {
    test.each(governedForms)('%s: governed, decided as the RxNorm-coded order', async (_name, medication) => {
      const response = await call(serviceId, codedAs(medication));
      expect(response.systemActions).toHaveLength(1);
      const assessment = onlyAssessment(response);
      expect(assessment.likelihood).toBe(baseline.likelihood);
      expect(assessment.pathway).toBe(baseline.pathway);
      expect(assessment.authorization).toEqual(baseline.authorization);
    });

    test.each<[string, Partial<MedicationRequest>]>([
      ['HCPCS J9038', inline(HCPCS, 'J9038')],
      ['J9039 under the RxNorm system', inline(RXNORM, 'J9039')],
      ['NDC 55513-0160-99', inline(NDC, '55513-0160-99')],
    ])('%s: not governed, {"cards": []}', async (_name, medication) => {
      const res = await request(h.app)
        .post(`/cds-services/${serviceId}`)
        .send(codedAs(medication));
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ cards: [] });
    });
  });

  test.each(SERVICES)(
    '%s: a prefetched Medication coded j9039 governs the draft order and counts the prior cycles naming it',
    async (serviceId) => {
      const original = onlyAssessment(await call(serviceId, fixture(CYCLE3)));
      expect(original.authorization.cycle).toBe(3);
      const body = fixture(CYCLE3);
      const bundle = body.prefetch?.medicationRequests as { entry: Array<{ resource: Record<string, unknown> }> };
      const medication = bundle.entry.find((e) => e.resource.resourceType === 'Medication')?.resource;
      expect(medication?.id).toBe('crs-blincyto');
      (medication as Record<string, unknown>).code = { coding: [{ system: HCPCS, code: 'j9039' }] };
      const assessment = onlyAssessment(await call(serviceId, body));
      expect(assessment.authorization).toEqual(original.authorization);
      expect(assessment.likelihood).toBe(original.likelihood);
    }
  );
});

test('every loaded policy and the routed services share the one drug rule (the loaded code sets)', () => {
  for (const service of servicesOf()) {
    expect(service.drug.matchesConcept({ coding: [{ system: HCPCS, code: ' j90.39 ' }] })).toBe(true);
    expect(service.drug.matchesConcept({ coding: [{ system: NDC, code: '55513016001' }] })).toBe(true);
  }
});
