import type { Dosage, MedicationRequest } from 'fhir/r4';
import { dosingRules } from '../../test/helpers/dosing-rules';
import { plannedStartOf, readDose, readDoses, readQuantity, readSupplyDuration } from './read-order';

const synonyms = dosingRules.unitSynonyms;
const UCUM = 'http://unitsofmeasure.org';

function mr(dosageInstruction: unknown, extra: Partial<MedicationRequest> = {}): MedicationRequest {
  return {
    resourceType: 'MedicationRequest',
    status: 'draft',
    intent: 'order',
    subject: { reference: 'Patient/p' },
    authoredOn: '2024-04-30',
    dosageInstruction: dosageInstruction as Dosage[],
    ...extra,
  };
}
const ugd = (value: number): Dosage['doseAndRate'] => [
  { doseQuantity: { value, unit: 'ug/d', system: UCUM, code: 'ug/d' } },
];

describe('plannedStartOf', () => {
  test('the earliest boundsPeriod start, else authoredOn, else the received date', () => {
    const order = mr([
      { timing: { repeat: { boundsPeriod: { start: '2024-05-08', end: '2024-05-28' } } } },
      { timing: { repeat: { boundsPeriod: { start: '2024-05-01T09:00:00Z', end: '2024-05-07' } } } },
    ]);
    expect(plannedStartOf(order, '2024-04-01')).toBe('2024-05-01');
    expect(
      plannedStartOf(mr([{ timing: { repeat: { boundsDuration: { value: 28, code: 'd' } } } }]), '2024-04-01')
    ).toBe('2024-04-30');
    expect(plannedStartOf(mr(undefined, { authoredOn: undefined }), '2024-04-01')).toBe('2024-04-01');
  });
});

describe('readDose', () => {
  test.each<[string, Dosage, string]>([
    ['ug/d code', { doseAndRate: ugd(28) }, 'daily 28'],
    ['mcg/day text', { doseAndRate: [{ doseQuantity: { value: 28, unit: 'mcg/day' } }] }, 'daily 28'],
    ['mg/d', { doseAndRate: [{ doseQuantity: { value: 0.028, system: UCUM, code: 'mg/d' } }] }, 'daily 28'],
    ['ug/h', { doseAndRate: [{ doseQuantity: { value: 1, system: UCUM, code: 'ug/h' } }] }, 'daily 24'],
    [
      'ug once daily',
      {
        timing: { repeat: { frequency: 1, period: 1, periodUnit: 'd' } },
        doseAndRate: [{ doseQuantity: { value: 9, unit: 'mcg' } }],
      },
      'daily 9',
    ],
    [
      'ug daily without a frequency (FHIR: once per period)',
      {
        timing: { repeat: { period: 1, periodUnit: 'd' } },
        doseAndRate: [{ doseQuantity: { value: 9, code: 'ug', system: UCUM } }],
      },
      'daily 9',
    ],
    ['ug/(m2.d)', { doseAndRate: [{ doseQuantity: { value: 15, system: UCUM, code: 'ug/(m2.d)' } }] }, 'per-m2 15'],
    ['mcg/m²/day text', { doseAndRate: [{ doseQuantity: { value: 5, unit: 'mcg/m²/day' } }] }, 'per-m2 5'],
    [
      'ug/m2 once daily',
      {
        timing: { repeat: { frequency: 1, period: 1, periodUnit: 'd' } },
        doseAndRate: [{ doseQuantity: { value: 5, code: 'ug/m2', system: UCUM } }],
      },
      'per-m2 5',
    ],
    ['ug without timing', { doseAndRate: [{ doseQuantity: { value: 28, code: 'ug', system: UCUM } }] }, 'unreadable'],
    [
      'ug every 12 hours',
      {
        timing: { repeat: { frequency: 1, period: 12, periodUnit: 'h' } },
        doseAndRate: [{ doseQuantity: { value: 14, code: 'ug', system: UCUM } }],
      },
      'unreadable',
    ],
    ['mL/h', { doseAndRate: [{ doseQuantity: { value: 10, code: 'mL/h', system: UCUM } }] }, 'unreadable'],
    ['no unit', { doseAndRate: [{ doseQuantity: { value: 28 } }] }, 'unreadable'],
    ['a dose range', { doseAndRate: [{ doseRange: { low: { value: 9 }, high: { value: 28 } } }] }, 'unreadable'],
    [
      'a comparator',
      { doseAndRate: [{ doseQuantity: { value: 28, comparator: '<', code: 'ug/d', system: UCUM } }] },
      'unreadable',
    ],
    ['a negative value', { doseAndRate: ugd(-28) }, 'unreadable'],
  ])('%s', (_name, instruction, expected) => {
    const dose = readDose(instruction, synonyms);
    const summary =
      dose.kind === 'daily'
        ? `daily ${dose.mcgPerDay.toFixed()}`
        : dose.kind === 'per-m2'
          ? `per-m2 ${dose.mcgPerM2PerDay.toFixed()}`
          : 'unreadable';
    expect(summary).toBe(expected);
  });
});

describe('readDoses: spans', () => {
  test('periods are placed on their dates (inclusive), ordered by sequence', () => {
    const order = mr([
      {
        sequence: 2,
        timing: { repeat: { boundsPeriod: { start: '2024-05-08', end: '2024-05-28' } } },
        doseAndRate: ugd(28),
      },
      {
        sequence: 1,
        timing: { repeat: { boundsPeriod: { start: '2024-05-01', end: '2024-05-07' } } },
        doseAndRate: ugd(9),
      },
    ]);
    const read = readDoses(order, '2024-05-01', 28, synonyms);
    expect(read.boundsForm).toBe('period');
    expect(read.instructions.map((i) => [i.index, i.rank, i.span])).toEqual([
      [1, 1, [1, 7]],
      [0, 2, [8, 28]],
    ]);
  });

  test('durations follow one another; a last instruction without bounds runs to the last infusion day', () => {
    const order = mr([
      {
        timing: { repeat: { boundsDuration: { value: 1, unit: 'wk', system: UCUM, code: 'wk' } } },
        doseAndRate: ugd(9),
      },
      { doseAndRate: ugd(28) },
    ]);
    const read = readDoses(order, '2024-05-01', 28, synonyms);
    expect(read.boundsForm).toBe('duration');
    expect(read.instructions.map((i) => i.span)).toEqual([
      [1, 7],
      [8, 28],
    ]);
  });

  test('an instruction without bounds followed by another, or a fractional duration, has no readable span', () => {
    const read = readDoses(mr([{ doseAndRate: ugd(9) }, { doseAndRate: ugd(28) }]), '2024-05-01', 28, synonyms);
    expect(read.instructions[0]?.spanProblem).toBeDefined();
    const half = readDoses(
      mr([{ timing: { repeat: { boundsDuration: { value: 7.5, code: 'd', system: UCUM } } }, doseAndRate: ugd(9) }]),
      '2024-05-01',
      28,
      synonyms
    );
    expect(half.instructions[0]?.spanProblem).toBeDefined();
  });

  test('instructions without a dose are not dose instructions; junk is tolerated', () => {
    const read = readDoses(
      mr([null, 'x', { text: 'premedicate' }, { doseAndRate: ugd(28) }]),
      '2024-05-01',
      28,
      synonyms
    );
    expect(read.instructions.map((i) => i.index)).toEqual([3]);
    expect(readDoses(mr('not an array'), '2024-05-01', 28, synonyms).instructions).toEqual([]);
  });
});

describe('readQuantity and readSupplyDuration', () => {
  test('vials, micrograms, or unreadable', () => {
    const q = (quantity: unknown): MedicationRequest =>
      mr([], { dispenseRequest: { quantity } as MedicationRequest['dispenseRequest'] });
    expect(readQuantity(q({ value: 28, unit: 'vials' }), synonyms)).toMatchObject({ status: 'vials' });
    expect(readQuantity(q({ value: 28, system: UCUM, code: '{vial}' }), synonyms)).toMatchObject({ status: 'vials' });
    const mcg = readQuantity(q({ value: 1, system: UCUM, code: 'mg' }), synonyms);
    expect(mcg.status === 'mcg' && mcg.mcg.toFixed()).toBe('1000');
    expect(readQuantity(q({ value: 2, unit: 'boxes' }), synonyms)).toMatchObject({ status: 'unreadable' });
    expect(readQuantity(q({ value: 2, unit: '{bag}', system: UCUM, code: '{bag}' }), synonyms)).toMatchObject({
      status: 'unreadable',
    });
    expect(readQuantity(mr([]), synonyms)).toEqual({ status: 'absent' });
  });

  test('supply duration in days', () => {
    const s = (expectedSupplyDuration: unknown): MedicationRequest =>
      mr([], { dispenseRequest: { expectedSupplyDuration } as MedicationRequest['dispenseRequest'] });
    const six = readSupplyDuration(s({ value: 6, unit: 'wk', system: UCUM, code: 'wk' }), synonyms);
    expect(six.status === 'days' && six.days.toFixed()).toBe('42');
    expect(readSupplyDuration(s({ value: 42, unit: 'days' }), synonyms)).toMatchObject({ status: 'days' });
    expect(readSupplyDuration(s({ value: 42 }), synonyms)).toMatchObject({ status: 'unreadable' });
    expect(readSupplyDuration(mr([]), synonyms)).toEqual({ status: 'absent' });
  });
});
