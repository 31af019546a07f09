import type { MedicationRequest } from 'fhir/r4';
import {
  describePolicyMarkdown,
  medicationText,
  orderInWords,
  payerAttributive,
  payerName,
  payerSubject,
  policyName,
  pruneEmpty,
  summaryPrefix,
} from './shared';
import { makeDecision, makeOrder, makeService } from './test-support';

describe('pruneEmpty', () => {
  test('drops null, "", [] and {} at any depth, keeps false and 0', () => {
    expect(
      pruneEmpty({
        a: null,
        b: '',
        c: [],
        d: {},
        e: { f: '', g: [{}] },
        h: false,
        i: 0,
        j: ['x', '', null, { k: null }],
      })
    ).toEqual({ h: false, i: 0, j: ['x'] });
  });

  test("keeps null items of FHIR's _-prefixed primitive-extension arrays", () => {
    const name = { given: ['A', 'B'], _given: [null, { extension: [{ url: 'http://x', valueString: 'y' }] }] };
    expect(pruneEmpty(name)).toEqual(name);
  });

  test('does not modify its input', () => {
    const input = { a: '', b: { c: [] } };
    pruneEmpty(input);
    expect(input).toEqual({ a: '', b: { c: [] } });
  });
});

describe('naming the order', () => {
  test('medicationText: text, else a coding display, else the reference display', () => {
    expect(medicationText(makeOrder('a'))).toBe('Blincyto 35 mcg injection');
    expect(
      medicationText(makeOrder('a', { medicationCodeableConcept: { coding: [{ code: '1', display: 'From coding' }] } }))
    ).toBe('From coding');
    const byRef: MedicationRequest = {
      ...makeOrder('a'),
      medicationReference: { reference: 'Medication/m', display: 'Ref' },
    };
    delete byRef.medicationCodeableConcept;
    expect(medicationText(byRef)).toBe('Ref');
    const odd = makeOrder('a', { medicationCodeableConcept: { coding: 'nonsense' as never, text: '  ' } });
    expect(medicationText(odd)).toBeUndefined();
  });

  test('orderInWords: drug, cycle and planned start; the position only when the call has several orders', () => {
    expect(orderInWords(makeDecision('likely', { cycle: 3, orderIndex: 1 }))).toBe(
      'blinatumomab cycle 3 (planned start 2024-06-03)'
    );
    expect(orderInWords(makeDecision('likely', { cycle: 3, orderIndex: 1 }), 2)).toBe(
      'blinatumomab cycle 3 (planned start 2024-06-03, draft order 2)'
    );
    expect(summaryPrefix({ cycle: 10 })).toBe('Blinatumomab cycle 10');
    expect(summaryPrefix({ cycle: 0 })).toBe('Blinatumomab');
  });
});

describe('naming the payer and the policy', () => {
  test('the payer by its label when the label names it, else "the health plan"', () => {
    const single = makeService({ label: 'Blinatumomab single-agent policy', labelNamesPayer: false });
    expect([payerName(makeService()), payerSubject(makeService()), payerAttributive(makeService())]).toEqual([
      'MMM Healthcare',
      'MMM Healthcare',
      'the MMM Healthcare',
    ]);
    expect([payerName(single), payerSubject(single), payerAttributive(single)]).toEqual([
      'the health plan',
      'The health plan',
      "the health plan's",
    ]);
  });

  test('the payer label plus "policy", without saying policy twice', () => {
    expect(policyName(makeService())).toBe('MMM Healthcare policy');
    expect(policyName(makeService({ label: 'Blinatumomab single-agent policy' }))).toBe(
      'Blinatumomab single-agent policy'
    );
    expect(describePolicyMarkdown(makeService())).toBe('MMM Healthcare policy MP-RX-FP-14-23, version 2024-05-09');
    expect(
      describePolicyMarkdown(
        makeService({ label: 'Blinatumomab single-agent policy', policyId: undefined, version: '2021-03' })
      )
    ).toBe('Blinatumomab single-agent policy, version 2021-03');
  });
});
