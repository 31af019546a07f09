import type { Extension, MedicationRequest, Task } from 'fhir/r4';
import type { CdsResponse } from '../src/hooks/types';
import { buildResponse } from '../src/cards/build';
import { COVERAGE_INFORMATION_URL } from '../src/cards/coverage-information';
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
} from '../src/cards/test-support';
import { assertCardRules, cardRuleViolations } from './card-rules';

const service = makeService();

/** A response with every kind of card, two suggestions and one system action per order. */
function fullResponse() {
  const a = makeDecision('needs-documentation', {
    orderIndex: 0,
    order: makeOrder('mr-a'),
    dose: noDose({
      findings: ['Over the limit.'],
      correction: { resource: makeOrder('mr-a'), summary: 'Blinatumomab: order 28 vials per cycle' },
    }),
  });
  const b = makeDecision('not-covered', {
    orderIndex: 1,
    order: makeOrder('mr-b'),
    dose: noDose({ prompts: [{ kind: 'missing-weight', text: 'No weight.' }] }),
  });
  const request = makeRequest([a.order, b.order]);
  const response = buildResponse(service, [a, b], {
    request,
    receivedDate: RECEIVED,
    baseUrl: BASE_URL,
    configuration: config(),
    uuid: sequentialUuid(),
  });
  return { request, response };
}

function ciOf(response: CdsResponse, i: number): Extension {
  const resource = response.systemActions![i]!.resource as MedicationRequest;
  return resource.extension!.find((e) => e.url === COVERAGE_INFORMATION_URL)!;
}

describe('assertCardRules accepts what the builder sends', () => {
  test.each(['likely', 'needs-documentation', 'unlikely', 'not-covered'] as const)('%s', (likelihood) => {
    const decision = makeDecision(likelihood);
    const request = makeRequest([decision.order]);
    const response = buildResponse(service, [decision], {
      request,
      receivedDate: RECEIVED,
      baseUrl: BASE_URL,
      configuration: config(),
    });
    expect(() => assertCardRules(response, request)).not.toThrow();
  });

  test('a full response with every card kind and two orders', () => {
    const { request, response } = fullResponse();
    expect(response.cards).toHaveLength(5);
    expect(response.systemActions).toHaveLength(2);
    expect(cardRuleViolations(response, request)).toEqual([]);
  });

  test('the empty answer', () => {
    expect(() => assertCardRules({ cards: [] }, makeRequest([]))).not.toThrow();
  });
});

describe('assertCardRules rejects each broken rule', () => {
  function broken(mutate: (r: CdsResponse) => void): string[] {
    const { request, response } = fullResponse();
    mutate(response);
    return cardRuleViolations(response, request);
  }

  function expectViolation(mutate: (r: CdsResponse) => void, pattern: RegExp): void {
    const violations = broken(mutate);
    expect(violations).toEqual(expect.arrayContaining([expect.stringMatching(pattern)]));
  }

  test('assertCardRules throws with the list', () => {
    const { request, response } = fullResponse();
    response.cards[0]!.summary = 'x'.repeat(140);
    expect(() => assertCardRules(response, request)).toThrow(/cards\[0\]: summary has 140 characters/);
  });

  test('summary length, indicator, source label and topic', () => {
    expectViolation((r) => (r.cards[0]!.summary = 'y'.repeat(150)), /summary has 150 characters/);
    expectViolation(
      (r) => ((r.cards[0] as { indicator: string }).indicator = 'hard-stop'),
      /invalid indicator hard-stop/
    );
    expectViolation((r) => delete (r.cards[0]!.source as { label?: string }).label, /source.label is required/);
    expectViolation((r) => delete r.cards[0]!.source.topic, /source.topic must be a CRD card type/);
    expectViolation(
      (r) => (r.cards[0]!.source.topic = { system: 'x', code: 'coverage-info', display: 'C' }),
      /source.topic/
    );
    expectViolation((r) => delete r.cards[0]!.source.topic!.display, /with a display/);
  });

  test('uuids: present and unique across cards and suggestions', () => {
    expectViolation((r) => delete (r.cards[1] as { uuid?: string }).uuid, /cards\[1\]: uuid is required/);
    expectViolation((r) => (r.cards[1]!.uuid = r.cards[0]!.uuid), /already used by cards\[0\]/);
    expectViolation((r) => {
      const s = r.cards.find((c) => c.suggestions)!.suggestions![0]!;
      s.uuid = r.cards[0]!.uuid;
    }, /already used/);
  });

  test('selectionBehavior iff suggestions; suggestions have labels; override reasons have displays', () => {
    expectViolation(
      (r) => delete r.cards.find((c) => c.suggestions)!.selectionBehavior,
      /suggestions without selectionBehavior/
    );
    expectViolation((r) => (r.cards[0]!.selectionBehavior = 'any'), /selectionBehavior without suggestions/);
    expectViolation(
      (r) => delete (r.cards.find((c) => c.suggestions)!.suggestions![0] as { label?: string }).label,
      /label is required/
    );
    expectViolation(
      (r) => delete r.cards.find((c) => c.overrideReasons)!.overrideReasons![0]!.display,
      /system, code and display/
    );
  });

  test('no null, empty string, empty array or empty object anywhere', () => {
    expectViolation(
      (r) => ((r.cards[0] as unknown as Record<string, unknown>).detail = null),
      /cards\[0\]\.detail is null/
    );
    expectViolation((r) => (r.cards[0]!.detail = ''), /detail is an empty string/);
    expectViolation((r) => (r.cards[0]!.links = []), /links is an empty array/);
    expectViolation((r) => (r.systemActions = []), /systemActions is an empty array/);
    expectViolation(
      (r) => ((r.systemActions![0]!.resource as MedicationRequest).note = [{ text: '' }]),
      /note\[0\]\.text is an empty string/
    );
    expectViolation((r) => (r.cards[0]!.extension = {}), /extension is an empty object/);
  });

  test('updates target a draft order and carry it whole', () => {
    expectViolation((r) => (r.systemActions![0]!.resource!.id = 'not-a-draft'), /not a draft order of the request/);
    expectViolation((r) => {
      const s = r.cards.find((c) => c.suggestions && c.source.topic?.code === 'limits')!;
      delete (s.suggestions![0]!.actions![0]!.resource as MedicationRequest).dosageInstruction;
    }, /drops "dosageInstruction"/);
    expectViolation(
      (r) => delete (r.systemActions![0] as { description?: string }).description,
      /description is required/
    );
    expectViolation((r) => (r.systemActions![0]!.type = 'create'), /system action must be an update/);
  });

  test('a system action changes nothing but coverage-information, and one per order', () => {
    expectViolation(
      (r) => ((r.systemActions![0]!.resource as MedicationRequest).status = 'active'),
      /differs from the draft order/
    );
    expectViolation((r) => r.systemActions!.push(structuredClone(r.systemActions![0]!)), /a second system action/);
    expectViolation((r) => {
      const res = r.systemActions![0]!.resource as MedicationRequest;
      res.extension!.push(structuredClone(res.extension![0]!));
    }, /two coverage-information extensions for the same Coverage/);
  });

  test('coverage-information rules: required parts, crd-ci-q1, not-covered', () => {
    expectViolation((r) => {
      const ext = ciOf(r, 0);
      ext.extension = ext.extension!.filter((e) => e.url !== 'date');
    }, /"date" is missing/);
    expectViolation((r) => {
      const ext = ciOf(r, 0);
      ext.extension = ext.extension!.filter((e) => e.url !== 'doc-needed');
    }, /crd-ci-q1/);
    expectViolation(
      (r) => ciOf(r, 1).extension!.push({ url: 'pa-needed', valueCode: 'auth-needed' }),
      /not-covered carries "pa-needed"/
    );
    expectViolation((r) => {
      ciOf(r, 1).extension!.push(
        { url: 'doc-needed', valueCode: 'clinical' },
        { url: 'questionnaire', valueCanonical: 'http://q|1' }
      );
    }, /not-covered carries "questionnaire"/);
    expectViolation((r) => {
      const ext = ciOf(r, 0);
      ext.extension = ext.extension!.filter((e) => e.url !== 'pa-needed');
    }, /crd-ci-q2/);
    expectViolation((r) => {
      const detail = ciOf(r, 0).extension!.find((e) => e.url === 'detail')!;
      detail.extension = detail.extension!.filter((e) => e.url !== 'value');
    }, /detail\[0\] needs exactly one "value"/);
    expectViolation((r) => {
      const id = ciOf(r, 0).extension!.find((e) => e.url === 'coverage-assertion-id')!.valueString;
      ciOf(r, 1).extension!.find((e) => e.url === 'coverage-assertion-id')!.valueString = id;
    }, /coverage-assertion-id .* is not unique/);
  });

  test('coverage-information details (contract section 5): allowed-quantity always, allowed-period a Period', () => {
    const details = (r: CdsResponse): Extension[] => ciOf(r, 0).extension!.filter((e) => e.url === 'detail');
    expectViolation((r) => {
      const ext = ciOf(r, 0);
      ext.extension = ext.extension!.filter((e) => e.url !== 'detail');
    }, /a covered assertion needs an allowed-quantity detail/);
    expectViolation((r) => {
      const value = details(r)[0]!.extension!.find((e) => e.url === 'value')!;
      value.valueQuantity = { value: 28, unit: 'vial' };
    }, /allowed-quantity must be a valueQuantity in UCUM \{vial\}/);
    expectViolation((r) => {
      const q = details(r)[0]!.extension!.find((e) => e.url === 'qualification')!;
      q.valueString = 'per 42 days';
    }, /allowed-quantity must be qualified "per cycle"/);
    expectViolation((r) => {
      const code = details(r)[0]!.extension!.find((e) => e.url === 'code')!;
      code.valueCodeableConcept = { coding: [{ system: 'http://example.org', code: 'allowed-quantity' }] };
    }, /"code" needs a coding from/);
    expectViolation((r) => {
      const ext = ciOf(r, 0);
      ext.extension!.push(structuredClone(details(r)[0]!));
    }, /more than one "allowed-quantity" detail/);
    expectViolation((r) => {
      ciOf(r, 0).extension!.push({
        url: 'detail',
        extension: [
          {
            url: 'code',
            valueCodeableConcept: {
              coding: [{ system: 'http://hl7.org/fhir/us/davinci-crd/CodeSystem/temp', code: 'allowed-period' }],
            },
          },
          { url: 'value', valuePeriod: { start: '2024-07-14', end: '2024-06-03' } },
        ],
      });
    }, /allowed-period must be a valuePeriod with start <= end/);
  });

  test('limits cards: warnings; a correction has one recommended update under at-most-one', () => {
    const correction = (r: CdsResponse) => r.cards.find((c) => c.suggestions && c.source.topic?.code === 'limits')!;
    expectViolation((r) => (correction(r).indicator = 'info'), /a limits card must be a warning/);
    expectViolation((r) => (correction(r).indicator = 'critical'), /the critical indicator is not used/);
    expectViolation((r) => (correction(r).selectionBehavior = 'any'), /selectionBehavior is at-most-one/);
    expectViolation(
      (r) => (correction(r).suggestions![0]!.isRecommended = false),
      /must be recommended \(isRecommended true\)/
    );
    expectViolation((r) => {
      const s = correction(r).suggestions![0]!;
      s.actions = [...s.actions!, structuredClone(s.actions![0]!)];
    }, /holds exactly one update/);
    expectViolation((r) => {
      const card = correction(r);
      card.suggestions = [...card.suggestions!, { ...structuredClone(card.suggestions![0]!), uuid: 'other' }];
    }, /exactly one suggestion/);
  });

  test('cards are sorted by kind: coverage, then limits, then documentation', () => {
    expectViolation((r) => r.cards.reverse(), /card after a card of a later kind/);
  });

  test('a suggested update carries no coverage-information', () => {
    expectViolation((r) => {
      const s = r.cards.find((c) => c.suggestions && c.source.topic?.code === 'limits')!;
      const resource = s.suggestions![0]!.actions![0]!.resource as MedicationRequest;
      resource.extension = [structuredClone(ciOf(r, 0))];
    }, /suggested update .* carries coverage-information/);
  });

  test('the coverage assessment: valid likelihood, warning unless likely, order a draft order', () => {
    const assessment = (r: CdsResponse): Record<string, unknown> =>
      r.cards[0]!.extension!['coverage-assessment'] as Record<string, unknown>;
    expectViolation((r) => (assessment(r).likelihood = 'maybe'), /invalid likelihood maybe/);
    expectViolation((r) => (r.cards[0]!.indicator = 'info'), /needs-documentation coverage card must be a warning/);
    expectViolation((r) => (assessment(r).order = 'MedicationRequest/zzz'), /is not a draft order/);
    expectViolation(
      (r) => ((assessment(r).criteria as Array<Record<string, unknown>>)[0]!.status = 'maybe'),
      /criteria\[0\]/
    );
  });

  test('not a response at all', () => {
    expect(cardRuleViolations({ card: [] }, makeRequest([]))).toEqual([
      'the response must be an object with a "cards" array',
    ]);
    expect(cardRuleViolations({ cards: [], extra: 1 }, makeRequest([]))).toEqual(['unexpected top-level key "extra"']);
  });
});

describe('the rules of what a clinician reads (contract section 6)', () => {
  const ctx = { service, baseUrl: BASE_URL };

  function textViolations(mutate: (r: CdsResponse, request: ReturnType<typeof makeRequest>) => void): string[] {
    const { request, response } = fullResponse();
    mutate(response, request);
    return cardRuleViolations(response, request, ctx);
  }

  function expectTextViolation(
    mutate: (r: CdsResponse, request: ReturnType<typeof makeRequest>) => void,
    pattern: RegExp
  ): void {
    expect(textViolations(mutate)).toEqual(expect.arrayContaining([expect.stringMatching(pattern)]));
  }

  test('what the builder sends passes them all', () => {
    const { request, response } = fullResponse();
    expect(cardRuleViolations(response, request, ctx)).toEqual([]);
  });

  test('summaries: whole phrases of the grammar, never cut', () => {
    expectTextViolation(
      (r) => (r.cards[0]!.summary = 'Blinatumomab cycle 1: prior authorization needs 1 document: CD19 on the…'),
      /summary is cut/
    );
    expectTextViolation(
      (r) => (r.cards[0]!.summary = 'Blinatumomab cycle 1: prior authorization needs 2 documents: and no B-cell pre'),
      /not built from the grammar/
    );
    expectTextViolation(
      (r) => (r.cards[0]!.summary = 'Blinatumomab cycle 1: approval unlikely: 7 criteria not met and more'),
      /grammar/
    );
  });

  test('details: the budget, no tables, no raw HTML, no links, the same text in both renderers', () => {
    expectTextViolation((r) => (r.cards[0]!.detail = 'x '.repeat(800)), /at most 1500/);
    expectTextViolation((r) => (r.cards[0]!.detail = '| a | b |\n| --- | --- |\n| 1 | 2 |'), /markdown table/);
    expectTextViolation((r) => (r.cards[0]!.detail = 'see <b>this</b>'), /raw HTML/);
    expectTextViolation((r) => (r.cards[0]!.detail = 'see www.example.com now'), /renders links/);
    expectTextViolation((r) => (r.cards[0]!.detail = 'see [the policy](https://x.example)'), /renders links/);
    expectTextViolation((r) => (r.cards[0]!.detail = 'a ~~struck~~ word'), /CommonMark and GFM render different text/);
  });

  test('no bare resource id, no request id, no raw URL, no "none" as evidence', () => {
    expectTextViolation(
      (r) => (r.cards[0]!.detail += '\n\nEvidence: Observation/cd19-1'),
      /bare resource reference.*Observation\/cd19-1/
    );
    expectTextViolation((r) => (r.cards[0]!.detail += '\n\nOrder mr-a'), /resource id "mr-a"/);
    expectTextViolation((r) => (r.cards[1]!.detail += '\n\nQuestionnaire at https://x.example/q'), /raw URL/);
    expectTextViolation((r) => (r.cards[0]!.detail += '\n- Single agent: met (none)'), /"none"/);
  });

  test('patient text: escaped, so that it reads as itself', () => {
    expectTextViolation((r, request) => {
      const order = request.context.draftOrders.entry![0]!.resource as MedicationRequest;
      order.medicationCodeableConcept = { text: 'Blincyto *urgent* bag' };
      r.cards[0]!.detail += '\n\nOrdered as Blincyto *urgent* bag';
    }, /patient text reaches the markdown unescaped/);
  });

  test('a label that names no payer is never the payer in the text', () => {
    const single = makeService({ label: 'Blinatumomab single-agent policy', labelNamesPayer: false });
    const { request, response } = fullResponse();
    response.cards[0]!.detail += '\n\nSubmit the documents to Blinatumomab single-agent policy.';
    expect(cardRuleViolations(response, request, { service: single, baseUrl: BASE_URL })).toEqual(
      expect.arrayContaining([expect.stringMatching(/names "Blinatumomab single-agent policy" as the payer/)])
    );
  });

  test('the coverage card links to the policy page at a clause the page has', () => {
    expectTextViolation((r) => delete r.cards[0]!.links, /one absolute "Read the policy" link/);
    expectTextViolation(
      (r) => (r.cards[0]!.links![0]!.url = `${BASE_URL}/policies/blinatumomab-mmm#999-z`),
      /"Read the policy" link/
    );
    expectTextViolation((r) => (r.cards[0]!.links![0]!.label = 'Policy'), /"Read the policy" link/);
  });

  test('a likely card shows only its pathway; a not-covered card no authorization length', () => {
    const likely = makeDecision('likely');
    const request = makeRequest([likely.order]);
    const response = buildResponse(service, [likely], {
      request,
      receivedDate: RECEIVED,
      baseUrl: BASE_URL,
      configuration: config(),
    });
    response.cards[0]!.detail += '\n- **Not met:** an Interfant regimen (not found in the orders or the record)';
    expect(cardRuleViolations(response, request, ctx)).toEqual(
      expect.arrayContaining([expect.stringMatching(/"An Interfant regimen", a criterion of another pathway/)])
    );
    const { request: req2, response: res2 } = fullResponse();
    const notCovered = res2.cards.find(
      (c) => (c.extension?.['coverage-assessment'] as { likelihood?: string } | undefined)?.likelihood === 'not-covered'
    )!;
    notCovered.detail += '\n\nAuthorization: authorization per cycle (initial).';
    expect(cardRuleViolations(res2, req2, ctx)).toEqual(
      expect.arrayContaining([expect.stringMatching(/not-covered card shows an authorization length/)])
    );
  });

  test('override reasons fit what is corrected; Task inputs carry type.text; questionnaire follows the likelihood', () => {
    expectTextViolation((r) => {
      const card = r.cards.find((c) => c.suggestions && c.source.topic?.code === 'limits')!;
      card.suggestions![0]!.label = 'Apply the corrected supply duration';
      card.overrideReasons = [
        {
          system: 'http://example.org/fhir/CodeSystem/dose-override-reason',
          code: 're-escalation-after-toxicity',
          display: 'x',
        },
      ];
    }, /offers dose override reasons/);
    expectTextViolation((r) => {
      const task = r.cards
        .flatMap((c) => c.suggestions ?? [])
        .flatMap((x) => x.actions ?? [])
        .map((a) => a.resource)
        .find((x) => x?.resourceType === 'Task') as Task;
      delete task.input![0]!.type.text;
    }, /Task input\[0\] needs type.text/);
    expectTextViolation((r) => {
      const ext = ciOf(r, 0);
      ext.extension = ext.extension!.filter((e) => e.url !== 'questionnaire');
    }, /questionnaire absent on a needs-documentation order/);
  });
});
