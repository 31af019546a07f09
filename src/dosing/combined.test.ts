import type { MedicationRequest, Quantity } from 'fhir/r4';
import { checkCombinedQuantity } from './combined';

const rules = {
  limits: { vialsPerCycle: 28, vialStrengthMcg: 35, unitsPerCycle: 980 },
  unitSynonyms: { mcg: 'ug', vial: '{vial}', vials: '{vial}' },
};

function order(quantity: Quantity): MedicationRequest {
  return {
    resourceType: 'MedicationRequest',
    status: 'draft',
    intent: 'order',
    subject: {},
    dispenseRequest: { quantity },
  };
}

const vials = (n: number) => order({ value: n, unit: 'vial', system: 'http://unitsofmeasure.org', code: '{vial}' });
const mcg = (n: number) => order({ value: n, unit: 'mcg' });

describe('checkCombinedQuantity (contract sections 6 and 7)', () => {
  test('each within the limit, together over it: the orders and the exact totals', () => {
    const finding = checkCombinedQuantity(
      [
        { index: 0, order: vials(14) },
        { index: 2, order: mcg(525) },
      ],
      rules
    );
    expect(finding).toEqual({
      orders: [
        { index: 0, written: '14 vial', vials: '14', mcg: '490' },
        { index: 2, written: '525 mcg', vials: '15', mcg: '525' },
      ],
      totalVials: '29',
      totalMcg: '1015',
      limits: { vials: 28, units: 980 },
      arithmetic:
        '490 mcg + 525 mcg = 1015 mcg = 1015 billable units (29 vials of 35 mcg), over 980 units (28 vials) per cycle',
    });
  });

  test('exactly at the limit together is within it (28 vials = 980 units)', () => {
    expect(
      checkCombinedQuantity(
        [
          { index: 0, order: vials(14) },
          { index: 1, order: mcg(490) },
        ],
        rules
      )
    ).toBeUndefined();
  });

  test('one order over the limit alone, one counted order, unreadable quantities: nothing to report', () => {
    expect(
      checkCombinedQuantity(
        [
          { index: 0, order: vials(29) },
          { index: 1, order: vials(1) },
        ],
        rules
      )
    ).toBeUndefined();
    expect(checkCombinedQuantity([{ index: 0, order: vials(20) }], rules)).toBeUndefined();
    expect(
      checkCombinedQuantity(
        [
          { index: 0, order: vials(20) },
          { index: 1, order: order({ value: 20, unit: 'bags' }) },
        ],
        rules
      )
    ).toBeUndefined();
  });

  test('micrograms that are not whole vials show hundredths, "about" when rounded', () => {
    const finding = checkCombinedQuantity(
      [
        { index: 0, order: mcg(500) },
        { index: 1, order: mcg(500) },
      ],
      rules
    );
    expect(finding?.orders.map((o) => o.vials)).toEqual(['about 14.29', 'about 14.29']);
    expect(finding?.totalVials).toBe('about 28.57');
    expect(finding?.totalMcg).toBe('1000');
  });
});
