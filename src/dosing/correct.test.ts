import type { Dosage, MedicationRequest } from 'fhir/r4';
import { applyCorrections, COVERAGE_INFORMATION_URL, removeCoverageInformation } from './correct';
import { Dec } from './units';

const UCUM = 'http://unitsofmeasure.org';

function order(dosageInstruction: Dosage[], extra: Partial<MedicationRequest> = {}): MedicationRequest {
  return {
    resourceType: 'MedicationRequest',
    id: 'o1',
    status: 'draft',
    intent: 'order',
    subject: { reference: 'Patient/p' },
    authoredOn: '2024-04-30T10:00:00Z',
    dosageInstruction,
    ...extra,
  };
}

const bands = [
  { days: [1, 7] as [number, number], mcgPerDay: new Dec('5.3') },
  { days: [8, 28] as [number, number], mcgPerDay: new Dec('15.8') },
];

describe('applyCorrections', () => {
  test('a step-up rebuilt from a period keeps the period form and the other fields of the instruction', () => {
    const original = order([
      {
        text: '28 mcg/day continuous',
        route: { text: 'IV' },
        timing: { repeat: { boundsPeriod: { start: '2024-05-01', end: '2024-05-28' } } },
        doseAndRate: [
          { type: { text: 'ordered' }, doseQuantity: { value: 28, unit: 'mcg/day' } },
          { rateQuantity: { value: 10, unit: 'mL/h' } },
        ],
      },
    ]);
    const before = JSON.stringify(original);
    const corrected = applyCorrections(original, {
      doses: { mode: 'rebuild', bands, boundsForm: 'period', plannedStart: '2024-05-01', templateIndex: 0 },
    });
    expect(JSON.stringify(original)).toBe(before);
    expect(corrected.authoredOn).toBe('2024-04-30T10:00:00Z');
    expect(corrected.dosageInstruction).toEqual([
      {
        sequence: 1,
        route: { text: 'IV' },
        timing: { repeat: { boundsPeriod: { start: '2024-05-01', end: '2024-05-07' } } },
        doseAndRate: [
          { type: { text: 'ordered' }, doseQuantity: { value: 5.3, unit: 'ug/d', system: UCUM, code: 'ug/d' } },
          { rateQuantity: { value: 10, unit: 'mL/h' } },
        ],
      },
      {
        sequence: 2,
        route: { text: 'IV' },
        timing: { repeat: { boundsPeriod: { start: '2024-05-08', end: '2024-05-28' } } },
        doseAndRate: [
          { type: { text: 'ordered' }, doseQuantity: { value: 15.8, unit: 'ug/d', system: UCUM, code: 'ug/d' } },
          { rateQuantity: { value: 10, unit: 'mL/h' } },
        ],
      },
    ]);
  });

  test('an order without bounds gets durations; doseless instructions are kept after the rebuilt ones', () => {
    const corrected = applyCorrections(
      order([{ doseAndRate: [{ doseQuantity: { value: 28, unit: 'mcg/day' } }] }, { text: 'Premedicate' }]),
      { doses: { mode: 'rebuild', bands, boundsForm: 'none', plannedStart: '2024-05-01', templateIndex: 0 } }
    );
    expect(corrected.dosageInstruction?.map((d) => d.timing?.repeat?.boundsDuration?.value ?? d.text)).toEqual([
      7,
      21,
      'Premedicate',
    ]);
  });

  test('in place: only the listed instructions change', () => {
    const corrected = applyCorrections(
      order([
        { text: 'a', doseAndRate: [{ doseQuantity: { value: 9, unit: 'mcg/day' } }] },
        { text: 'b', doseAndRate: [{ doseQuantity: { value: 35, unit: 'mcg/day' } }] },
      ]),
      { doses: { mode: 'in-place', doses: new Map([[1, new Dec(28)]]) } }
    );
    expect(corrected.dosageInstruction?.[0]).toEqual({
      text: 'a',
      doseAndRate: [{ doseQuantity: { value: 9, unit: 'mcg/day' } }],
    });
    expect(corrected.dosageInstruction?.[1]).toEqual({
      doseAndRate: [{ doseQuantity: { value: 28, unit: 'ug/d', system: UCUM, code: 'ug/d' } }],
    });
  });

  test('quantity and supply duration, creating dispenseRequest when absent', () => {
    const corrected = applyCorrections(order([]), { quantityVials: 28, supplyDays: 84 });
    expect(corrected.dispenseRequest).toEqual({
      quantity: { value: 28, unit: '{vial}', system: UCUM, code: '{vial}' },
      expectedSupplyDuration: { value: 84, unit: 'd', system: UCUM, code: 'd' },
    });
    const kept = applyCorrections(order([], { dispenseRequest: { numberOfRepeatsAllowed: 0 } }), { supplyDays: 42 });
    expect(kept.dispenseRequest?.numberOfRepeatsAllowed).toBe(0);
    expect(kept.dispenseRequest?.quantity).toBeUndefined();
  });

  test('the coverage-information extension goes; other extensions stay', () => {
    const other = { url: 'http://example.org/x', valueString: 'y' };
    const corrected = applyCorrections(order([], { extension: [{ url: COVERAGE_INFORMATION_URL }, other] }), {});
    expect(corrected.extension).toEqual([other]);
    const only = order([], { extension: [{ url: COVERAGE_INFORMATION_URL }] });
    removeCoverageInformation(only);
    expect(only.extension).toBeUndefined();
  });
});
