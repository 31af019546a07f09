import fc from 'fast-check';
import type { Extension, MedicationRequest, Task } from 'fhir/r4';
import type { Card, CdsResponse } from '../hooks/types';
import type { OrderDecision } from '../policy/types';
import { assertCardRules } from '../../test/card-rules';
import { cloneJson } from '../dosing/json';
import { buildResponse } from './build';
import { COVERAGE_INFORMATION_URL } from './coverage-information';
import {
  BASE_URL,
  RECEIVED,
  config,
  makeDecision,
  makeOrder,
  makeRequest,
  makeService,
  noDose,
  sequentialUuid,
} from './test-support';

const service = makeService();
const CANONICAL = `${BASE_URL}/fhir/Questionnaire/blinatumomab-mmm|2024-05-09`;

function build(decisions: OrderDecision[], opts: Partial<Parameters<typeof buildResponse>[2]> = {}): CdsResponse {
  const request = opts.request ?? makeRequest(decisions.map((d) => d.order));
  const response = buildResponse(service, decisions, {
    request,
    receivedDate: RECEIVED,
    baseUrl: BASE_URL,
    configuration: config(),
    uuid: sequentialUuid(),
    ...opts,
  });
  assertCardRules(response, request);
  return response;
}

function ciOf(resource: unknown): Extension[] {
  return ((resource as MedicationRequest).extension ?? []).filter((e) => e.url === COVERAGE_INFORMATION_URL);
}

function sub(ext: Extension, url: string): Extension[] {
  return (ext.extension ?? []).filter((e) => e.url === url);
}

function onlyCi(response: CdsResponse, index = 0): Extension {
  const list = ciOf(response.systemActions?.[index]?.resource);
  expect(list).toHaveLength(1);
  return list[0]!;
}

function kinds(response: CdsResponse): string[] {
  return response.cards.map((c) => {
    if (c.extension?.['coverage-assessment']) {
      return 'coverage';
    }
    if (c.source.topic?.code === 'coverage-info') {
      return 'documentation';
    }
    return c.overrideReasons ? 'correction' : 'dose-check';
  });
}

const correctedOrder = (id: string): MedicationRequest =>
  makeOrder(id, {
    dispenseRequest: {
      quantity: { value: 28, unit: 'vial', system: 'http://unitsofmeasure.org', code: '{vial}' },
      expectedSupplyDuration: { value: 42, unit: 'd', system: 'http://unitsofmeasure.org', code: 'd' },
    },
  });

const correctionDose = (id: string) =>
  noDose({
    findings: ['The quantity ordered (40 vials) is over the limit of 28 vials per cycle.'],
    arithmetic: ['Vials per cycle: 28 x 35 mcg = 980 mcg (980 units of J9039)'],
    prompts: [{ kind: 'stale-weight', text: 'The latest weight is 45 days old: record a current weight.' }],
    correction: { resource: correctedOrder(id), summary: 'Blinatumomab: order 28 vials per cycle (ordered 40)' },
  });

describe('buildResponse: likelihoods', () => {
  test('likely: an info coverage card and a covered / auth-needed / clinical system action', () => {
    const decision = makeDecision('likely');
    const res = build([decision]);
    expect(res.cards).toHaveLength(1);
    const card = res.cards[0]!;
    expect(card.indicator).toBe('info');
    expect(card.summary).toBe(
      'Blinatumomab (cycle 1): likely approved under MMM Healthcare policy (prior authorization required)'
    );
    expect(card.source).toEqual({
      label: 'MMM Healthcare',
      topic: {
        system: 'http://hl7.org/fhir/us/davinci-crd/CodeSystem/temp',
        code: 'coverage-info',
        display: 'Coverage Information',
      },
    });
    expect(card.extension?.['coverage-assessment']).toEqual({
      order: 'MedicationRequest/mr-1',
      policy: 'blinatumomab-mmm',
      policyVersion: '2024-05-09',
      likelihood: 'likely',
      pathway: 'a-i-ii-iii-a',
      criteria: [
        { id: 'cd19-positive', clause: '000 A.i', status: 'met', evidence: ['Observation/cd19-1'] },
        {
          id: 'relapsed-or-refractory',
          clause: '000 A.iii.A',
          status: 'met',
          evidence: ['Observation/phase-1', 'Condition/all-1'],
        },
        { id: 'single-agent', clause: '000 A.ii', status: 'met' },
      ],
      authorization: { type: 'initial', cycle: 1, length: 'per cycle' },
    });

    expect(res.systemActions).toHaveLength(1);
    const action = res.systemActions![0]!;
    expect(action.type).toBe('update');
    expect(action.description).toMatch(/MMM Healthcare coverage information/);
    const resource = action.resource as MedicationRequest;
    expect(resource.status).toBe('draft');
    const { extension, ...rest } = resource;
    expect(rest).toEqual(decision.order);
    expect(extension).toHaveLength(1);

    const ci = onlyCi(res);
    expect(sub(ci, 'coverage')[0]?.valueReference).toEqual({ reference: 'Coverage/cov-1' });
    expect(sub(ci, 'covered')[0]?.valueCode).toBe('covered');
    expect(sub(ci, 'pa-needed')[0]?.valueCode).toBe('auth-needed');
    expect(sub(ci, 'doc-needed')[0]?.valueCode).toBe('clinical');
    expect(sub(ci, 'billingCode')[0]?.valueCoding).toMatchObject({
      system: 'http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets',
      code: 'J9039',
    });
    expect(sub(ci, 'date')[0]?.valueDate).toBe(RECEIVED);
    expect(sub(ci, 'coverage-assertion-id')[0]?.valueString).toEqual(expect.any(String));
    expect(sub(ci, 'questionnaire')).toEqual([]);
    expect(sub(ci, 'reason')).toEqual([]);
    const details = sub(ci, 'detail');
    expect(details).toHaveLength(1);
    expect(details[0]!.extension).toEqual([
      {
        url: 'code',
        valueCodeableConcept: {
          coding: [
            {
              system: 'http://hl7.org/fhir/us/davinci-crd/CodeSystem/temp',
              code: 'allowed-quantity',
              display: 'Maximum quantity',
            },
          ],
        },
      },
      { url: 'value', valueQuantity: { value: 28, unit: 'vial', system: 'http://unitsofmeasure.org', code: '{vial}' } },
      { url: 'qualification', valueString: 'per cycle' },
    ]);
  });

  test('likely: the detail names the order, the pathway and every criterion with clause and evidence', () => {
    const res = build([makeDecision('likely')]);
    const detail = res.cards[0]!.detail!;
    expect(detail).toContain('blinatumomab (Blincyto)');
    expect(detail).toContain('Blincyto 35 mcg injection');
    expect(detail).toContain('MedicationRequest/mr-1');
    expect(detail).toContain('**Pathway:** Relapsed or refractory B-ALL, single agent (a-i-ii-iii-a)');
    expect(detail).toContain('| CD19-positive B-cell precursor ALL | 000 A.i | met | Observation/cd19-1 |');
    expect(detail).toContain(
      '| Relapsed or refractory disease | 000 A.iii.A | met | Observation/phase-1, Condition/all-1 |'
    );
    expect(detail).toContain('| Used as single-agent therapy | 000 A.ii | met | none |');
    expect(detail).toContain('MP-RX-FP-14-23');
  });

  test('needs-documentation: warning coverage card, documentation card with a Task, questionnaire in the assertion', () => {
    const decision = makeDecision('needs-documentation');
    const res = build([decision]);
    expect(kinds(res)).toEqual(['coverage', 'documentation']);
    const [coverage, doc] = res.cards as [Card, Card];
    expect(coverage.indicator).toBe('warning');
    expect(coverage.summary).toBe(
      'Blinatumomab (cycle 1): prior authorization required; submit 2 documentation items to be approved under MMM Healthcare policy'
    );
    expect(coverage.extension?.['coverage-assessment']).toMatchObject({
      likelihood: 'needs-documentation',
      missingDocumentation: decision.missingDocumentation,
    });
    expect(coverage.detail).toContain('**Missing documentation:**');

    expect(doc.indicator).toBe('warning');
    expect(doc.source.topic?.code).toBe('coverage-info');
    expect(doc.summary).toBe(
      'Blinatumomab (cycle 1): submit 2 documentation items with the prior authorization request (MMM Healthcare policy)'
    );
    expect(doc.detail).toContain('Document which complete remission (first or second) the patient is in');
    expect(doc.detail).toContain('Submit chart notes supporting every criterion');
    expect(doc.selectionBehavior).toBe('at-most-one');
    expect(doc.suggestions).toHaveLength(1);
    const suggestion = doc.suggestions![0]!;
    expect(suggestion).toMatchObject({ uuid: expect.any(String), label: expect.any(String), isRecommended: true });
    expect(suggestion.actions).toHaveLength(1);
    expect(suggestion.actions![0]!.type).toBe('create');
    const task = suggestion.actions![0]!.resource as Task;
    expect(task).toMatchObject({
      resourceType: 'Task',
      status: 'ready',
      intent: 'order',
      code: { coding: [{ system: 'http://hl7.org/fhir/uv/sdc/CodeSystem/temp', code: 'complete-questionnaire' }] },
      for: { reference: 'Patient/pat-1' },
      basedOn: [{ reference: 'MedicationRequest/mr-1' }],
      authoredOn: RECEIVED,
      requester: { display: 'MMM Healthcare' },
    });
    expect(task.focus).toBeUndefined();
    expect(task.input).toEqual([
      {
        type: {
          coding: [
            { system: 'http://hl7.org/fhir/uv/sdc/CodeSystem/temp', code: 'questionnaire', display: 'Questionnaire' },
          ],
        },
        valueCanonical: CANONICAL,
      },
      expect.objectContaining({
        type: {
          coding: [
            expect.objectContaining({
              system: 'http://hl7.org/fhir/us/davinci-crd/CodeSystem/temp',
              code: 'after-completion-action',
            }),
          ],
        },
        valueCodeableConcept: expect.objectContaining({ text: expect.stringContaining('prior authorization request') }),
      }),
    ]);

    const ci = onlyCi(res);
    expect(sub(ci, 'questionnaire')[0]?.valueCanonical).toBe(CANONICAL);
    expect(sub(ci, 'doc-needed')[0]?.valueCode).toBe('clinical');
  });

  test('unlikely: the reason lists what is not met; no documentation card, no questionnaire', () => {
    const res = build([makeDecision('unlikely')]);
    expect(kinds(res)).toEqual(['coverage']);
    expect(res.cards[0]!.indicator).toBe('warning');
    expect(res.cards[0]!.summary).toBe(
      'Blinatumomab (cycle 1): approval unlikely under MMM Healthcare policy (1 criterion not met)'
    );
    expect(res.cards[0]!.detail).toContain('**Not met:**\n- Used as single-agent therapy (000 A.ii)');
    const ci = onlyCi(res);
    expect(sub(ci, 'covered')[0]?.valueCode).toBe('covered');
    expect(sub(ci, 'pa-needed')[0]?.valueCode).toBe('auth-needed');
    expect(sub(ci, 'reason')[0]?.valueCodeableConcept?.text).toBe(
      'Criteria not met under the MMM Healthcare policy: Used as single-agent therapy (000 A.ii)'
    );
    expect(sub(ci, 'questionnaire')).toEqual([]);
    expect(sub(ci, 'detail')).toHaveLength(1);
  });

  test('not-covered: not-covered + reason, and no pa-needed, doc-needed, questionnaire or detail', () => {
    const res = build([makeDecision('not-covered')]);
    const card = res.cards[0]!;
    expect(card.indicator).toBe('warning');
    expect(card.summary).toBe(
      'Blinatumomab (cycle 1): not covered under MMM Healthcare policy: Diffuse large B-cell lymphoma is excluded (000 D.i)'
    );
    const assessment = card.extension?.['coverage-assessment'] as Record<string, unknown>;
    expect(assessment.likelihood).toBe('not-covered');
    expect(assessment).not.toHaveProperty('pathway');
    expect(card.detail).toContain('**Pathway:** none (an exclusion decides)');
    expect(card.detail).toContain('Diffuse large B-cell lymphoma is excluded (000 D.i)');
    const ci = onlyCi(res);
    expect(sub(ci, 'covered')[0]?.valueCode).toBe('not-covered');
    expect(sub(ci, 'reason')[0]?.valueCodeableConcept?.text).toContain('Diffuse large B-cell lymphoma is excluded');
    for (const url of ['pa-needed', 'doc-needed', 'questionnaire', 'detail']) {
      expect(sub(ci, url)).toEqual([]);
    }
    expect(sub(ci, 'billingCode')).toHaveLength(1);
  });

  test('service 001: its label already says "policy"; summaries stay readable and short', () => {
    const single = makeService({
      id: 'blinatumomab-single-agent',
      label: 'Blinatumomab single-agent policy',
      version: '2021-03',
    });
    for (const likelihood of ['likely', 'needs-documentation', 'unlikely', 'not-covered'] as const) {
      const decision = makeDecision(likelihood);
      const request = makeRequest([decision.order]);
      const res = buildResponse(single, [decision], {
        request,
        receivedDate: RECEIVED,
        baseUrl: BASE_URL,
        configuration: config(),
      });
      assertCardRules(res, request);
      for (const card of res.cards) {
        expect(card.summary).not.toMatch(/policy policy/);
        expect(card.source.label).toBe('Blinatumomab single-agent policy');
      }
    }
    const likely = buildResponse(single, [makeDecision('likely')], {
      request: makeRequest([makeOrder('mr-1')]),
      receivedDate: RECEIVED,
      baseUrl: BASE_URL,
      configuration: config(),
    });
    expect(likely.cards[0]!.summary).toBe(
      'Blinatumomab (cycle 1): likely approved under Blinatumomab single-agent policy (prior authorization required)'
    );
  });

  test('a long not-covered reason still gives a summary of at most 139 characters', () => {
    const res = build([makeDecision('not-covered', { notCoveredReasons: ['x'.repeat(400)] })]);
    expect(Array.from(res.cards[0]!.summary).length).toBeLessThanOrEqual(139);
    expect(res.cards[0]!.summary.endsWith('…')).toBe(true);
  });

  test('allowed-period is added when the supply duration is wrong', () => {
    const res = build([
      makeDecision('likely', { dose: noDose({ allowedPeriod: { start: '2024-06-03', end: '2024-07-14' } }) }),
    ]);
    const details = sub(onlyCi(res), 'detail');
    expect(details).toHaveLength(2);
    expect(details[1]!.extension).toEqual([
      {
        url: 'code',
        valueCodeableConcept: {
          coding: [
            {
              system: 'http://hl7.org/fhir/us/davinci-crd/CodeSystem/temp',
              code: 'allowed-period',
              display: 'Maximum allowed period',
            },
          ],
        },
      },
      { url: 'value', valuePeriod: { start: '2024-06-03', end: '2024-07-14' } },
      { url: 'qualification', valueString: expect.any(String) },
    ]);
  });
});

describe('buildResponse: when no system action is sent', () => {
  test('no active coverage: a warning card that says so, and no system action', () => {
    const res = build([makeDecision('likely', { coverage: undefined })]);
    expect(res).not.toHaveProperty('systemActions');
    expect(res.cards).toHaveLength(1);
    expect(res.cards[0]!.indicator).toBe('warning');
    expect(res.cards[0]!.summary).toBe(
      'Blinatumomab (cycle 1): no active coverage found for this patient; MMM Healthcare policy check: criteria met'
    );
    expect(res.cards[0]!.detail).toContain('No active coverage was found');
  });

  test('a draft order without an id: cards only, no suggestion, no system action, no order in the assessment', () => {
    const order = makeOrder(undefined);
    const decision = makeDecision('needs-documentation', { order, dose: correctionDose('x') });
    decision.dose.correction!.resource = makeOrder(undefined);
    const res = build([decision]);
    expect(res).not.toHaveProperty('systemActions');
    expect(kinds(res)).toEqual(['coverage', 'correction', 'documentation']);
    for (const card of res.cards) {
      expect(card.suggestions).toBeUndefined();
      expect(card.selectionBehavior).toBeUndefined();
    }
    expect(res.cards[0]!.extension?.['coverage-assessment']).not.toHaveProperty('order');
    expect(res.cards[0]!.detail).toContain('draft order 1 (no id)');
    expect(res.cards[1]!.source.topic?.code).toBe('limits');
    expect(res.cards[1]!.summary).toBe('Blinatumomab: order 28 vials per cycle (ordered 40)');
    expect(res.cards[1]!.detail).toContain('change the order by hand');
  });

  test('the order already carries our assertion for that Coverage with the same outcome: no system action', () => {
    const first = build([makeDecision('likely')]);
    const signedAgain = first.systemActions![0]!.resource as MedicationRequest;
    const res = build([makeDecision('likely', { order: signedAgain })]);
    expect(res).not.toHaveProperty('systemActions');
    expect(res.cards).toHaveLength(1);
  });

  test('an earlier assertion for the same Coverage with another outcome is replaced', () => {
    const first = build([makeDecision('likely')]);
    const signedAgain = first.systemActions![0]!.resource as MedicationRequest;
    const res = build([makeDecision('not-covered', { order: signedAgain })]);
    const list = ciOf(res.systemActions![0]!.resource);
    expect(list).toHaveLength(1);
    expect(sub(list[0]!, 'covered')[0]?.valueCode).toBe('not-covered');
  });

  test("another Coverage's assertion and other extensions are kept, in place", () => {
    const other: Extension = {
      url: COVERAGE_INFORMATION_URL,
      extension: [
        { url: 'coverage', valueReference: { reference: 'Coverage/other-payer' } },
        { url: 'covered', valueCode: 'covered' },
        { url: 'pa-needed', valueCode: 'no-auth' },
        { url: 'date', valueDate: '2024-05-01' },
        { url: 'coverage-assertion-id', valueString: 'their-id' },
      ],
    };
    const phase: Extension = {
      url: 'http://example.org/fhir/StructureDefinition/treatment-phase',
      valueCodeableConcept: {
        coding: [{ system: 'http://example.org/fhir/CodeSystem/treatment-phase', code: 'consolidation' }],
      },
    };
    const order = makeOrder('mr-1', { extension: [phase, other] });
    const res = build([makeDecision('likely', { order })]);
    const resource = res.systemActions![0]!.resource as MedicationRequest;
    expect(resource.extension).toHaveLength(3);
    expect(resource.extension![0]).toEqual(phase);
    expect(resource.extension![1]).toEqual(other);
    expect(resource.extension![2]!.url).toBe(COVERAGE_INFORMATION_URL);
    // The incoming order is not modified.
    expect(order.extension).toHaveLength(2);
  });

  test('empty values in the received order are not echoed (CDS Hooks: never null, "" or [])', () => {
    const order = makeOrder('mr-1', {
      note: [],
      priority: '' as never,
      medicationCodeableConcept: { text: 'Blincyto', coding: [] },
    });
    const res = build([makeDecision('likely', { order })]);
    const resource = res.systemActions![0]!.resource as MedicationRequest;
    expect(resource).not.toHaveProperty('note');
    expect(resource).not.toHaveProperty('priority');
    expect(resource.medicationCodeableConcept).toEqual({ text: 'Blincyto' });
  });

  test('a non-draft status is kept as received', () => {
    const order = makeOrder('mr-1', { status: 'active' });
    const res = build([makeDecision('likely', { order })]);
    expect((res.systemActions![0]!.resource as MedicationRequest).status).toBe('active');
  });
});

describe('buildResponse: configuration and order', () => {
  test('max-cards 0 answers {"cards": []}', () => {
    const res = build([makeDecision('needs-documentation', { dose: correctionDose('mr-1') })], {
      configuration: config({ maxCards: 0 }),
    });
    expect(res).toEqual({ cards: [] });
  });

  test('max-cards 1 keeps the coverage card; the dropped documentation card takes the questionnaire with it', () => {
    const res = build([makeDecision('needs-documentation')], { configuration: config({ maxCards: 1 }) });
    expect(kinds(res)).toEqual(['coverage']);
    const ci = onlyCi(res);
    expect(sub(ci, 'questionnaire')).toEqual([]);
    expect(sub(ci, 'doc-needed')[0]?.valueCode).toBe('clinical');
  });

  test('coverage-info false: no system action, no coverage or documentation card; limits cards stay', () => {
    const res = build([makeDecision('needs-documentation', { dose: correctionDose('mr-1') })], {
      configuration: config({ coverageInfo: false }),
    });
    expect(res).not.toHaveProperty('systemActions');
    expect(kinds(res)).toEqual(['correction']);
  });

  test('limits false: no correction or dose-check card', () => {
    const res = build(
      [
        makeDecision('likely', { dose: correctionDose('mr-1') }),
        makeDecision('likely', {
          orderIndex: 1,
          order: makeOrder('mr-2'),
          dose: noDose({ prompts: [{ kind: 'missing-weight', text: 'No weight is recorded.' }] }),
        }),
      ],
      { configuration: config({ limits: false }) }
    );
    expect(kinds(res)).toEqual(['coverage', 'coverage']);
    expect(res.systemActions).toHaveLength(2);
  });

  test('several governed orders: sorted by kind, then by position in draftOrders; one system action each', () => {
    const a = makeDecision('needs-documentation', {
      orderIndex: 0,
      order: makeOrder('mr-a'),
      dose: correctionDose('mr-a'),
    });
    const b = makeDecision('likely', {
      orderIndex: 2,
      order: makeOrder('mr-b'),
      dose: noDose({ prompts: [{ kind: 'missing-height', text: 'Record the height.' }] }),
    });
    const c = makeDecision('needs-documentation', {
      orderIndex: 1,
      order: makeOrder('mr-c'),
      dose: correctionDose('mr-c'),
    });
    const request = makeRequest([a.order, c.order, b.order]);
    const res = build([b, c, a], { request });
    const orderOf = (card: Card): string => {
      const assessment = card.extension?.['coverage-assessment'] as { order?: string } | undefined;
      return assessment?.order ?? /MedicationRequest\/(mr-[a-z])/.exec(card.detail ?? '')?.[0] ?? '?';
    };
    expect(res.cards.map((card, i) => `${kinds(res)[i]} ${orderOf(card)}`)).toEqual([
      'coverage MedicationRequest/mr-a',
      'coverage MedicationRequest/mr-c',
      'coverage MedicationRequest/mr-b',
      'correction MedicationRequest/mr-a',
      'correction MedicationRequest/mr-c',
      'dose-check MedicationRequest/mr-b',
      'documentation MedicationRequest/mr-a',
      'documentation MedicationRequest/mr-c',
    ]);
    expect(res.systemActions!.map((s) => s.resource?.id)).toEqual(['mr-a', 'mr-c', 'mr-b']);
    const ids = res.systemActions!.map((s) => sub(ciOf(s.resource)[0]!, 'coverage-assertion-id')[0]?.valueString);
    expect(new Set(ids).size).toBe(3);
  });

  test('max-cards cuts after sorting', () => {
    const a = makeDecision('likely', { orderIndex: 0, order: makeOrder('mr-a'), dose: correctionDose('mr-a') });
    const b = makeDecision('likely', { orderIndex: 1, order: makeOrder('mr-b') });
    const res = build([a, b], { configuration: config({ maxCards: 2 }) });
    expect(kinds(res)).toEqual(['coverage', 'coverage']);
  });

  test('without a uuid source every identifier is a fresh random UUID', () => {
    const decision = makeDecision('needs-documentation', { dose: correctionDose('mr-1') });
    const request = makeRequest([decision.order]);
    const res = buildResponse(service, [decision], {
      request,
      receivedDate: RECEIVED,
      baseUrl: BASE_URL,
      configuration: config(),
    });
    assertCardRules(res, request);
    const uuids = [
      ...res.cards.map((c) => c.uuid),
      ...res.cards.flatMap((c) => (c.suggestions ?? []).map((s) => s.uuid)),
      sub(ciOf(res.systemActions![0]!.resource)[0]!, 'coverage-assertion-id')[0]!.valueString!,
    ];
    expect(uuids).toHaveLength(6);
    for (const u of uuids) {
      expect(u).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    }
    expect(new Set(uuids).size).toBe(6);
  });

  test('neither the request nor the decisions are modified', () => {
    const decision = makeDecision('needs-documentation', { dose: correctionDose('mr-1') });
    const request = makeRequest([decision.order]);
    const before = structuredClone({ request, decision });
    build([decision], { request });
    expect({ request, decision }).toEqual(before);
  });
});

describe('buildResponse: dose cards', () => {
  test('correction card: summary, findings, arithmetic and prompts, one update suggestion, override reasons', () => {
    const old: Extension = {
      url: COVERAGE_INFORMATION_URL,
      extension: [{ url: 'coverage', valueReference: { reference: 'Coverage/cov-1' } }],
    };
    const dose = correctionDose('mr-1');
    dose.correction!.resource = makeOrder('mr-1', { extension: [old] });
    const res = build([makeDecision('likely', { dose })]);
    expect(kinds(res)).toEqual(['coverage', 'correction']);
    const card = res.cards[1]!;
    expect(card.indicator).toBe('warning');
    expect(card.source.topic).toEqual({
      system: 'http://hl7.org/fhir/us/davinci-crd/CodeSystem/temp',
      code: 'limits',
      display: 'Limits',
    });
    expect(card.summary).toBe('Blinatumomab: order 28 vials per cycle (ordered 40)');
    expect(card.detail).toContain('The quantity ordered (40 vials) is over the limit of 28 vials per cycle.');
    expect(card.detail).toContain('Vials per cycle: 28 x 35 mcg = 980 mcg (980 units of J9039)');
    expect(card.detail).toContain('The latest weight is 45 days old: record a current weight.');
    expect(card.selectionBehavior).toBe('at-most-one');
    expect(card.suggestions).toHaveLength(1);
    const s = card.suggestions![0]!;
    expect(s).toMatchObject({ uuid: expect.any(String), label: expect.any(String), isRecommended: true });
    expect(s.actions).toHaveLength(1);
    expect(s.actions![0]!.type).toBe('update');
    const resource = s.actions![0]!.resource as MedicationRequest;
    expect(resource.id).toBe('mr-1');
    expect(resource.extension).toBeUndefined();
    const { extension: _dropped, ...expected } = dose.correction!.resource;
    expect(resource).toEqual(expected);
    expect(card.overrideReasons!.length).toBeGreaterThanOrEqual(3);
    for (const r of card.overrideReasons!) {
      expect(r).toEqual({ system: expect.any(String), code: expect.any(String), display: expect.any(String) });
    }
    expect(card.overrideReasons!.map((r) => r.code)).toEqual(
      expect.arrayContaining(['re-escalation-after-toxicity', 'protocol-dosing', 'clinical-judgement'])
    );
  });

  test('dose-check card: only without a correction and with prompts; no suggestion', () => {
    const prompts = [
      { kind: 'stale-weight' as const, text: 'The latest weight is 45 days old.' },
      { kind: 'missing-height' as const, text: 'No height is recorded.' },
    ];
    const res = build([
      makeDecision('likely', { dose: noDose({ prompts, arithmetic: ['BSA (Mosteller): 1.80 m2'] }) }),
    ]);
    expect(kinds(res)).toEqual(['coverage', 'dose-check']);
    const card = res.cards[1]!;
    expect(card.indicator).toBe('warning');
    expect(card.source.topic?.code).toBe('limits');
    expect(card.summary).toBe('Blinatumomab (cycle 1) dose check: record a current weight; record the height');
    expect(card.detail).toContain('The latest weight is 45 days old.');
    expect(card.detail).toContain('No height is recorded.');
    expect(card.detail).toContain('BSA (Mosteller): 1.80 m2');
    expect(card.suggestions).toBeUndefined();
    expect(card.selectionBehavior).toBeUndefined();

    const none = build([makeDecision('likely')]);
    expect(kinds(none)).toEqual(['coverage']);
  });
});

describe('buildResponse: text from the request is escaped in markdown', () => {
  test('HTML, javascript links, emphasis and table pipes cannot get through', () => {
    const order = makeOrder('mr-1', {
      medicationCodeableConcept: {
        coding: [{ system: 'http://www.nlm.nih.gov/research/umls/rxnorm', code: '1597262' }],
        text: '<script>alert(1)</script> [click](javascript:alert(1)) **bold**',
      },
    });
    const decision = makeDecision('needs-documentation', {
      order,
      criteria: [
        {
          id: 'cd19-positive',
          short: 'CD19 on the leukemic blasts',
          clause: '000 A.i',
          description: 'CD19 *positive* | injected',
          status: 'met',
          evidence: ['Observation/a|b', 'Observation/<img src=x onerror=alert(1)>'],
          evidenceItems: [],
        },
      ],
      missingDocumentation: [
        {
          criterion: 'which-remission',
          kind: 'unknown-criterion',
          request: 'Send [this](javascript:alert(2)) <b>now</b>\n# heading',
        },
      ],
      dose: noDose({ prompts: [{ kind: 'unreadable-dose', text: '<iframe src="javascript:alert(3)">' }] }),
    });
    const res = build([decision]);
    for (const card of res.cards) {
      const detail = card.detail ?? '';
      expect(detail).not.toMatch(/<\s*(script|img|iframe|b)\b/i);
      expect(detail).not.toMatch(/(?<!\\)\]\(javascript:/i);
      expect(detail).not.toMatch(/(^|[^\\])\*\*bold/);
      expect(detail).not.toMatch(/^# heading/m);
    }
    const coverage = res.cards[0]!.detail!;
    expect(coverage).toContain(
      '&lt;script&gt;alert(1)&lt;/script&gt; \\[click\\](javascript:alert(1)) \\*\\*bold\\*\\*'
    );
    // The criteria table keeps exactly four columns per row.
    const row = coverage.split('\n').find((l) => l.includes('CD19'))!;
    expect(row.split(/(?<!\\)\|/).length - 2).toBe(4);
    expect(row).toContain('CD19 \\*positive\\* \\| injected');
    expect(row).toContain('Observation/a\\|b');
  });
});

describe('buildResponse: orders nested thousands of levels deep', () => {
  test('the order as received is carried whole in the system action and the correction, without a crash', () => {
    let deep: unknown = 'leaf';
    for (let i = 0; i < 20000; i++) {
      deep = i % 2 === 0 ? [deep] : { nested: deep };
    }
    const order = makeOrder('mr-1', { note: [{ text: 'n', extension: [{ url: 'x', valueString: 'y' }] }] });
    (order as unknown as Record<string, unknown>).deep = deep;
    const corrected = cloneJson(order);
    corrected.dispenseRequest = { ...corrected.dispenseRequest, quantity: { value: 28, unit: 'vial' } };
    const res = build([
      makeDecision('likely', {
        order,
        dose: noDose({ findings: ['Over the limit.'], correction: { resource: corrected, summary: 'Order 28 vials' } }),
      }),
    ]);
    const sent = res.systemActions![0]!.resource as unknown as Record<string, unknown>;
    let depth = 0;
    let v: unknown = sent.deep;
    while (typeof v === 'object' && v !== null) {
      v = Array.isArray(v) ? v[0] : (v as { nested: unknown }).nested;
      depth += 1;
    }
    expect({ depth, leaf: v }).toEqual({ depth: 20000, leaf: 'leaf' });
    const correction = res.cards.find((c) => c.suggestions)!;
    expect(correction.suggestions![0]!.label).toBe('Apply the corrected quantity');
  });
});

describe('buildResponse: properties over many combinations', () => {
  const likelihoods = ['likely', 'needs-documentation', 'unlikely', 'not-covered'] as const;
  const orderArb = fc.record({
    likelihood: fc.constantFrom(...likelihoods),
    hasId: fc.boolean(),
    hasCoverage: fc.boolean(),
    correction: fc.boolean(),
    prompts: fc.boolean(),
    allowedPeriod: fc.boolean(),
    existing: fc.constantFrom('none', 'same', 'other-outcome', 'other-coverage'),
    text: fc.string({ maxLength: 40 }),
  });

  test('every response follows the card rules, max-cards and the system-action rules', () => {
    fc.assert(
      fc.property(
        fc.array(orderArb, { minLength: 1, maxLength: 3 }),
        fc.record({ coverageInfo: fc.boolean(), limits: fc.boolean(), maxCards: fc.integer({ min: 0, max: 10 }) }),
        (orders, configuration) => {
          let expectedActions = 0;
          const decisions = orders.map((o, i) => {
            const id = o.hasId ? `mr-${i}` : undefined;
            const previous = makeDecision(
              o.existing === 'other-outcome'
                ? o.likelihood === 'not-covered'
                  ? 'likely'
                  : 'not-covered'
                : o.likelihood,
              {
                order: makeOrder(id ?? `tmp-${i}`),
                coverage: o.existing === 'other-coverage' ? 'Coverage/elsewhere' : 'Coverage/cov-1',
              }
            );
            const prior =
              o.existing === 'none'
                ? []
                : ciOf(
                    buildResponse(service, [previous], {
                      request: makeRequest([previous.order]),
                      receivedDate: '2024-05-01',
                      baseUrl: BASE_URL,
                      configuration: config(),
                    }).systemActions![0]!.resource
                  );
            const order = makeOrder(id, {
              medicationCodeableConcept: { text: o.text },
              ...(prior.length > 0 ? { extension: prior } : {}),
            });
            const dose = noDose({
              prompts: o.prompts ? [{ kind: 'missing-weight', text: `No weight ${o.text}` }] : [],
              allowedPeriod: o.allowedPeriod ? { start: '2024-06-03', end: '2024-07-14' } : undefined,
              correction: o.correction ? { resource: makeOrder(id ?? 'x'), summary: `Correct ${o.text}` } : undefined,
            });
            if (o.hasId && o.hasCoverage && !(o.existing === 'same')) {
              expectedActions += 1;
            }
            return makeDecision(o.likelihood, {
              orderIndex: i,
              order,
              coverage: o.hasCoverage ? 'Coverage/cov-1' : undefined,
              dose,
            });
          });
          const request = makeRequest(decisions.map((d) => d.order));
          const res = buildResponse(service, decisions, {
            request,
            receivedDate: RECEIVED,
            baseUrl: BASE_URL,
            configuration,
            uuid: sequentialUuid(),
          });
          assertCardRules(res, request);
          if (configuration.maxCards === 0) {
            expect(res).toEqual({ cards: [] });
            return;
          }
          expect(res.cards.length).toBeLessThanOrEqual(configuration.maxCards);
          expect(res.systemActions?.length ?? 0).toBe(configuration.coverageInfo ? expectedActions : 0);
          for (const card of res.cards) {
            if (!configuration.coverageInfo) {
              expect(card.source.topic?.code).toBe('limits');
            }
            if (!configuration.limits) {
              expect(card.source.topic?.code).toBe('coverage-info');
            }
          }
        }
      ),
      { numRuns: 300 }
    );
  });
});
