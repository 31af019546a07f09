// End to end over HTTP, per service: the real app, the real services from cds-services/ and the real pipeline.
// Discovery; a likely, a needs-documentation (with its Task and Questionnaire), an unlikely and a not-covered order;
// no governed order; a governed order without id; max-cards; the CRD configuration switches; a re-signed order;
// and every 412 of contract section 3 (with the 400 that comes before it).
import type { Extension, MedicationRequest, Questionnaire, Task } from 'fhir/r4';
import request from 'supertest';
import { ERROR_SYSTEM } from '../src/errors';
import type { Card, CdsResponse, HookRequest } from '../src/hooks/types';
import { loadFixtureRequests } from '../src/dev/demo-fixtures';
import { assertCardRules } from './card-rules';
import { pathOf, startScriptedServer, type ScriptedServer } from './helpers/fhir-servers';
import {
  BASE_URL,
  RECEIVED_DATE,
  assessmentOf,
  buildServiceApp,
  codeOf,
  correctionCards,
  coverageCards,
  coverageInformations,
  documentationCards,
  onlyAssessment,
  servicesOf,
  subs,
  systemActionInfo,
  withDraftOrder,
  type ServiceApp,
} from './helpers/service-app';

const CRD_TEMP = 'http://hl7.org/fhir/us/davinci-crd/CodeSystem/temp';
const SDC_TEMP = 'http://hl7.org/fhir/uv/sdc/CodeSystem/temp';

const fixtures = new Map(loadFixtureRequests().map((f) => [f.name.file, f.body as unknown as HookRequest]));

/** A fresh copy of a fixture request (its fhirServer, a placeholder, is left as it is: full requests need none). */
function fixture(file: string): HookRequest {
  const body = fixtures.get(file);
  if (!body) {
    throw new Error(`no fixture ${file}`);
  }
  return structuredClone(body);
}

const LIKELY = 'adult-relapsed-ph-neg-cycle1-stepup--full.json';
const NEEDS_DOCUMENTATION = 'adult-mrd-positive-no-phase--full.json';
const UNLIKELY = 'adult-mrd-below-threshold--full.json';
const NOT_COVERED = 'adult-dlbcl--full.json';
const NO_GOVERNED = 'adult-relapsed--other-drug--full.json';
const NO_ID = 'adult-relapsed--no-order-id--full.json';
const CORRECTION = 'child-relapsed-cycle1-flat-dose--full.json';
const MEDICATION_REFERENCE = 'adult-relapsed--medication-reference-fetch--none.json';

/** Every service the loader finds in cds-services/, in its order: each gets the per-service tests below. */
const SERVICE_IDS = servicesOf().map((s) => s.id);

let h: ServiceApp;

beforeAll(async () => {
  h = await buildServiceApp();
});

afterAll(async () => {
  await h.close();
});

/** POSTs a request and checks the card rules of any 200 answer. */
async function sign(serviceId: string, body: unknown): Promise<request.Response> {
  const res = await request(h.app)
    .post(`/cds-services/${serviceId}`)
    .send(body as object);
  if (res.status === 200) {
    // The card rules, and those of what a clinician reads (rendering, summaries, payer naming, links).
    assertCardRules(res.body as CdsResponse, body as HookRequest, { service: h.service(serviceId), baseUrl: BASE_URL });
  }
  return res;
}

async function signOk(serviceId: string, body: unknown): Promise<CdsResponse> {
  const res = await sign(serviceId, body);
  expect({ status: res.status, body: res.status === 200 ? 'ok' : res.body }).toEqual({ status: 200, body: 'ok' });
  return res.body as CdsResponse;
}

function withConfiguration(body: HookRequest, configuration: Record<string, unknown>): HookRequest {
  return { ...body, extension: { 'davinci-crd.configuration': configuration } };
}

/** The same request without any way to reach a FHIR server. */
function withoutFhirServer(body: HookRequest): HookRequest {
  const copy = structuredClone(body);
  delete copy.fhirServer;
  delete copy.fhirAuthorization;
  return copy;
}

function withoutId(body: HookRequest): HookRequest {
  const copy = structuredClone(body);
  const order = copy.context.draftOrders.entry?.[0]?.resource as MedicationRequest;
  delete order.id;
  return copy;
}

function issuesOf(res: request.Response): Array<{ code: string; ours: string; expression?: string[] }> {
  expect(res.body.resourceType).toBe('OperationOutcome');
  return (res.body.issue as Array<Record<string, unknown>>).map((i) => {
    const coding = (i.details as { coding: Array<{ system: string; code: string }> }).coding[0];
    expect(coding?.system).toBe(ERROR_SYSTEM);
    const issue: { code: string; ours: string; expression?: string[] } = {
      code: i.code as string,
      ours: coding?.code ?? '',
    };
    if (i.expression !== undefined) {
      issue.expression = i.expression as string[];
    }
    return issue;
  });
}

describe('discovery', () => {
  const STANDARD_TOKENS = new Set([
    'context.patientId',
    'context.userId',
    'context.encounterId',
    'userPractitionerId',
    'userPractitionerRoleId',
    'userPatientId',
    'userRelatedPersonId',
  ]);
  const INTERNAL_KEYS = [
    'criteria',
    'pathways',
    'collections',
    'facts',
    'dosing',
    'codes',
    'systems',
    'policy',
    'cases',
    'exclusions',
    'documentation',
  ];

  function keysOf(value: unknown, out: Set<string> = new Set()): Set<string> {
    if (Array.isArray(value)) {
      value.forEach((v) => keysOf(v, out));
    } else if (value && typeof value === 'object') {
      for (const [k, v] of Object.entries(value)) {
        out.add(k);
        keysOf(v, out);
      }
    }
    return out;
  }

  /** The hook of each service: every policy on the three hooks, and the three routed services (contract section 1). */
  const HOOK_OF: Record<string, string> = Object.fromEntries([
    ...SERVICE_IDS.flatMap((id) => [
      [id, 'order-sign'],
      [`${id}-order-select`, 'order-select'],
      [`${id}-order-dispatch`, 'order-dispatch'],
    ]),
    ['blinatumomab-order-sign', 'order-sign'],
    ['blinatumomab-order-select', 'order-select'],
    ['blinatumomab-order-dispatch', 'order-dispatch'],
  ]);

  it('lists each policy on the three hooks and the three routed services, with prefetch, usage and options only', async () => {
    const res = await request(h.app).get('/cds-services').expect(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(Object.keys(res.body)).toEqual(['services']);
    const services = res.body.services as Array<Record<string, unknown>>;
    expect(services.map((s) => s.id)).toEqual(Object.keys(HOOK_OF).sort());
    expect(SERVICE_IDS).toEqual(expect.arrayContaining(['blinatumomab-mmm', 'blinatumomab-single-agent']));
    for (const s of services) {
      expect(Object.keys(s).sort()).toEqual([
        'description',
        'extension',
        'hook',
        'id',
        'prefetch',
        'title',
        'usageRequirements',
      ]);
      expect(s.hook).toBe(HOOK_OF[s.id as string]);
      expect(typeof s.title).toBe('string');
      expect((s.description as string).length).toBeGreaterThan(20);
      expect((s.usageRequirements as string).length).toBeGreaterThan(20);
      const prefetch = s.prefetch as Record<string, string>;
      // Contract sections 1 and 5: the active Coverage with its payor Organization; the policies read these keys.
      expect(prefetch.coverage).toBe('Coverage?patient={{context.patientId}}&status=active&_include=Coverage:payor');
      expect(prefetch.patient).toBe('Patient/{{context.patientId}}');
      expect(prefetch.medicationRequests).toContain('_include=MedicationRequest:medication');
      expect(Object.keys(prefetch)).toEqual(expect.arrayContaining(['conditions']));
      for (const template of Object.values(prefetch)) {
        const tokens = [...template.matchAll(/\{\{([^}]*)\}\}/g)].map((m) => m[1] ?? '');
        expect(tokens.filter((t) => !STANDARD_TOKENS.has(t))).toEqual([]);
      }
      // The CRD configuration options apply to every service.
      expect(s.extension).toEqual({
        'davinci-crd.configuration-options': [
          expect.objectContaining({ code: 'coverage-info', type: 'boolean', default: true }),
          expect.objectContaining({ code: 'limits', type: 'boolean', default: true }),
          expect.objectContaining({ code: 'max-cards', type: 'integer', default: 10 }),
        ],
      });
      // Nothing engine-internal: no policy keys, no FHIRPath.
      const keys = keysOf(s);
      expect(INTERNAL_KEYS.filter((k) => keys.has(k))).toEqual([]);
      expect(JSON.stringify(s)).not.toMatch(/%[a-zA-Z]|\.where\(|\.exists\(/);
    }
    // Each policy's services share its prefetch; the routed ones declare the union of the policies' templates.
    const byId = new Map(services.map((s) => [s.id as string, s.prefetch as Record<string, string>]));
    for (const id of SERVICE_IDS) {
      expect(byId.get(`${id}-order-select`)).toEqual(byId.get(id));
      expect(byId.get(`${id}-order-dispatch`)).toEqual(byId.get(id));
    }
    const routed = byId.get('blinatumomab-order-sign') as Record<string, string>;
    expect(byId.get('blinatumomab-order-select')).toEqual(routed);
    expect(byId.get('blinatumomab-order-dispatch')).toEqual(routed);
    const union = new Set(SERVICE_IDS.flatMap((id) => Object.values(byId.get(id) ?? {})));
    expect(new Set(Object.values(routed))).toEqual(union);
    expect(Object.values(routed)).toHaveLength(union.size);
  });
});

describe.each(SERVICE_IDS)('%s', (serviceId) => {
  const label = (): string => h.service(serviceId).label;
  const version = (): string => h.service(serviceId).version;

  describe('outcomes', () => {
    it('a likely order: an info coverage card and covered / auth-needed / clinical', async () => {
      const body = fixture(LIKELY);
      const response = await signOk(serviceId, body);
      expect(response.cards).toHaveLength(1);
      const card = response.cards[0] as Card;
      expect(card.indicator).toBe('info');
      expect(card.source).toMatchObject({ label: label(), topic: { system: CRD_TEMP, code: 'coverage-info' } });
      const a = onlyAssessment(response);
      expect(a).toMatchObject({
        order: 'MedicationRequest/relapsed-blina-draft',
        policy: serviceId,
        policyVersion: version(),
        likelihood: 'likely',
        authorization: { type: 'initial', cycle: 1 },
      });
      expect(a.pathway).toEqual(expect.any(String));
      expect(documentationCards(response)).toEqual([]);

      expect(response.systemActions).toHaveLength(1);
      const action = response.systemActions?.[0];
      expect(action?.type).toBe('update');
      const resource = action?.resource as MedicationRequest;
      expect(resource).toMatchObject({
        resourceType: 'MedicationRequest',
        id: 'relapsed-blina-draft',
        status: 'draft',
      });
      const info = systemActionInfo(response);
      expect([codeOf(info, 'covered'), codeOf(info, 'pa-needed'), codeOf(info, 'doc-needed')]).toEqual([
        'covered',
        'auth-needed',
        'clinical',
      ]);
      expect(subs(info, 'coverage')[0]?.valueReference?.reference).toMatch(/^Coverage\//);
      expect(subs(info, 'billingCode')[0]?.valueCoding).toMatchObject({ code: 'J9039' });
      expect(subs(info, 'date')[0]?.valueDate).toBe(RECEIVED_DATE);
      expect(subs(info, 'questionnaire')).toEqual([]);
      const quantity = subs(info, 'detail').find(
        (d) => subs(d, 'code')[0]?.valueCodeableConcept?.coding?.[0]?.code === 'allowed-quantity'
      );
      expect(subs(quantity as Extension, 'value')[0]?.valueQuantity).toMatchObject({ value: 28, code: '{vial}' });
      expect(subs(quantity as Extension, 'qualification')[0]?.valueString).toBe('per cycle');
    });

    it('a needs-documentation order: its documentation card, Task and Questionnaire', async () => {
      const body = fixture(NEEDS_DOCUMENTATION);
      const response = await signOk(serviceId, body);
      const a = onlyAssessment(response);
      expect(a.likelihood).toBe('needs-documentation');
      expect(coverageCards(response)[0]?.indicator).toBe('warning');
      const missing = a.missingDocumentation ?? [];
      expect(missing.length).toBeGreaterThan(0);

      const docs = documentationCards(response);
      expect(docs).toHaveLength(1);
      const doc = docs[0] as Card;
      expect(doc.indicator).toBe('warning');
      expect(doc.selectionBehavior).toBe('at-most-one');
      for (const m of missing) {
        // Each item and exactly what to submit (markdown may escape punctuation: compare the words).
        const words = m.request.split(/\s+/).slice(0, 4).join(' ');
        expect((doc.detail ?? '').replace(/\\/g, '')).toContain(words);
      }
      expect(doc.suggestions).toHaveLength(1);
      const actions = doc.suggestions?.[0]?.actions ?? [];
      expect(actions).toHaveLength(1);
      expect(actions[0]?.type).toBe('create');
      const task = actions[0]?.resource as Task;
      const canonical = `${BASE_URL}/fhir/Questionnaire/${serviceId}|${version()}`;
      expect(task).toMatchObject({
        resourceType: 'Task',
        status: 'ready',
        intent: 'order',
        code: { coding: [expect.objectContaining({ system: SDC_TEMP, code: 'complete-questionnaire' })] },
        for: { reference: `Patient/${body.context.patientId}` },
        basedOn: [{ reference: 'MedicationRequest/mrdnophase-blina-draft' }],
        authoredOn: RECEIVED_DATE,
        // The payer by its label, or "Health plan" when the label names none (contract section 6).
        requester: { display: h.service(serviceId).labelNamesPayer ? label() : 'Health plan' },
      });
      expect(task.focus).toBeUndefined();
      expect(task.input?.map((i) => i.valueCanonical).filter(Boolean)).toEqual([canonical]);
      expect(task.input?.length).toBe(2);

      const info = systemActionInfo(response);
      expect(codeOf(info, 'doc-needed')).toBe('clinical');
      expect(subs(info, 'questionnaire')[0]?.valueCanonical).toBe(canonical);

      // The canonical resolves: one item per documentation request of the service.
      const url = new URL(canonical.split('|')[0] as string);
      const res = await request(h.app).get(url.pathname).expect(200);
      expect(res.headers['content-type']).toMatch(/^application\/fhir\+json/);
      const q = JSON.parse(res.text) as Questionnaire;
      expect(q).toMatchObject({ resourceType: 'Questionnaire', url: canonical.split('|')[0], version: version() });
      const documentation = new Set(h.service(serviceId).documentation.map((d) => d.id));
      expect(q.item).toHaveLength(documentation.size);
      const linkIds = (q.item ?? []).map((i) => i.linkId);
      expect(linkIds).toEqual(expect.arrayContaining(missing.map((m) => m.criterion)));
    });

    it('an unlikely order: a warning, a criterion not met, and the reason on the coverage information', async () => {
      const response = await signOk(serviceId, fixture(UNLIKELY));
      const a = onlyAssessment(response);
      expect(a.likelihood).toBe('unlikely');
      expect(coverageCards(response)[0]?.indicator).toBe('warning');
      expect(a.criteria?.some((c) => c.status === 'not-met')).toBe(true);
      expect(documentationCards(response)).toEqual([]);
      const info = systemActionInfo(response);
      expect([codeOf(info, 'covered'), codeOf(info, 'pa-needed'), codeOf(info, 'doc-needed')]).toEqual([
        'covered',
        'auth-needed',
        'clinical',
      ]);
      expect(subs(info, 'reason')[0]?.valueCodeableConcept?.text).toEqual(expect.stringMatching(/\S/));
      expect(subs(info, 'questionnaire')).toEqual([]);
    });

    it('a not-covered order: not-covered with a reason, and no pa-needed, doc-needed, questionnaire or detail', async () => {
      const response = await signOk(serviceId, fixture(NOT_COVERED));
      const a = onlyAssessment(response);
      expect(a.likelihood).toBe('not-covered');
      expect(a.pathway).toBeUndefined();
      expect(coverageCards(response)[0]?.indicator).toBe('warning');
      expect(documentationCards(response)).toEqual([]);
      const info = systemActionInfo(response);
      expect(codeOf(info, 'covered')).toBe('not-covered');
      for (const url of ['pa-needed', 'doc-needed', 'questionnaire', 'detail']) {
        expect({ url, found: subs(info, url).length }).toEqual({ url, found: 0 });
      }
      expect(subs(info, 'reason')[0]?.valueCodeableConcept?.text).toEqual(expect.stringMatching(/\S/));
    });

    it('no governed order: exactly {"cards": []}', async () => {
      const res = await sign(serviceId, fixture(NO_GOVERNED));
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ cards: [] });
    });

    it('a governed order without id: cards (no order reference), no system action, no suggestion', async () => {
      const likely = await signOk(serviceId, fixture(NO_ID));
      expect(onlyAssessment(likely).order).toBeUndefined();
      expect(likely.systemActions).toBeUndefined();

      const documentation = await signOk(serviceId, withoutId(fixture(NEEDS_DOCUMENTATION)));
      expect(documentationCards(documentation)).toHaveLength(1);
      const correction = await signOk(serviceId, withoutId(fixture(CORRECTION)));
      expect(correction.cards.filter((c) => c.source.topic?.code === 'limits')).toHaveLength(1);
      for (const response of [likely, documentation, correction]) {
        expect(response.systemActions).toBeUndefined();
        expect(response.cards.filter((c) => c.suggestions !== undefined || c.selectionBehavior !== undefined)).toEqual(
          []
        );
      }
    });

    it('a governed order whose id is not a FHIR id (blank): treated as without id', async () => {
      const body = fixture(LIKELY);
      body.context.draftOrders.entry![0]!.resource!.id = ' ';
      const response = await signOk(serviceId, body);
      expect(onlyAssessment(response).order).toBeUndefined();
      expect(response.systemActions).toBeUndefined();
    });
  });

  describe('max-cards and the CRD configuration switches', () => {
    it('max-cards 0 answers "cards": [] and still sends the coverage-information system action', async () => {
      const res = await sign(serviceId, withConfiguration(fixture(CORRECTION), { 'max-cards': 0 }));
      expect(res.status).toBe(200);
      expect((res.body as CdsResponse).cards).toEqual([]);
      expect((res.body as CdsResponse).systemActions).toHaveLength(1);
    });

    it('max-cards 1 keeps the first card by kind (the coverage card)', async () => {
      const all = await signOk(serviceId, fixture(CORRECTION));
      expect(all.cards.length).toBeGreaterThanOrEqual(2);
      const one = await signOk(serviceId, withConfiguration(fixture(CORRECTION), { 'max-cards': 1 }));
      expect(one.cards).toHaveLength(1);
      expect(assessmentOf(one.cards[0] as Card)?.likelihood).toBe('likely');
      expect(one.systemActions).toHaveLength(1);

      // The documentation card cut: the coverage information still names the questionnaire (it follows the
      // likelihood, not max-cards: contract section 5).
      const cut = await signOk(serviceId, withConfiguration(fixture(NEEDS_DOCUMENTATION), { 'max-cards': 1 }));
      expect(cut.cards).toHaveLength(1);
      expect(documentationCards(cut)).toEqual([]);
      expect(subs(systemActionInfo(cut), 'questionnaire')).toHaveLength(1);
    });

    it('a max-cards that is not a non-negative integer is ignored, and so are unknown options', async () => {
      const all = await signOk(serviceId, fixture(CORRECTION));
      for (const configuration of [{ 'max-cards': -1 }, { 'max-cards': 1.5 }, { 'max-cards': '1' }, { mystery: 1 }]) {
        const response = await signOk(serviceId, withConfiguration(fixture(CORRECTION), configuration));
        expect(response.cards.map((c) => c.summary)).toEqual(all.cards.map((c) => c.summary));
        expect(response.systemActions).toHaveLength(1);
      }
    });

    it('coverage-info false: no coverage or documentation card; limits cards and the system action stay', async () => {
      const response = await signOk(serviceId, withConfiguration(fixture(CORRECTION), { 'coverage-info': false }));
      expect(response.systemActions).toHaveLength(1);
      expect(response.cards.length).toBeGreaterThan(0);
      expect(response.cards.every((c) => c.source.topic?.code === 'limits')).toBe(true);
      expect(correctionCards(response)).toHaveLength(1);

      const documentation = await signOk(
        serviceId,
        withConfiguration(fixture(NEEDS_DOCUMENTATION), { 'coverage-info': false })
      );
      expect(documentation.cards).toEqual([]);
      expect(subs(systemActionInfo(documentation), 'questionnaire')).toHaveLength(1);
    });

    it('limits false: no correction card; the coverage card and system action stay', async () => {
      const response = await signOk(serviceId, withConfiguration(fixture(CORRECTION), { limits: false }));
      expect(response.cards.filter((c) => c.source.topic?.code === 'limits')).toEqual([]);
      expect(coverageCards(response)).toHaveLength(1);
      expect(response.systemActions).toHaveLength(1);
    });

    it('both false: "cards": [] and the system action', async () => {
      const res = await sign(
        serviceId,
        withConfiguration(fixture(CORRECTION), { 'coverage-info': false, limits: false })
      );
      expect((res.body as CdsResponse).cards).toEqual([]);
      expect((res.body as CdsResponse).systemActions).toHaveLength(1);
    });
  });

  describe('re-signing', () => {
    it.each([LIKELY, NEEDS_DOCUMENTATION, NOT_COVERED])(
      '%s signed again with the system action applied: same assessment, no system action',
      async (file) => {
        const body = fixture(file);
        const first = await signOk(serviceId, body);
        const updated = first.systemActions?.[0]?.resource;
        expect(updated).toBeDefined();
        const again = await signOk(serviceId, withDraftOrder(body, 0, updated));
        expect(again.systemActions).toBeUndefined();
        expect(coverageCards(again).map(assessmentOf)).toEqual(coverageCards(first).map(assessmentOf));
      }
    );

    it('an earlier assertion with another outcome for the same Coverage is replaced, not kept beside the new one', async () => {
      const body = fixture(LIKELY);
      const first = await signOk(serviceId, body);
      const updated = structuredClone(first.systemActions?.[0]?.resource as MedicationRequest);
      const stale = coverageInformations(updated)[0] as Extension;
      const covered = subs(stale, 'covered')[0] as Extension;
      covered.valueCode = 'not-covered';
      const again = await signOk(serviceId, withDraftOrder(body, 0, updated));
      expect(again.systemActions).toHaveLength(1);
      const resource = again.systemActions?.[0]?.resource as MedicationRequest;
      const infos = coverageInformations(resource);
      expect(infos).toHaveLength(1);
      expect(codeOf(infos[0] as Extension, 'covered')).toBe('covered');
    });
  });

  describe('412 through the real pipeline (contract section 3)', () => {
    let fhir: ScriptedServer;
    beforeAll(async () => {
      // Medication/blincyto-35mcg fails with 500, Medication/unknown is 404, every search fails with 500.
      fhir = await startScriptedServer((req) => {
        const path = pathOf(req);
        if (path === '/Medication/unknown') {
          return { kind: 'json', status: 404, body: { resourceType: 'OperationOutcome', issue: [] } };
        }
        return { kind: 'json', status: 500, body: { resourceType: 'OperationOutcome', issue: [] } };
      });
    });
    afterAll(async () => {
      await fhir.close();
    });

    it('a declared key missing and no fhirServer: 412 prefetch-unavailable naming the key', async () => {
      const body = withoutFhirServer(fixture(LIKELY));
      delete body.prefetch?.coverage;
      const res = await sign(serviceId, body);
      expect(res.status).toBe(412);
      expect(issuesOf(res)).toEqual([
        { code: 'processing', ours: 'prefetch-unavailable', expression: ['prefetch.coverage'] },
      ]);
    });

    it('one issue per unobtainable key: absent, or an OperationOutcome, with no fhirServer', async () => {
      const body = withoutFhirServer(fixture(LIKELY));
      delete body.prefetch?.patient;
      delete body.prefetch?.conditions;
      (body.prefetch as Record<string, unknown>).observations = {
        resourceType: 'OperationOutcome',
        issue: [{ severity: 'error', code: 'timeout' }],
      };
      const res = await sign(serviceId, body);
      expect(res.status).toBe(412);
      const expressions = issuesOf(res).map((i) => {
        expect(i.ours).toBe('prefetch-unavailable');
        return i.expression?.[0];
      });
      expect(expressions.sort()).toEqual(['prefetch.conditions', 'prefetch.observations', 'prefetch.patient']);
    });

    it('no prefetch at all and no fhirServer: one issue per declared key', async () => {
      const body = withoutFhirServer(fixture(LIKELY));
      delete body.prefetch;
      const res = await sign(serviceId, body);
      expect(res.status).toBe(412);
      const declared = Object.keys(h.service(serviceId).definition.prefetch).map((k) => `prefetch.${k}`);
      expect(
        issuesOf(res)
          .map((i) => i.expression?.[0])
          .sort()
      ).toEqual(declared.sort());
    });

    it('a patientId that cannot be put in a URL (a lone surrogate): 412 for the key it was needed for, no 500', async () => {
      const body = fixture(LIKELY);
      body.fhirServer = fhir.base;
      body.context.patientId = '\ud800';
      // The order (and the Patient) must name that patient to be governed (contract section 2).
      (body.context.draftOrders.entry![0]!.resource as MedicationRequest).subject = { reference: 'Patient/\ud800' };
      (body.prefetch!.patient as { id: string }).id = '\ud800';
      delete body.prefetch?.conditions;
      const res = await sign(serviceId, body);
      expect(res.status).toBe(412);
      expect(issuesOf(res)).toEqual([
        { code: 'processing', ours: 'prefetch-unavailable', expression: ['prefetch.conditions'] },
      ]);
    });

    it('a missing key the fhirServer cannot deliver (500): 412 prefetch-unavailable', async () => {
      const body = fixture(LIKELY);
      body.fhirServer = fhir.base;
      delete body.prefetch?.conditions;
      const res = await sign(serviceId, body);
      expect(res.status).toBe(412);
      expect(issuesOf(res)).toEqual([
        { code: 'processing', ours: 'prefetch-unavailable', expression: ['prefetch.conditions'] },
      ]);
    });

    it('a Medication reference with no fhirServer: 412 medication-unavailable', async () => {
      const res = await sign(serviceId, withoutFhirServer(fixture(MEDICATION_REFERENCE)));
      expect(res.status).toBe(412);
      expect(issuesOf(res)).toEqual([
        {
          code: 'processing',
          ours: 'medication-unavailable',
          expression: ['context.draftOrders.entry[0].resource.medicationReference'],
        },
      ]);
    });

    it('a Medication read that fails: 412 medication-unavailable', async () => {
      const body = fixture(MEDICATION_REFERENCE);
      body.fhirServer = fhir.base;
      const res = await sign(serviceId, body);
      expect(res.status).toBe(412);
      expect(issuesOf(res).map((i) => i.ours)).toEqual(['medication-unavailable']);
      expect(fhir.requests.some((r) => pathOf(r) === '/Medication/blincyto-35mcg')).toBe(true);
    });

    it('a fhirServer outside the allowlist: 412 medication-unavailable, and no connection is made', async () => {
      // The same service with only port 1 of 127.0.0.1 allowed: the scripted server's port is not.
      const strict = await buildServiceApp({ env: { CDS_FHIR_ALLOWLIST: 'http://127.0.0.1:1' } });
      try {
        const body = fixture(MEDICATION_REFERENCE);
        body.fhirServer = fhir.base;
        const before = fhir.connections;
        const res = await request(strict.app).post(`/cds-services/${serviceId}`).send(body);
        expect(res.status).toBe(412);
        expect(issuesOf(res).map((i) => i.ours)).toEqual(['medication-unavailable']);
        expect(fhir.connections).toBe(before);
      } finally {
        await strict.close();
      }
    });

    it('a Medication the server does not know (404) is not governed: {"cards": []}', async () => {
      const body = fixture(MEDICATION_REFERENCE);
      body.fhirServer = fhir.base;
      const order = body.context.draftOrders.entry?.[0]?.resource as MedicationRequest;
      order.medicationReference = { reference: 'Medication/unknown' };
      const res = await sign(serviceId, body);
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ cards: [] });
    });

    it('nothing governed needs no data: no prefetch and no fhirServer still answer {"cards": []}', async () => {
      const body = withoutFhirServer(fixture(NO_GOVERNED));
      delete body.prefetch;
      const res = await sign(serviceId, body);
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ cards: [] });
    });

    it('400 comes before 412: an access token without fhirServer is fhir-server-required', async () => {
      const body = fixture(LIKELY);
      delete body.fhirServer;
      delete body.prefetch?.coverage;
      const res = await sign(serviceId, body);
      expect(res.status).toBe(400);
      expect(issuesOf(res).map((i) => i.ours)).toEqual(['fhir-server-required']);
    });
  });
});
