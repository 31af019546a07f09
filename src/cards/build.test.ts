import fc from 'fast-check';
import type { Extension, MedicationRequest, Task } from 'fhir/r4';
import type { Card, CdsResponse } from '../hooks/types';
import type { OrderDecision } from '../policy/types';
import { assertCardRules } from '../../test/card-rules';
import { renderMarkdown } from '../../test/helpers/markdown-renderers';
import { cloneJson } from '../dosing/json';
import { buildResponse } from './build';
import { COVERAGE_INFORMATION_URL } from './coverage-information';
import {
  BASE_URL,
  RECEIVED,
  config,
  makeDecision,
  makeOrder,
  makeOutline,
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
  assertCardRules(response, request, { service, baseUrl: BASE_URL });
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
    correction: { resource: correctedOrder(id), summary: 'Correct the order: 28 vials per cycle' },
  });

describe('buildResponse: likelihoods', () => {
  test('likely: an info coverage card, its policy link, and a covered / auth-needed / clinical system action', () => {
    const decision = makeDecision('likely');
    const res = build([decision]);
    expect(res.cards).toHaveLength(1);
    const card = res.cards[0]!;
    expect(card.indicator).toBe('info');
    expect(card.summary).toBe('Blinatumomab cycle 1: likely approved with prior authorization');
    expect(card.source).toEqual({
      label: 'MMM Healthcare',
      topic: {
        system: 'http://hl7.org/fhir/us/davinci-crd/CodeSystem/temp',
        code: 'coverage-info',
        display: 'Coverage Information',
      },
    });
    expect(card.links).toEqual([
      { label: 'Read the policy', url: `${BASE_URL}/policies/blinatumomab-mmm#000-a.iii.a`, type: 'absolute' },
    ]);
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
    expect(action.description).toBe(
      'Record the MMM Healthcare coverage information on this blinatumomab (Blincyto) order'
    );
    const resource = action.resource as MedicationRequest;
    expect(resource.status).toBe('draft');
    const { extension, insurance, ...rest } = resource;
    expect(rest).toEqual(decision.order);
    expect(insurance).toEqual([{ reference: 'Coverage/cov-1' }]);
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

  test('likely: the detail, in the contract order, with the best pathway only and evidence in words', () => {
    const res = build([makeDecision('likely')]);
    expect(res.cards[0]!.detail).toBe(
      [
        'MMM Healthcare is likely to approve blinatumomab cycle 1 (planned start 2024-06-03) with prior authorization: request it.',
        [
          '**Why** (Relapsed or refractory B-ALL, single agent):',
          '- Met: CD19 on the leukemic blasts (CD19 on leukemic blasts: Positive, 2024-05-20)',
          '- Met: relapsed or refractory disease (Cancer disease status: Relapse, 2024-05-20; Acute lymphoblastic leukemia, in relapse, 2024-05-02)',
          '- Met: blinatumomab as a single agent (nothing recorded against it)',
        ].join('\n'),
        '2 other approval routes checked.',
        '**Policy:** MMM Healthcare policy MP-RX-FP-14-23, version 2024-05-09, pathway clauses 000 A.i, A.ii, A.iii.A; authorization per cycle (initial).',
      ].join('\n\n')
    );
  });

  test('needs-documentation: the summary names the document; documentation card with a Task; questionnaire', () => {
    const decision = makeDecision('needs-documentation');
    const res = build([decision]);
    expect(kinds(res)).toEqual(['coverage', 'documentation']);
    const [coverage, doc] = res.cards as [Card, Card];
    expect(coverage.indicator).toBe('warning');
    expect(coverage.summary).toBe(
      'Blinatumomab cycle 1: prior authorization needs 1 document: relapsed or refractory disease'
    );
    expect(coverage.extension?.['coverage-assessment']).toMatchObject({
      likelihood: 'needs-documentation',
      missingDocumentation: decision.missingDocumentation,
    });
    expect(coverage.detail).toContain('- **Unknown:** relapsed or refractory disease (not in the record)');
    expect(coverage.detail).toContain(
      '**To submit:**\n- Relapsed or refractory disease (not in the record): Documentation of relapsed or refractory disease\n' +
        '- Supporting clinical documentation (send with the request): Submit chart notes supporting every criterion'
    );
    expect(coverage.detail).not.toMatch(/- \[[ x]\]/);

    expect(doc.indicator).toBe('warning');
    expect(doc.source.topic?.code).toBe('coverage-info');
    expect(doc.summary).toBe(
      'Blinatumomab cycle 1: send 2 items to MMM Healthcare with the prior authorization request'
    );
    expect(doc.detail).toContain('Documentation of relapsed or refractory disease');
    expect(doc.detail).toContain('Submit chart notes supporting every criterion');
    expect(doc.detail).toContain('the MMM Healthcare documentation questionnaire');
    expect(doc.detail).not.toMatch(/https?:|Questionnaire\//);
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
          text: 'questionnaire',
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
          text: 'afterCompletion',
        },
        valueCodeableConcept: expect.objectContaining({ text: expect.stringContaining('prior authorization request') }),
      }),
    ]);

    const ci = onlyCi(res);
    expect(sub(ci, 'questionnaire')[0]?.valueCanonical).toBe(CANONICAL);
    expect(sub(ci, 'doc-needed')[0]?.valueCode).toBe('clinical');
  });

  test('unlikely: the summary names the deciding fact; the reason lists what the best pathway does not meet', () => {
    const res = build([makeDecision('unlikely')]);
    expect(kinds(res)).toEqual(['coverage']);
    expect(res.cards[0]!.indicator).toBe('warning');
    expect(res.cards[0]!.summary).toBe(
      'Blinatumomab cycle 1: approval unlikely: blinatumomab as a single agent not met'
    );
    expect(res.cards[0]!.detail).toContain(
      '- **Not met:** blinatumomab as a single agent (dasatinib (active order), 2024-04-01)'
    );
    expect(res.cards[0]!.detail).toContain('2 other approval routes checked: each has a criterion not met.');
    const ci = onlyCi(res);
    expect(sub(ci, 'covered')[0]?.valueCode).toBe('covered');
    expect(sub(ci, 'pa-needed')[0]?.valueCode).toBe('auth-needed');
    expect(sub(ci, 'reason')[0]?.valueCodeableConcept?.text).toBe(
      'Not met under the MMM Healthcare policy on Relapsed or refractory B-ALL, single agent: Used as single-agent therapy (000 A.ii)'
    );
    expect(sub(ci, 'questionnaire')).toEqual([]);
    expect(sub(ci, 'detail')).toHaveLength(1);
  });

  test('unlikely on an absence: "disease progression recorded <date>", the latest evidence date', () => {
    const decision = makeDecision('unlikely');
    decision.criteria[2] = {
      id: 'no-disease-progression',
      short: 'no disease progression',
      clause: '000 B.i',
      description: 'No disease progression since the first cycle',
      status: 'not-met',
      evidence: ['Observation/p-1', 'Observation/p-2'],
      evidenceItems: [
        { ref: 'Observation/p-1', text: 'Cancer disease status: Worsened', date: '2026-11-02' },
        { ref: 'Observation/p-2', text: 'Cancer disease status: Worsened', date: '2026-11-28' },
      ],
    };
    decision.pathway!.criteria = decision.criteria.map((c) => c.id);
    decision.cycle = 3;
    const withOutline = makeService({
      outline: {
        ...makeOutline(),
        criteria: [
          ...makeOutline().criteria,
          {
            id: 'no-disease-progression',
            short: 'no disease progression',
            clause: '000 B.i',
            description: 'No disease progression since the first cycle',
            documentation: 'An oncology note.',
          },
        ],
      },
    });
    const request = makeRequest([decision.order]);
    const res = buildResponse(withOutline, [decision], {
      request,
      receivedDate: RECEIVED,
      baseUrl: BASE_URL,
      configuration: config(),
    });
    assertCardRules(res, request, { service: withOutline, baseUrl: BASE_URL });
    expect(res.cards[0]!.summary).toBe(
      'Blinatumomab cycle 3: approval unlikely: disease progression recorded 2026-11-28'
    );
  });

  test('not-covered by an exclusion: the reason, the deciding criteria, the clause link; no pa-needed or detail', () => {
    const decision = makeDecision('not-covered');
    decision.criteria[0] = { ...decision.criteria[0]!, status: 'not-met' };
    const res = build([decision]);
    const card = res.cards[0]!;
    expect(card.indicator).toBe('warning');
    expect(card.summary).toBe('Blinatumomab cycle 1: not covered: the diagnosis on file is excluded by the policy');
    expect(card.links?.[0]?.url).toBe(`${BASE_URL}/policies/blinatumomab-mmm#000-d.i`);
    const assessment = card.extension?.['coverage-assessment'] as Record<string, unknown>;
    expect(assessment.likelihood).toBe('not-covered');
    expect(assessment).not.toHaveProperty('pathway');
    expect(card.detail).toContain('**Why:** Diffuse large B-cell lymphoma is excluded (000 D.i)');
    expect(card.detail).toContain(
      '- **Not met:** CD19 on the leukemic blasts (CD19 on leukemic blasts: Positive, 2024-05-20)'
    );
    // Contract section 5: a not-covered card shows no authorization length.
    expect(card.detail).not.toMatch(/authorization per cycle/);
    expect(card.detail).toContain(
      '**Policy:** MMM Healthcare policy MP-RX-FP-14-23, version 2024-05-09, clause 000 D.i.'
    );
    const ci = onlyCi(res);
    expect(sub(ci, 'covered')[0]?.valueCode).toBe('not-covered');
    expect(sub(ci, 'reason')[0]?.valueCodeableConcept?.text).toContain('Diffuse large B-cell lymphoma is excluded');
    for (const url of ['pa-needed', 'doc-needed', 'questionnaire', 'detail']) {
      expect(sub(ci, url)).toEqual([]);
    }
    expect(sub(ci, 'billingCode')).toHaveLength(1);
  });

  test('not-covered over the cycle limit: the maximum and the indication by its short name; the cycles counted', () => {
    const decision = makeDecision('likely', {
      likelihood: 'not-covered',
      cycle: 10,
      notCoveredBy: ['cycle-limit'],
      notCoveredReasons: ['This order would be cycle 10, beyond the 9 cycles the policy allows.'],
      priorCycles: ['MedicationRequest/c1', 'MedicationRequest/c9'],
      priorCycleItems: [
        { ref: 'MedicationRequest/c9', text: 'blinatumomab (completed order)', date: '2026-09-07' },
        { ref: 'MedicationRequest/c1', text: 'blinatumomab (completed order)', date: '2025-06-02' },
        { text: 'blinatumomab (stopped order)', date: '2025-08-01' },
      ],
      authorization: { type: 'continuation', cycle: 10, length: 'per cycle' },
    });
    const res = build([decision]);
    const card = res.cards[0]!;
    expect(card.summary).toBe(
      'Blinatumomab cycle 10: not covered: over the 9-cycle maximum for relapsed or refractory disease'
    );
    expect(card.detail).toContain(
      'Cycle 10 counts 3 earlier cycles on file: the first planned to start 2025-06-02, the last 2026-09-07.'
    );
    expect(card.detail).not.toMatch(/authorization per cycle/);
    expect(card.links?.[0]?.url).toBe(`${BASE_URL}/policies/blinatumomab-mmm#000-a.iii.a`);
  });

  test('service 001: a label that names no payer: "the health plan" in the text, the label as source and policy', () => {
    const single = makeService({
      id: 'blinatumomab-single-agent',
      label: 'Blinatumomab single-agent policy',
      labelNamesPayer: false,
      policyId: undefined,
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
      assertCardRules(res, request, { service: single, baseUrl: BASE_URL });
      for (const card of res.cards) {
        expect(card.summary).not.toMatch(/policy policy|single-agent policy/);
        expect(card.source.label).toBe('Blinatumomab single-agent policy');
      }
      const task = res.cards.flatMap((c) => c.suggestions ?? []).flatMap((s) => s.actions ?? [])[0]?.resource as
        Task | undefined;
      if (task) {
        expect(task.requester).toEqual({ type: 'Organization', display: 'Health plan' });
        expect(JSON.stringify(task)).not.toContain('single-agent policy');
      }
    }
    const res = buildResponse(single, [makeDecision('needs-documentation')], {
      request: makeRequest([makeOrder('mr-1')]),
      receivedDate: RECEIVED,
      baseUrl: BASE_URL,
      configuration: config(),
    });
    expect(res.cards[1]!.summary).toBe(
      'Blinatumomab cycle 1: send 2 items to the health plan with the prior authorization request'
    );
    expect(res.cards[1]!.suggestions![0]!.label).toBe(
      "Create a task to complete the health plan's documentation questionnaire"
    );
    expect(res.cards[0]!.detail).toContain('**Policy:** Blinatumomab single-agent policy, version 2021-03');
  });

  test('summaries are whole phrases: long lists of documents end in "and N more", never cut', () => {
    const decision = makeDecision('needs-documentation');
    const outline = makeOutline();
    const many = ['a', 'b', 'c', 'd', 'e'].map((x) => ({
      id: `criterion-${x}`,
      short: `a rather long short name for criterion ${x}`,
      clause: '000 A.i',
      description: `Criterion ${x}`,
      documentation: `Documentation for ${x}`,
    }));
    const svc = makeService({ outline: { ...outline, criteria: [...outline.criteria, ...many] } });
    decision.missingDocumentation = many.map((c) => ({
      criterion: c.id,
      kind: 'unknown-criterion' as const,
      request: c.documentation,
    }));
    const res = buildResponse(svc, [decision], {
      request: makeRequest([decision.order]),
      receivedDate: RECEIVED,
      baseUrl: BASE_URL,
      configuration: config(),
    });
    const summary = res.cards[0]!.summary;
    expect(summary).toBe(
      'Blinatumomab cycle 1: prior authorization needs 5 documents: a rather long short name for criterion a and 4 more'
    );
    expect(Array.from(summary).length).toBeLessThanOrEqual(139);
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

describe('buildResponse: the detail budget (1,500 characters)', () => {
  test('over the budget, the met criteria collapse into one line first', () => {
    const decision = makeDecision('needs-documentation');
    const long = 'x'.repeat(70);
    decision.criteria = decision.criteria.map((c) => ({
      ...c,
      evidenceItems: [
        { text: `${c.short} ${long}`, date: '2024-05-01' },
        { text: `${c.short} again ${long}`, date: '2024-05-02' },
      ],
    }));
    decision.missingDocumentation = Array.from({ length: 6 }, (_, i) => ({
      criterion: 'supporting-documentation',
      kind: 'submit-with-request' as const,
      request: `Item ${i}: ${'a long request '.repeat(6)}`,
    }));
    const res = build([decision]);
    const detail = res.cards[0]!.detail!;
    expect(Array.from(detail).length).toBeLessThanOrEqual(1500);
    expect(detail).toContain('- 2 criteria met: CD19 on the leukemic blasts, blinatumomab as a single agent');
    expect(detail).toContain('- **Unknown:** relapsed or refractory disease');
  });

  test('however much there is, the detail stays within the budget and ends on a whole line', () => {
    const decision = makeDecision('needs-documentation');
    decision.missingDocumentation = Array.from({ length: 60 }, (_, i) => ({
      criterion: 'supporting-documentation',
      kind: 'submit-with-request' as const,
      request: `Request ${i}`,
    }));
    const res = build([decision]);
    const detail = res.cards[0]!.detail!;
    expect(Array.from(detail).length).toBeLessThanOrEqual(1500);
    expect(detail.endsWith('(Shortened: the coverage assessment of this card lists every criterion.)')).toBe(true);
  });
});

describe('buildResponse: when no system action is sent', () => {
  test('no active coverage: a warning card that says so, and no system action', () => {
    const res = build([makeDecision('likely', { coverage: undefined })]);
    expect(res).not.toHaveProperty('systemActions');
    expect(res.cards).toHaveLength(1);
    expect(res.cards[0]!.indicator).toBe('warning');
    expect(res.cards[0]!.summary).toBe("Blinatumomab cycle 1: no active coverage found: check the patient's insurance");
    expect(res.cards[0]!.detail).toMatch(/^\*\*No active coverage was found for this patient\*\*/);
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
    expect(res.cards[1]!.source.topic?.code).toBe('limits');
    expect(res.cards[1]!.summary).toBe('Blinatumomab cycle 1: correct the order: 28 vials per cycle');
    expect(res.cards[1]!.detail).toContain('change the order by hand');
    expect(res.cards[2]!.detail).toContain('This order has no id yet, so no task can be attached to it');
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
  test('max-cards 0 answers "cards": [] and still the coverage-information system action', () => {
    const res = build([makeDecision('needs-documentation', { dose: correctionDose('mr-1') })], {
      configuration: config({ maxCards: 0 }),
    });
    expect(res.cards).toEqual([]);
    expect(res.systemActions).toHaveLength(1);
    // Contract section 5: the questionnaire follows the likelihood, not max-cards.
    expect(sub(onlyCi(res), 'questionnaire')[0]?.valueCanonical).toBe(CANONICAL);
  });

  test('max-cards 1 keeps the coverage card; the questionnaire stays on the system action', () => {
    const res = build([makeDecision('needs-documentation')], { configuration: config({ maxCards: 1 }) });
    expect(kinds(res)).toEqual(['coverage']);
    const ci = onlyCi(res);
    expect(sub(ci, 'questionnaire')[0]?.valueCanonical).toBe(CANONICAL);
    expect(sub(ci, 'doc-needed')[0]?.valueCode).toBe('clinical');
  });

  test('coverage-info false: no coverage or documentation card; limits cards and the system action stay', () => {
    const res = build([makeDecision('needs-documentation', { dose: correctionDose('mr-1') })], {
      configuration: config({ coverageInfo: false }),
    });
    expect(res.systemActions).toHaveLength(1);
    expect(sub(onlyCi(res), 'questionnaire')[0]?.valueCanonical).toBe(CANONICAL);
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
    // Cards name the order by its position in words ("draft order N"), never by id.
    const orderOf = (card: Card): string => /draft order (\d)/.exec(card.detail ?? '')?.[1] ?? '?';
    expect(res.cards.map((card, i) => `${kinds(res)[i]} ${orderOf(card)}`)).toEqual([
      'coverage 1',
      'coverage 2',
      'coverage 3',
      'correction 1',
      'correction 2',
      'dose-check 3',
      'documentation 1',
      'documentation 2',
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
    assertCardRules(res, request, { service, baseUrl: BASE_URL });
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
  test('correction card: summary, findings, arithmetic and prompts, one update suggestion, quantity reasons', () => {
    const old: Extension = {
      url: COVERAGE_INFORMATION_URL,
      extension: [{ url: 'coverage', valueReference: { reference: 'Coverage/cov-1' } }],
    };
    const dose = correctionDose('mr-1');
    dose.correction!.resource = makeOrder('mr-1', {
      extension: [old],
      dispenseRequest: correctedOrder('mr-1').dispenseRequest,
    });
    const order = makeOrder('mr-1', {
      dispenseRequest: {
        quantity: { value: 40, unit: 'vial', system: 'http://unitsofmeasure.org', code: '{vial}' },
        expectedSupplyDuration: { value: 42, unit: 'd', system: 'http://unitsofmeasure.org', code: 'd' },
      },
    });
    const res = build([makeDecision('likely', { order, dose })]);
    expect(kinds(res)).toEqual(['coverage', 'correction']);
    const card = res.cards[1]!;
    expect(card.indicator).toBe('warning');
    expect(card.source.topic).toEqual({
      system: 'http://hl7.org/fhir/us/davinci-crd/CodeSystem/temp',
      code: 'limits',
      display: 'Limits',
    });
    expect(card.summary).toBe('Blinatumomab cycle 1: correct the order: 28 vials per cycle');
    expect(card.detail).toMatch(
      /^Correct the quantity of blinatumomab cycle 1 \(planned start 2024-06-03\) before signing/
    );
    expect(card.detail).toContain('The quantity ordered (40 vials) is over the limit of 28 vials per cycle.');
    expect(card.detail).toContain('Vials per cycle: 28 x 35 mcg = 980 mcg (980 units of J9039)');
    expect(card.detail).toContain('The latest weight is 45 days old: record a current weight.');
    expect(card.selectionBehavior).toBe('at-most-one');
    expect(card.suggestions).toHaveLength(1);
    const s = card.suggestions![0]!;
    expect(s).toMatchObject({ uuid: expect.any(String), label: 'Apply the corrected quantity', isRecommended: true });
    expect(s.actions).toHaveLength(1);
    expect(s.actions![0]!.type).toBe('update');
    expect(s.actions![0]!.description).not.toMatch(/mr-1|MedicationRequest\//);
    const resource = s.actions![0]!.resource as MedicationRequest;
    expect(resource.id).toBe('mr-1');
    expect(resource.extension).toBeUndefined();
    // As the system action carries the order: R4 arrays and the insurance of the assertion.
    expect(resource.insurance).toEqual([{ reference: 'Coverage/cov-1' }]);
    const { extension: _dropped, ...expected } = dose.correction!.resource;
    expect(resource).toEqual({ ...expected, insurance: [{ reference: 'Coverage/cov-1' }] });
    for (const r of card.overrideReasons!) {
      expect(r).toEqual({ system: expect.any(String), code: expect.any(String), display: expect.any(String) });
    }
    expect(card.overrideReasons!.map((r) => r.code)).toEqual([
      'quantity-preparation-loss',
      'quantity-exception-approved',
      'clinical-judgement',
    ]);
  });

  test('override reasons fit what is corrected: a supply-duration correction offers no dose reason', () => {
    const order = makeOrder('mr-1');
    const supply = makeOrder('mr-1', {
      dispenseRequest: { ...order.dispenseRequest, expectedSupplyDuration: { value: 28, unit: 'd', code: 'd' } },
    });
    const dosed = makeOrder('mr-1', {
      dosageInstruction: [{ ...order.dosageInstruction![0]!, text: 'changed' }],
    });
    const codes = (corrected: MedicationRequest): string[] => {
      const res = build([
        makeDecision('likely', {
          order,
          dose: noDose({ findings: ['x'], correction: { resource: corrected, summary: 'Correct the order' } }),
        }),
      ]);
      return res.cards[1]!.overrideReasons!.map((r) => r.code as string);
    };
    expect(codes(supply)).toEqual([
      'supply-partial-cycle',
      'supply-treatment-interruption',
      'supply-protocol-schedule',
      'clinical-judgement',
    ]);
    expect(codes(supply)).not.toContain('re-escalation-after-toxicity');
    expect(codes(dosed)).toEqual([
      're-escalation-after-toxicity',
      'protocol-dosing',
      'weight-or-bsa-verified',
      'clinical-judgement',
    ]);
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
    expect(card.summary).toBe('Blinatumomab cycle 1: dose check: record a current weight; record the height');
    expect(card.detail).toContain('The latest weight is 45 days old.');
    expect(card.detail).toContain('No height is recorded.');
    expect(card.detail).toContain('BSA (Mosteller): 1.80 m2');
    expect(card.suggestions).toBeUndefined();
    expect(card.selectionBehavior).toBeUndefined();

    const none = build([makeDecision('likely')]);
    expect(kinds(none)).toEqual(['coverage']);
  });
});

describe('buildResponse: several orders of one cycle checked together (28 vials, 980 units)', () => {
  const withQuantity = (id: string, quantity: Record<string, unknown>): MedicationRequest =>
    makeOrder(id, { dispenseRequest: { ...makeOrder(id).dispenseRequest, quantity } });
  const vials = (n: number): Record<string, unknown> => ({
    value: n,
    unit: 'vial',
    system: 'http://unitsofmeasure.org',
    code: '{vial}',
  });

  test('each within the limit, together over it: one dose-check card after every order card, naming both', () => {
    const a = makeDecision('likely', { orderIndex: 0, order: withQuantity('mr-a', vials(14)) });
    const b = makeDecision('likely', {
      orderIndex: 2,
      order: withQuantity('mr-b', { value: 525, unit: 'mcg', system: 'http://unitsofmeasure.org', code: 'ug' }),
      dose: noDose({ prompts: [{ kind: 'missing-weight', text: 'No weight.' }] }),
    });
    const res = build([a, b], { request: makeRequest([a.order, makeOrder('other'), b.order]) });
    expect(kinds(res)).toEqual(['coverage', 'coverage', 'dose-check', 'dose-check']);
    const card = res.cards[3]!;
    expect(card.summary).toBe('Blinatumomab cycle 1: 2 orders together exceed the 28-vial cycle limit');
    expect(card.detail).toContain('ask for 29 vials (1015 mcg) together, over the 28 vials (980 billable units)');
    expect(card.detail).toContain('- Draft order 1 (Blincyto 35 mcg injection): 14 vial = 14 vials, 490 mcg');
    expect(card.detail).toContain('- Draft order 3 (Blincyto 35 mcg injection): 525 mcg = 15 vials, 525 mcg');
    expect(card.detail).toContain('490 mcg + 525 mcg = 1015 mcg = 1015 billable units');
    expect(card.suggestions).toBeUndefined();
  });

  test('together within the limit, or one order over it alone: no combined card', () => {
    const a = makeDecision('likely', { orderIndex: 0, order: withQuantity('mr-a', vials(14)) });
    const b = makeDecision('likely', { orderIndex: 1, order: withQuantity('mr-b', vials(14)) });
    expect(kinds(build([a, b]))).toEqual(['coverage', 'coverage']);
    const c = makeDecision('likely', { orderIndex: 1, order: withQuantity('mr-c', vials(40)) });
    expect(kinds(build([a, c]))).toEqual(['coverage', 'coverage']);
  });

  test('with a correction card in the call, the finding goes in the last one instead of a card of its own', () => {
    const a = makeDecision('likely', {
      orderIndex: 0,
      order: withQuantity('mr-a', vials(20)),
      dose: correctionDose('mr-a'),
    });
    const b = makeDecision('likely', { orderIndex: 1, order: withQuantity('mr-b', vials(20)) });
    const res = build([a, b]);
    expect(kinds(res)).toEqual(['coverage', 'coverage', 'correction']);
    expect(res.cards[2]!.detail).toContain('**Together over the cycle limit:**');
    expect(res.cards[2]!.detail).toContain('ask for 40 vials (1400 mcg) together');
  });

  test('limits false: no combined check', () => {
    const a = makeDecision('likely', { orderIndex: 0, order: withQuantity('mr-a', vials(20)) });
    const b = makeDecision('likely', { orderIndex: 1, order: withQuantity('mr-b', vials(20)) });
    expect(kinds(build([a, b], { configuration: config({ limits: false }) }))).toEqual(['coverage', 'coverage']);
  });
});

describe('buildResponse: the card rules per hook (contract section 1)', () => {
  const withQuantity = (id: string, n: number): MedicationRequest =>
    makeOrder(id, {
      dispenseRequest: {
        ...makeOrder(id).dispenseRequest,
        quantity: { value: n, unit: 'vial', system: 'http://unitsofmeasure.org', code: '{vial}' },
      },
    });
  const selectRequest = (orders: MedicationRequest[], selections: string[]) => {
    const request = makeRequest(orders);
    return { ...request, hook: 'order-select', context: { ...request.context, selections } };
  };

  test('order-select: the selected order only, no documentation card or Task, no doc-needed or questionnaire', () => {
    // Together within the per-cycle quantity (14 + 14 vials): no combined finding here.
    const selected = makeDecision('needs-documentation', { orderIndex: 1, order: withQuantity('mr-b', 14) });
    const context = makeDecision('needs-documentation', { orderIndex: 0, order: withQuantity('mr-a', 14) });
    const res = build([context, selected], {
      request: selectRequest([context.order, selected.order], ['MedicationRequest/mr-b']),
      hook: 'order-select',
      assessed: new Set([1]),
    });
    expect(kinds(res)).toEqual(['coverage']);
    expect(res.cards[0]?.extension?.['coverage-assessment']).toMatchObject({ order: 'MedicationRequest/mr-b' });
    expect(JSON.stringify(res)).not.toContain('"Task"');
    expect(res.systemActions).toHaveLength(1);
    expect((res.systemActions?.[0]?.resource as MedicationRequest).id).toBe('mr-b');
    const ci = onlyCi(res);
    expect(sub(ci, 'doc-needed')).toEqual([]);
    expect(sub(ci, 'questionnaire')).toEqual([]);
    expect(sub(ci, 'pa-needed')[0]?.valueCode).toBe('auth-needed');
  });

  test('order-select: the quantities of every governed draft order count together; the card names them all', () => {
    const selected = makeDecision('likely', { orderIndex: 0, order: withQuantity('mr-a', 20) });
    const context = makeDecision('likely', { orderIndex: 1, order: withQuantity('mr-b', 20) });
    const request = selectRequest([selected.order, context.order], ['MedicationRequest/mr-a']);
    const res = build([selected, context], { request, hook: 'order-select', assessed: new Set([0]) });
    expect(kinds(res)).toEqual(['coverage', 'dose-check']);
    const card = res.cards[1]!;
    expect(card.summary).toBe('Blinatumomab cycle 1: 2 orders together exceed the 28-vial cycle limit');
    expect(card.detail).toContain('- Draft order 1 (Blincyto 35 mcg injection): 20 vial = 20 vials, 700 mcg');
    expect(card.detail).toContain('- Draft order 2 (Blincyto 35 mcg injection): 20 vial = 20 vials, 700 mcg');
    expect(card.detail).toContain('ask for 40 vials (1400 mcg) together');
    // With no order under assessment, nothing is sent, the combined finding included.
    expect(build([selected, context], { request, hook: 'order-select', assessed: new Set() })).toEqual({
      cards: [],
    });
  });

  test('order-select: coverage-info false drops the system action with the cards; the primary hooks keep it', () => {
    const decision = makeDecision('needs-documentation');
    const request = selectRequest([decision.order], ['MedicationRequest/mr-1']);
    const off = config({ coverageInfo: false });
    expect(build([decision], { request, hook: 'order-select', configuration: off })).toEqual({ cards: [] });
    for (const hook of ['order-sign', 'order-dispatch'] as const) {
      const res = build([decision], { hook, configuration: off });
      expect(res.cards).toEqual([]);
      expect(sub(onlyCi(res), 'questionnaire')[0]?.valueCanonical).toBe(CANONICAL);
    }
  });

  test('order-dispatch: an order already carrying the same assertion gets its correction card only', () => {
    const signed = build([makeDecision('needs-documentation', { dose: correctionDose('mr-1') })]);
    const asserted = { ...(signed.systemActions?.[0]?.resource as MedicationRequest), status: 'active' as const };
    const again = makeDecision('needs-documentation', { order: asserted, dose: correctionDose('mr-1') });
    const res = build([again], { request: makeRequest([asserted]), hook: 'order-dispatch' });
    expect(kinds(res)).toEqual(['correction']);
    // The order is signed already: the correction comes before it is dispatched.
    expect(res.cards[0]?.detail).toMatch(
      /^Correct the order of blinatumomab cycle 1 \(planned start 2024-06-03\) before it is dispatched: /
    );
    expect(res.systemActions).toBeUndefined();
    // Not yet asserted: answered as on order-sign, the questionnaire on the system action.
    const fresh = build([makeDecision('needs-documentation')], { hook: 'order-dispatch' });
    expect(kinds(fresh)).toEqual(['coverage', 'documentation']);
    expect(sub(onlyCi(fresh), 'questionnaire')[0]?.valueCanonical).toBe(CANONICAL);
  });

  test('order-dispatch: orders already asserted send no combined-quantity card; a new one among them does', () => {
    const first = build([makeDecision('likely', { order: withQuantity('mr-a', 20) })]);
    const assertedA = first.systemActions?.[0]?.resource as MedicationRequest;
    const second = build([makeDecision('likely', { order: withQuantity('mr-b', 20) })]);
    const assertedB = second.systemActions?.[0]?.resource as MedicationRequest;
    const a = makeDecision('likely', { orderIndex: 0, order: assertedA });
    const b = makeDecision('likely', { orderIndex: 1, order: assertedB });
    const known = build([a, b], { request: makeRequest([assertedA, assertedB]), hook: 'order-dispatch' });
    expect(known).toEqual({ cards: [] });
    const c = makeDecision('likely', { orderIndex: 1, order: withQuantity('mr-c', 20) });
    const mixed = build([a, c], { request: makeRequest([assertedA, c.order]), hook: 'order-dispatch' });
    expect(kinds(mixed)).toEqual(['coverage', 'dose-check']);
    expect(mixed.systemActions).toHaveLength(1);
  });
});

describe('buildResponse: text from patient data is escaped and cannot become a link', () => {
  const HOSTILE = [
    '<script>alert(1)</script>',
    '[click](javascript:alert(1))',
    '**bold** _em_ `code` ~~strike~~ | pipe',
    '# heading',
    'see www.evil.example and http://evil.example/x or //evil.example, mail a@evil.example, 10.0.0.1',
    '<img src=x onerror=alert(1)>',
  ].join(' ');

  test('evidence, order text and prompts: escaped, no raw HTML, no link, the same text in CommonMark and GFM', () => {
    const order = makeOrder('mr-1', {
      medicationCodeableConcept: {
        coding: [{ system: 'http://www.nlm.nih.gov/research/umls/rxnorm', code: '1597262' }],
        text: HOSTILE,
      },
    });
    const decision = makeDecision('needs-documentation', {
      order,
      dose: noDose({ prompts: [{ kind: 'unreadable-dose', text: HOSTILE }], arithmetic: [HOSTILE] }),
    });
    decision.criteria[0] = {
      ...decision.criteria[0]!,
      evidence: ['Observation/a|b', 'Observation/<img src=x onerror=alert(1)>', 'Observation/ok-1'],
      evidenceItems: [{ text: HOSTILE, date: '2024-05-20' }],
    };
    const res = build([decision]);
    // The card rules (run by build) check no raw HTML, no links, no tables and the same text in both renderers.
    for (const card of res.cards) {
      const rendered = renderMarkdown(card.detail ?? '');
      expect(rendered.links).toEqual([]);
      expect(rendered.rawHtml).toEqual([]);
      expect(rendered.gfmHtml).not.toMatch(/<(script|img|a|h1|code|em|del|table)\b/);
    }
    const coverage = renderMarkdown(res.cards[0]!.detail!);
    // What the clinician reads is the data as written (cut at a word), not markup.
    expect(coverage.gfmText).toContain('<script>alert(1)</script> [click](javascript:alert(1)) **bold** _em_');
    // Evidence entries of coverage-assessment are `Type/id` with a valid FHIR id only.
    const assessment = res.cards[0]!.extension!['coverage-assessment'] as { criteria: Array<{ evidence?: string[] }> };
    expect(assessment.criteria[0]!.evidence).toEqual(['Observation/ok-1']);
    const dose = renderMarkdown(res.cards[1]!.detail!);
    expect(dose.gfmText).toContain('see www.evil.example and http://evil.example/x or //evil.example');
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
              correction: o.correction ? { resource: makeOrder(id ?? 'x'), summary: 'Correct the order' } : undefined,
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
          assertCardRules(res, request, { service, baseUrl: BASE_URL });
          expect(res.cards.length).toBeLessThanOrEqual(configuration.maxCards);
          // Neither max-cards nor coverage-info removes the system action (contract sections 5 and 6).
          expect(res.systemActions?.length ?? 0).toBe(expectedActions);
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
