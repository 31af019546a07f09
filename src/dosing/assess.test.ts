import fc from 'fast-check';
import type { Dosage, MedicationRequest, Observation } from 'fhir/r4';
import { dosingRules } from '../../test/helpers/dosing-rules';
import { assessDose, cycleSpecFor, overallCap } from './assess';
import { plannedStartOf } from './read-order';
import type { DoseInput } from './types';

const UCUM = 'http://unitsofmeasure.org';
const rr = dosingRules.schedules['relapsed-refractory']!;

function obs(code: string, value: number, unit: string, date: string): Observation {
  return {
    resourceType: 'Observation',
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code }] },
    effectiveDateTime: date,
    valueQuantity: { value, unit, system: UCUM, code: unit },
  };
}

function input(dosageInstruction: Dosage[], overrides: Partial<DoseInput> = {}): DoseInput {
  const order: MedicationRequest = {
    resourceType: 'MedicationRequest',
    id: 'o1',
    status: 'draft',
    intent: 'order',
    subject: { reference: 'Patient/p' },
    authoredOn: '2024-05-01',
    dosageInstruction,
    dispenseRequest: {
      quantity: { value: 28, unit: 'vial', system: UCUM, code: '{vial}' },
      expectedSupplyDuration: { value: 42, unit: 'd', system: UCUM, code: 'd' },
    },
  };
  return {
    order,
    plannedStart: '2024-05-01',
    cycle: 2,
    schedule: rr,
    indicationMet: true,
    rules: dosingRules,
    patient: {
      birthDate: '1980-01-01',
      weights: [obs('29463-7', 70, 'kg', '2024-04-28')],
      heights: [obs('8302-2', 170, 'cm', '2024-04-28')],
      bsas: [],
    },
    ...overrides,
  };
}
const ugd = (value: number, days?: number): Dosage => ({
  doseAndRate: [{ doseQuantity: { value, unit: 'ug/d', system: UCUM, code: 'ug/d' } }],
  ...(days ? { timing: { repeat: { boundsDuration: { value: days, unit: 'd', system: UCUM, code: 'd' } } } } : {}),
});

describe('cycleSpecFor and overallCap', () => {
  test('cycles 1, 2–5 and 6–9; past the last range the last one applies', () => {
    expect(cycleSpecFor(rr, 1)?.bands).toHaveLength(2);
    expect(cycleSpecFor(rr, 5)?.lengthDays).toBe(42);
    expect(cycleSpecFor(rr, 6)?.lengthDays).toBe(84);
    expect(cycleSpecFor(rr, 10)?.lengthDays).toBe(84);
    expect(cycleSpecFor(rr, 0)).toBeUndefined();
  });
  test('the overall cap is the highest band cap (28 mcg/day)', () => {
    expect(overallCap(dosingRules)?.toFixed()).toBe('28');
  });
});

describe('assessDose', () => {
  test('prompts and findings are plain, short sentences a person can act on', () => {
    const result = assessDose(
      input([ugd(35, 28)], {
        patient: { birthDate: '1980-01-01', weights: [obs('29463-7', 70, 'kg', '2024-03-01')], heights: [], bsas: [] },
      })
    );
    expect(result.prompts).toEqual([
      {
        kind: 'stale-weight',
        text:
          'The latest weight (70 kg, 2024-03-01) is more than 30 days old at the planned start 2024-05-01. ' +
          'It was used; chart a current weight.',
      },
    ]);
    // Over the cap: the cap is the reason (contract section 7: the caps are hard, whatever the tolerance).
    expect(result.findings).toEqual(['Days 1–28: ordered 35 mcg/day exceeds the 28 mcg/day cap; expected 28 mcg/day.']);
    expect(result.correction?.summary).toBe('Correct the order: dose 28 mcg/day on days 1–28');
  });

  test('without a weight: only the request for one, even for an absurd dose', () => {
    const result = assessDose(input([ugd(500, 28)], { patient: { weights: [], heights: [], bsas: [] } }));
    expect(result.prompts.map((p) => p.kind)).toEqual(['missing-weight']);
    expect(result.findings).toEqual([]);
    expect(result.expected).toBeUndefined();
  });

  test('an unreadable dose among readable ones stops the dose verdict but not the quantity check', () => {
    const instructions: Dosage[] = [
      { ...ugd(9, 7), sequence: 1 },
      { ...ugd(50, 21), sequence: 2, doseAndRate: [{ doseQuantity: { value: 50, unit: 'mcg/hr/bag' } }] },
    ];
    const base = input(instructions, { cycle: 1 });
    base.order.dispenseRequest = {
      quantity: { value: 40, unit: 'vials' },
      expectedSupplyDuration: { value: 42, unit: 'days' },
    };
    const result = assessDose(base);
    expect(result.prompts.map((p) => p.kind)).toEqual(['unreadable-dose']);
    expect(result.prompts[0]?.text).toContain('Dose instruction 2 (50 mcg/hr/bag) cannot be read');
    expect(result.findings).toEqual(['The quantity of 40 vials exceeds the limit of 28 vials (980 units) per cycle.']);
    // The unreadable dose is left for a person, not guessed at.
    expect(result.correction?.resource.dosageInstruction).toEqual(instructions);
  });

  test('an order with no dose at all asks for one', () => {
    const result = assessDose(input([{ text: 'Blinatumomab as per protocol' }]));
    expect(result.prompts.map((p) => p.kind)).toEqual(['unreadable-dose']);
    expect(result.correction).toBeUndefined();
  });

  test('a child: the height is asked for once the weight shows BSA dosing applies', () => {
    const result = assessDose(
      input([ugd(15, 28)], {
        patient: { birthDate: '2015-01-01', weights: [obs('29463-7', 25, 'kg', '2024-04-30')], heights: [], bsas: [] },
      })
    );
    expect(result.prompts.map((p) => p.kind)).toEqual(['missing-height']);
    expect(result.prompts[0]?.text).toContain('weight under 45 kg');
  });

  test('a per-m² order under cap-only checking is converted with the BSA', () => {
    const result = assessDose(
      input([{ doseAndRate: [{ doseQuantity: { value: 20, unit: 'mcg/m²/day' } }] }], { indicationMet: false })
    );
    // 20 × 1.82 = 36.4 > 28
    expect(result.findings).toEqual(['Ordered 36.4 mcg/day exceeds the maximum of 28 mcg/day.']);
    expect(result.correction?.resource.dosageInstruction?.[0]?.doseAndRate?.[0]?.doseQuantity?.value).toBe(28);
  });

  test('days outside the infusion days (29–42) are not compared', () => {
    const result = assessDose(
      input([
        { ...ugd(28, 28), sequence: 1 },
        { ...ugd(0, 14), sequence: 2 },
      ])
    );
    expect(result.findings).toEqual([]);
  });

  test('never throws and never modifies its input, whatever the order and observations hold', () => {
    fc.assert(
      fc.property(fc.anything(), fc.anything(), fc.anything(), (dosage, dispense, weights) => {
        const base = input([]);
        const order = {
          ...base.order,
          dosageInstruction: dosage,
          dispenseRequest: dispense,
        } as unknown as MedicationRequest;
        const patient = { weights: weights as Observation[], heights: [], bsas: [] };
        const before = JSON.stringify([order, patient]);
        const result = assessDose({ ...base, order, patient });
        expect(JSON.stringify([order, patient])).toBe(before);
        expect(Array.isArray(result.findings) && Array.isArray(result.prompts)).toBe(true);
        // The junk is handled by the readers themselves, not by the last-resort catch.
        expect(result.prompts.map((p) => p.text).join()).not.toContain('could not be checked automatically');
        if (result.correction) {
          expect(result.correction.summary.length).toBeLessThan(140);
        }
      }),
      { numRuns: 300 }
    );
  });

  test('on generated orders, applying a correction and assessing again corrects nothing', () => {
    const quantity = fc.record(
      {
        value: fc.oneof(
          { weight: 4, arbitrary: fc.constantFrom(5, 9, 15, 28, 29, 30.9, 45, 1000) },
          fc.integer({ min: -5, max: 2000 }),
          fc.double({ min: 0, max: 100, noNaN: true }),
          fc.constant('x')
        ),
        unit: fc.oneof(
          { weight: 4, arbitrary: fc.constant('mcg/day') },
          fc.constantFrom('ug', 'mg/d', 'mg', 'ug/(m2.d)', 'mcg/m²/day', 'ug/h', 'junk', 'vials')
        ),
        system: fc.constantFrom(UCUM, undefined),
        code: fc.constantFrom('ug/d', 'ug', 'mg/d', 'bad', undefined),
      },
      { requiredKeys: ['value'] }
    );
    const repeat = fc.record(
      {
        boundsPeriod: fc.record(
          {
            start: fc.constantFrom('2024-05-01', '2024-05-08', '2024-04-20', 'bad'),
            end: fc.constantFrom('2024-05-07', '2024-05-28', '2024-06-30', '2024-04-01', 'bad'),
          },
          { requiredKeys: [] }
        ),
        boundsDuration: fc.record({
          value: fc.oneof(
            { weight: 4, arbitrary: fc.constantFrom(7, 21, 28) },
            fc.integer({ min: -1, max: 60 }),
            fc.constant(7.5)
          ),
          unit: fc.constantFrom('d', 'days', 'wk', 'x'),
        }),
        frequency: fc.constantFrom(1, 2),
        period: fc.constantFrom(1, 12),
        periodUnit: fc.constantFrom('d', 'h'),
      },
      { requiredKeys: [] }
    );
    const instruction = fc.record(
      {
        sequence: fc.oneof(fc.integer({ min: 0, max: 3 }), fc.constant('x')),
        timing: fc.record({ repeat }),
        doseAndRate: fc.array(fc.record({ doseQuantity: quantity }, { requiredKeys: [] }), { maxLength: 2 }),
        text: fc.constant('as written'),
      },
      { requiredKeys: [] }
    );
    const measures = fc.record({
      kg: fc.oneof(fc.constantFrom(45, 44.99, 4.5, 70), fc.double({ min: 2, max: 150, noNaN: true })),
      cm: fc.option(fc.integer({ min: 45, max: 210 }), { nil: undefined }),
      bsa: fc.option(fc.constantFrom(0.05, 0.3, 1.2, 1.9, 3.5), { nil: undefined }),
    });
    fc.assert(
      fc.property(
        fc.array(instruction, { maxLength: 3 }),
        fc.option(quantity, { nil: undefined }),
        fc.option(fc.record({ value: fc.constantFrom(28, 42, 84), unit: fc.constantFrom('d', 'days', 'wk') }), {
          nil: undefined,
        }),
        fc.oneof(fc.constant(1), fc.integer({ min: 1, max: 10 })),
        fc.oneof({ weight: 3, arbitrary: fc.constant(true) }, fc.constant(false)),
        fc.constantFrom('relapsed-refractory', 'mrd', 'none'),
        measures,
        (dosage, qty, supply, cycle, indicationMet, scheduleId, m) => {
          const base = input(dosage as Dosage[]);
          base.order.dispenseRequest = { quantity: qty as never, expectedSupplyDuration: supply as never };
          const schedule = scheduleId === 'none' ? undefined : dosingRules.schedules[scheduleId];
          const patient = {
            birthDate: '2000-01-01',
            weights: [obs('29463-7', m.kg, 'kg', '2024-04-28')],
            heights: m.cm === undefined ? [] : [obs('8302-2', m.cm, 'cm', '2024-04-28')],
            bsas: m.bsa === undefined ? [] : [obs('8277-6', m.bsa, 'm2', '2024-04-28')],
          };
          const run = (order: MedicationRequest): ReturnType<typeof assessDose> =>
            assessDose({
              ...base,
              order,
              cycle,
              indicationMet,
              schedule,
              patient,
              plannedStart: plannedStartOf(order, '2024-05-01'),
            });
          const first = run(base.order);
          if (!first.correction) {
            return;
          }
          expect(first.correction.summary.length).toBeLessThan(140);
          const again = run(first.correction.resource);
          expect(again.findings).toEqual([]);
        }
      ),
      { numRuns: 3000 }
    );
  });
});
