// Table of dose-check vectors (contract sections 6 and 7), run by dosing-vectors.test.ts. Every vector is one
// clinical situation: the patient's measurements, the order, and what the check must say. Unless a vector says
// otherwise: an adult (born 1980) of 70 kg and 170 cm charted 2024-04-28, cycle 1 of the relapsed/refractory
// schedule, indication met, planned start 2024-05-01, 28 vials and a 42-day supply.
import type { Dosage, Duration, MedicationRequest, Observation, Quantity, Timing } from 'fhir/r4';
import type { DosePrompt } from '../src/dosing/types';

export const UCUM = 'http://unitsofmeasure.org';
export const START = '2024-05-01';

export interface DoseVector {
  name: string;
  schedule?: string | null;
  cycle?: number;
  indicationMet?: boolean;
  birthDate?: string;
  weights?: Observation[];
  heights?: Observation[];
  bsas?: Observation[];
  order: MedicationRequest;
  expect: {
    correction: boolean;
    basis?: 'fixed' | 'bsa';
    /** Expected mcg/day per band (assessment.expected.bands); null: no expected doses. */
    expected?: string[] | null;
    prompts?: Array<DosePrompt['kind']>;
    /** Each string must appear in some finding. */
    findings?: string[];
    /** The corrected dose instructions: mcg/day and bounds ([start, end] dates or days). */
    correctedDoses?: Array<{ mcg: number; period?: [string, string]; days?: number; sequence?: number }>;
    correctedQuantity?: number;
    correctedSupply?: number;
    /** The quantity left as ordered (not over the limit). */
    quantityUntouched?: boolean;
    allowedPeriod?: { start: string; end: string };
    summary?: string[];
    arithmetic?: string[];
  };
}

// ---- builders -------------------------------------------------------------------------------------------------

let obsCounter = 0;
function observation(
  code: string,
  value: number,
  unit: string,
  date: string,
  extra: Partial<Observation> = {}
): Observation {
  obsCounter += 1;
  return {
    resourceType: 'Observation',
    id: `obs-${obsCounter}`,
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code }] },
    effectiveDateTime: date,
    valueQuantity: { value, unit, system: UCUM, code: unit },
    ...extra,
  };
}
export const weight = (kg: number, date = '2024-04-28', unit = 'kg'): Observation =>
  observation('29463-7', kg, unit, date);
export const height = (cm: number, date = '2024-04-28', unit = 'cm'): Observation =>
  observation('8302-2', cm, unit, date);
export const bsa = (m2: number, date = '2024-04-28'): Observation => observation('8277-6', m2, 'm2', date);

export const ugPerDay = (value: number): Quantity => ({ value, unit: 'ug/d', system: UCUM, code: 'ug/d' });
const days = (value: number): Duration => ({ value, unit: 'd', system: UCUM, code: 'd' });
const onceDaily: Timing['repeat'] = { frequency: 1, period: 1, periodUnit: 'd' };

export function dose(
  quantity: Quantity,
  bounds: { period?: [string, string]; days?: number; sequence?: number; repeat?: Timing['repeat'] } = {}
): Dosage {
  const repeat: NonNullable<Timing['repeat']> = { ...(bounds.repeat ?? {}) };
  if (bounds.period) {
    repeat.boundsPeriod = { start: bounds.period[0], end: bounds.period[1] };
  }
  if (bounds.days !== undefined) {
    repeat.boundsDuration = days(bounds.days);
  }
  const instruction: Dosage = {
    text: 'Continuous IV infusion',
    route: { coding: [{ system: 'http://snomed.info/sct', code: '47625008', display: 'Intravenous route' }] },
    doseAndRate: [{ doseQuantity: quantity }],
  };
  if (Object.keys(repeat).length > 0) {
    instruction.timing = { repeat };
  }
  if (bounds.sequence !== undefined) {
    instruction.sequence = bounds.sequence;
  }
  return instruction;
}

export const stepUpPeriods = (first = 9, second = 28): Dosage[] => [
  dose(ugPerDay(first), { period: ['2024-05-01', '2024-05-07'], sequence: 1 }),
  dose(ugPerDay(second), { period: ['2024-05-08', '2024-05-28'], sequence: 2 }),
];
export const stepUpDurations = (first = 9, second = 28): Dosage[] => [
  dose(ugPerDay(first), { days: 7, sequence: 1 }),
  dose(ugPerDay(second), { days: 21, sequence: 2 }),
];
export const flatPeriod = (mcg = 28): Dosage[] => [dose(ugPerDay(mcg), { period: ['2024-05-01', '2024-05-28'] })];
export const flatDuration = (q: Quantity | number = 28, repeat?: Timing['repeat']): Dosage[] => [
  dose(typeof q === 'number' ? ugPerDay(q) : q, { days: 28, repeat }),
];

export const vials = (n: number): Quantity => ({ value: n, unit: 'vial', system: UCUM, code: '{vial}' });

export function order(
  instructions: Dosage[],
  opts: { quantity?: Quantity | null; supply?: Duration | null; extension?: MedicationRequest['extension'] } = {}
): MedicationRequest {
  const request: MedicationRequest = {
    resourceType: 'MedicationRequest',
    id: 'blin-order-1',
    status: 'draft',
    intent: 'order',
    subject: { reference: 'Patient/pat-1' },
    authoredOn: '2024-05-01',
    medicationCodeableConcept: {
      coding: [{ system: 'http://www.nlm.nih.gov/research/umls/rxnorm', code: '1597262' }],
    },
    dosageInstruction: instructions,
    dispenseRequest: {},
  };
  const dispense: NonNullable<MedicationRequest['dispenseRequest']> = {};
  const quantity = opts.quantity === undefined ? vials(28) : opts.quantity;
  const supply = opts.supply === undefined ? days(42) : opts.supply;
  if (quantity) {
    dispense.quantity = quantity;
  }
  if (supply) {
    dispense.expectedSupplyDuration = supply;
  }
  request.dispenseRequest = dispense;
  if (opts.extension) {
    request.extension = opts.extension;
  }
  return request;
}

const COVERAGE_INFO = 'http://hl7.org/fhir/us/davinci-crd/StructureDefinition/ext-coverage-information';

// ---- the vectors ----------------------------------------------------------------------------------------------

export const vectors: DoseVector[] = [
  // Step-up in cycle 1 of the relapsed/refractory schedule
  {
    name: 'adult, cycle 1 step-up in periods, right doses',
    order: order(stepUpPeriods()),
    expect: { correction: false, basis: 'fixed', expected: ['9', '28'], prompts: [] },
  },
  {
    name: 'adult, cycle 1 step-up in durations, right doses',
    order: order(stepUpDurations()),
    expect: { correction: false, basis: 'fixed', expected: ['9', '28'], prompts: [] },
  },
  {
    name: 'adult, cycle 1 without step-up (one period of 28 mcg/day) splits the period',
    order: order(flatPeriod()),
    expect: {
      correction: true,
      findings: ['lacks the step-up: ordered 28 mcg/day on days 1–28; expected 9 mcg/day on days 1–7'],
      correctedDoses: [
        { mcg: 9, period: ['2024-05-01', '2024-05-07'], sequence: 1 },
        { mcg: 28, period: ['2024-05-08', '2024-05-28'], sequence: 2 },
      ],
      quantityUntouched: true,
      summary: ['9 mcg/day on days 1–7, then 28 mcg/day on days 8–28'],
    },
  },
  {
    name: 'adult, cycle 1 without step-up (28 d duration) becomes 7 d and 21 d',
    order: order(flatDuration()),
    expect: {
      correction: true,
      findings: ['lacks the step-up'],
      correctedDoses: [
        { mcg: 9, days: 7, sequence: 1 },
        { mcg: 28, days: 21, sequence: 2 },
      ],
    },
  },
  {
    name: 'adult, cycle 1 without step-up and without bounds gets durations',
    order: order([dose(ugPerDay(28))]),
    expect: {
      correction: true,
      findings: ['lacks the step-up'],
      correctedDoses: [
        { mcg: 9, days: 7, sequence: 1 },
        { mcg: 28, days: 21, sequence: 2 },
      ],
    },
  },
  {
    name: 'adult, cycle 1 step-up with the first band too high is corrected in place',
    order: order(stepUpPeriods(28, 28)),
    expect: {
      correction: true,
      findings: ['Days 1–7: ordered 28 mcg/day exceeds the 9 mcg/day cap; expected 9 mcg/day'],
      correctedDoses: [
        { mcg: 9, period: ['2024-05-01', '2024-05-07'], sequence: 1 },
        { mcg: 28, period: ['2024-05-08', '2024-05-28'], sequence: 2 },
      ],
    },
  },
  {
    name: 'cycle 2 ordered as a step-up: one instruction of 28 mcg/day for 28 d',
    cycle: 2,
    order: order(stepUpDurations()),
    expect: {
      correction: true,
      expected: ['28'],
      findings: ['Days 1–28: ordered 9 mcg/day, expected 28 mcg/day', 'Cycle 2 of this schedule has no step-up'],
      correctedDoses: [{ mcg: 28, days: 28 }],
    },
  },

  // The weight threshold
  {
    name: 'exactly 45.0 kg takes the fixed dose',
    schedule: 'mrd',
    weights: [weight(45.0)],
    heights: [height(160)],
    order: order(flatDuration(28)),
    expect: { correction: false, basis: 'fixed', expected: ['28'] },
  },
  {
    name: '44.99 kg is dosed by BSA: 15 × 1.41 = 21.15 → 21.2 mcg/day',
    schedule: 'mrd',
    weights: [weight(44.99)],
    heights: [height(160)],
    order: order(flatDuration(28)),
    expect: {
      correction: true,
      basis: 'bsa',
      expected: ['21.2'],
      findings: ['Days 1–28: ordered 28 mcg/day, expected 21.2 mcg/day'],
      correctedDoses: [{ mcg: 21.2, days: 28 }],
      arithmetic: [
        'sqrt(160 cm × 44.99 kg / 3600) = 1.4140, rounded half up to 1.41 m²',
        '15 mcg/m²/day × 1.41 m² = 21.15',
      ],
      summary: ['21.2 mcg/day on days 1–28'],
    },
  },

  // BSA rounding
  {
    name: 'BSA exactly at the half (125 cm × 36.45 kg: 1.125) rounds up to 1.13; 5.65 → 5.7, 16.95 → 17',
    weights: [weight(36.45)],
    heights: [height(125)],
    order: order(stepUpDurations(5.7, 17)),
    expect: {
      correction: false,
      basis: 'bsa',
      expected: ['5.7', '17'],
      arithmetic: ['= 1.1250, rounded half up to 1.13 m²', '5 mcg/m²/day × 1.13 m² = 5.65'],
    },
  },
  {
    name: 'BSA just below the half (125 cm × 36.44 kg: 1.1248) rounds down to 1.12',
    weights: [weight(36.44)],
    heights: [height(125)],
    order: order(stepUpDurations(5.6, 16.8)),
    expect: { correction: false, basis: 'bsa', expected: ['5.6', '16.8'] },
  },

  // Caps
  {
    name: 'both caps: charted BSA 1.9 m² gives 9.5 → 9 and 28.5 → 28',
    weights: [weight(44.99)],
    heights: [height(210)],
    bsas: [bsa(1.9)],
    order: order(stepUpPeriods(9, 28)),
    expect: {
      correction: false,
      basis: 'bsa',
      expected: ['9', '28'],
      arithmetic: [
        'cap 9 mcg/day applies: 9 mcg/day',
        'cap 28 mcg/day applies: 28 mcg/day',
        'BSA used: 1.9 m², charted',
      ],
    },
  },
  {
    name: 'both caps exceeded by less than 10 %: still corrected to the caps',
    weights: [weight(44.99)],
    heights: [height(210)],
    bsas: [bsa(1.9)],
    order: order(stepUpPeriods(9.5, 28.5)),
    expect: {
      correction: true,
      findings: ['exceeds the 9 mcg/day cap', 'exceeds the 28 mcg/day cap'],
      correctedDoses: [
        { mcg: 9, period: ['2024-05-01', '2024-05-07'], sequence: 1 },
        { mcg: 28, period: ['2024-05-08', '2024-05-28'], sequence: 2 },
      ],
    },
  },

  // Infants
  {
    name: 'infant 4.5 kg, 55 cm (BSA 0.26): per-m² order 5 then 15 mcg/m²/day is right',
    birthDate: '2024-01-02',
    weights: [weight(4.5, '2024-04-29')],
    heights: [height(55, '2024-04-29')],
    order: order([
      dose({ value: 5, unit: 'mcg/m²/day' }, { days: 7, sequence: 1 }),
      dose({ value: 15, unit: 'mcg/m²/day' }, { days: 21, sequence: 2 }),
    ]),
    expect: {
      correction: false,
      basis: 'bsa',
      expected: ['1.3', '3.9'],
      prompts: [],
      arithmetic: ['15 mcg/m²/day × 0.26 m² = 3.9'],
    },
  },
  {
    name: 'infant 4.9 kg, 58 cm (BSA 0.28) ordered 28 mcg/day in cycle 2: corrected to 4.2',
    birthDate: '2024-01-02',
    cycle: 2,
    weights: [weight(4900, '2024-04-30', 'g')],
    heights: [height(0.58, '2024-04-30', 'm')],
    order: order(flatDuration(28)),
    expect: {
      correction: true,
      basis: 'bsa',
      expected: ['4.2'],
      correctedDoses: [{ mcg: 4.2, days: 28 }],
      arithmetic: ['Weight: 4.9 kg (charted 4900 g, 2024-04-30)', 'Height: 58 cm (charted 0.58 m, 2024-04-30)'],
    },
  },

  // Charted BSA versus Mosteller
  {
    name: 'charted BSA within 30 days and plausible is used (1.5 m² rather than Mosteller 1.40)',
    schedule: 'mrd',
    weights: [weight(44)],
    heights: [height(160)],
    bsas: [bsa(1.5, '2024-04-01')],
    order: order(flatDuration(22.5)),
    expect: { correction: false, basis: 'bsa', expected: ['22.5'], prompts: [] },
  },
  {
    name: 'without a charted BSA, Mosteller from weight and height (1.40 m²)',
    schedule: 'mrd',
    weights: [weight(44)],
    heights: [height(160)],
    order: order(flatDuration(21)),
    expect: { correction: false, basis: 'bsa', expected: ['21'], arithmetic: ['BSA used: 1.4 m² (Mosteller)'] },
  },
  {
    name: 'charted BSA older than 30 days is not used',
    schedule: 'mrd',
    weights: [weight(44)],
    heights: [height(160)],
    bsas: [bsa(1.5, '2024-03-31')],
    order: order(flatDuration(21)),
    expect: { correction: false, expected: ['21'], prompts: [], arithmetic: ['is older than 30 days: not used'] },
  },
  {
    name: 'charted BSA more than 20 % from Mosteller: Mosteller used, a person asked to verify',
    schedule: 'mrd',
    weights: [weight(44)],
    heights: [height(160)],
    bsas: [bsa(1.7)],
    order: order(flatDuration(21)),
    expect: { correction: false, expected: ['21'], prompts: ['implausible-bsa'] },
  },
  {
    name: 'charted BSA outside 0.1–3.0 m²: Mosteller used, a person asked to verify',
    schedule: 'mrd',
    weights: [weight(44)],
    heights: [height(160)],
    bsas: [bsa(3.2)],
    order: order(flatDuration(25.5)),
    expect: {
      correction: true,
      expected: ['21'],
      prompts: ['implausible-bsa'],
      correctedDoses: [{ mcg: 21, days: 28 }],
    },
  },

  // Unit forms (cycle 2: expected 28 mcg/day on days 1–28)
  {
    name: 'unit form: UCUM ug/d code',
    cycle: 2,
    order: order(flatDuration({ value: 28, unit: 'microgram per day', system: UCUM, code: 'ug/d' })),
    expect: { correction: false, expected: ['28'], prompts: [] },
  },
  {
    name: 'unit form: unit text mcg/day without a system',
    cycle: 2,
    order: order(flatDuration({ value: 28, unit: 'mcg/day' })),
    expect: { correction: false, prompts: [] },
  },
  {
    name: 'unit form: a non-UCUM code falls back to the unit text (mcg/day)',
    cycle: 2,
    order: order(flatDuration({ value: 28, unit: 'mcg/day', system: 'http://example.org/units', code: 'MCGD' })),
    expect: { correction: false, prompts: [] },
  },
  {
    name: 'unit form: ug once daily',
    cycle: 2,
    order: order(flatDuration({ value: 28, unit: 'ug', system: UCUM, code: 'ug' }, onceDaily)),
    expect: { correction: false, prompts: [] },
  },
  {
    name: 'unit form: ug/(m2.d) converted with the BSA (15 × 1.82 = 27.3)',
    cycle: 2,
    order: order(flatDuration({ value: 15, unit: 'ug/(m2.d)', system: UCUM, code: 'ug/(m2.d)' })),
    expect: { correction: false, prompts: [], arithmetic: ['15 mcg/m²/day × 1.82 m² = 27.3'] },
  },
  {
    name: 'unit form: mg/d (0.028 mg/d is exactly 28 mcg/day)',
    cycle: 2,
    order: order(flatDuration({ value: 0.028, unit: 'mg/d', system: UCUM, code: 'mg/d' })),
    expect: { correction: false, prompts: [], arithmetic: ['0.028 mg/d = 28 mcg/day'] },
  },
  {
    name: 'unit form: mg/d over the 10 % line (0.0309 mg/d = 30.9)',
    cycle: 2,
    order: order(flatDuration({ value: 0.0309, unit: 'mg/d', system: UCUM, code: 'mg/d' })),
    expect: { correction: true, correctedDoses: [{ mcg: 28, days: 28 }] },
  },
  {
    name: 'unit form: mg once daily',
    cycle: 2,
    order: order(flatDuration({ value: 0.028, unit: 'mg', system: UCUM, code: 'mg' }, onceDaily)),
    expect: { correction: false, prompts: [] },
  },
  {
    name: 'unit form: unreadable unit gives a prompt, not a guess',
    cycle: 2,
    order: order(flatDuration({ value: 280, unit: 'mcg per day' })),
    expect: { correction: false, expected: ['28'], prompts: ['unreadable-dose'] },
  },
  {
    name: 'unit form: ug twice a day is not a daily dose that can be read',
    cycle: 2,
    order: order(
      flatDuration({ value: 14, unit: 'ug', system: UCUM, code: 'ug' }, { frequency: 2, period: 1, periodUnit: 'd' })
    ),
    expect: { correction: false, prompts: ['unreadable-dose'] },
  },
  {
    name: 'unit form: a per-m² dose for an adult without a height asks for the height',
    cycle: 2,
    heights: [],
    order: order(flatDuration({ value: 15, unit: 'ug/(m2.d)', system: UCUM, code: 'ug/(m2.d)' })),
    expect: { correction: false, prompts: ['missing-height'] },
  },

  // The hard caps (contract section 7, revision 2): a fixed dose above the cap is always a correction, whatever the
  // tolerance (revision 2 overturned "30.8 is within 10 % of 28, so no correction"). Expected 28.0 in cycle 2.
  {
    name: 'cap: a fixed 28.0 mcg/day is right',
    cycle: 2,
    order: order(flatDuration(28)),
    expect: { correction: false, expected: ['28'] },
  },
  {
    name: 'cap: a fixed 28.1 mcg/day exceeds the 28 cap and is corrected (within 10 %)',
    cycle: 2,
    order: order(flatDuration(28.1)),
    expect: {
      correction: true,
      findings: ['Days 1–28: ordered 28.1 mcg/day exceeds the 28 mcg/day cap; expected 28 mcg/day.'],
      correctedDoses: [{ mcg: 28, days: 28 }],
    },
  },
  {
    name: 'cap: a fixed 27.9 mcg/day is within 10 % below and no correction',
    cycle: 2,
    order: order(flatDuration(27.9)),
    expect: { correction: false },
  },
  {
    name: 'cap: a fixed 28.5 mcg/day is corrected (revision 2)',
    cycle: 2,
    order: order(flatDuration(28.5)),
    expect: { correction: true, findings: ['exceeds the 28 mcg/day cap'], correctedDoses: [{ mcg: 28, days: 28 }] },
  },
  {
    name: 'cap: a fixed 30 mcg/day is corrected (revision 2)',
    cycle: 2,
    order: order(flatDuration(30)),
    expect: { correction: true, findings: ['exceeds the 28 mcg/day cap'], correctedDoses: [{ mcg: 28, days: 28 }] },
  },
  {
    name: 'cap: a fixed 30.8 mcg/day is corrected (revision 2 overturned "within 10 %, no correction")',
    cycle: 2,
    order: order(flatDuration(30.8)),
    expect: { correction: true, findings: ['ordered 30.8 mcg/day exceeds the 28 mcg/day cap'] },
  },
  {
    name: 'cap: 28.04 rounds half up to 28 before comparing: no correction',
    cycle: 2,
    order: order(flatDuration(28.04)),
    expect: { correction: false, arithmetic: ['28.04 mcg/day, rounded half up to 28 mcg/day'] },
  },
  {
    name: 'cap: 28.05 rounds half up to 28.1 before comparing: over the cap',
    cycle: 2,
    order: order(flatDuration(28.05)),
    expect: { correction: true, arithmetic: ['rounded half up to 28.1 mcg/day'] },
  },
  {
    name: 'cap, step-up: 9.0 mcg/day on days 1–7 is right',
    order: order(stepUpPeriods(9, 28)),
    expect: { correction: false, expected: ['9', '28'] },
  },
  {
    name: 'cap, step-up: 9.1 mcg/day on days 1–7 exceeds the 9 cap and is corrected (within 10 %)',
    order: order(stepUpPeriods(9.1, 28)),
    expect: {
      correction: true,
      findings: ['Days 1–7: ordered 9.1 mcg/day exceeds the 9 mcg/day cap; expected 9 mcg/day.'],
      correctedDoses: [
        { mcg: 9, period: ['2024-05-01', '2024-05-07'], sequence: 1 },
        { mcg: 28, period: ['2024-05-08', '2024-05-28'], sequence: 2 },
      ],
    },
  },
  {
    name: 'cap, step-up: 8.5 mcg/day on days 1–7 is within 10 % below and no correction',
    order: order(stepUpPeriods(8.5, 28)),
    expect: { correction: false },
  },
  {
    name: 'cap, step-up: 28.1 mcg/day on days 8–28 exceeds the 28 cap',
    order: order(stepUpPeriods(9, 28.1)),
    expect: { correction: true, findings: ['Days 8–28: ordered 28.1 mcg/day exceeds the 28 mcg/day cap'] },
  },
  {
    name: 'cap, BSA: 15 × 1.87 m² = 28.05 → 28.1 passes the cap: expected 28 (min of product and cap)',
    weights: [weight(44.99)],
    heights: [height(200)],
    bsas: [bsa(1.87)],
    cycle: 2,
    order: order(flatDuration(28)),
    expect: {
      correction: false,
      basis: 'bsa',
      expected: ['28'],
      arithmetic: ['15 mcg/m²/day × 1.87 m² = 28.05, rounded half up to tenths: 28.1 mcg/day; cap 28 mcg/day applies'],
    },
  },
  {
    name: 'cap, BSA: the same patient ordered the product 28.1 is corrected to the cap',
    weights: [weight(44.99)],
    heights: [height(200)],
    bsas: [bsa(1.87)],
    cycle: 2,
    order: order(flatDuration(28.1)),
    expect: { correction: true, expected: ['28'], correctedDoses: [{ mcg: 28, days: 28 }] },
  },

  // The 10 % line below the cap (expected 28.0; above it the cap decides first)
  {
    name: '10 % line: 25.2 is not a correction',
    cycle: 2,
    order: order(flatDuration(25.2)),
    expect: { correction: false },
  },
  { name: '10 % line: 25.1 is a correction', cycle: 2, order: order(flatDuration(25.1)), expect: { correction: true } },
  {
    name: '10 % line: 25.15 rounds half up to 25.2 before comparing: no correction',
    cycle: 2,
    order: order(flatDuration(25.15)),
    expect: { correction: false, arithmetic: ['rounded half up to 25.2 mcg/day'] },
  },

  // Quantity limits
  {
    name: 'quantity: 28 vials is within the limit',
    cycle: 2,
    order: order(flatDuration(28), { quantity: vials(28) }),
    expect: { correction: false, quantityUntouched: true, arithmetic: ['28 vials × 35 mcg = 980 mcg'] },
  },
  {
    name: 'quantity: 29 vials is corrected to 28',
    cycle: 2,
    order: order(flatDuration(28), { quantity: vials(29) }),
    expect: {
      correction: true,
      correctedQuantity: 28,
      findings: ['The quantity of 29 vials exceeds the limit of 28 vials (980 units) per cycle'],
      summary: ['28 vials (980 mcg) per cycle'],
    },
  },
  {
    name: 'quantity: 29 "vials" as unit text is corrected to 28',
    cycle: 2,
    order: order(flatDuration(28), { quantity: { value: 29, unit: 'vials' } }),
    expect: { correction: true, correctedQuantity: 28 },
  },
  {
    name: 'quantity: 980 ug is within the limit',
    cycle: 2,
    order: order(flatDuration(28), { quantity: { value: 980, unit: 'ug', system: UCUM, code: 'ug' } }),
    expect: { correction: false, quantityUntouched: true },
  },
  {
    name: 'quantity: 1000 ug is corrected to 28 vials',
    cycle: 2,
    order: order(flatDuration(28), { quantity: { value: 1000, unit: 'ug', system: UCUM, code: 'ug' } }),
    expect: { correction: true, correctedQuantity: 28 },
  },
  {
    name: 'quantity: 1 mg is 1000 units, corrected',
    cycle: 2,
    order: order(flatDuration(28), { quantity: { value: 1, unit: 'mg', system: UCUM, code: 'mg' } }),
    expect: { correction: true, correctedQuantity: 28 },
  },
  {
    name: 'quantity: over the limit whatever the supply duration (84-day cycle 6, 29 vials)',
    cycle: 6,
    order: order(flatDuration(28), { quantity: vials(29), supply: days(84) }),
    expect: { correction: true, correctedQuantity: 28 },
  },
  {
    name: 'quantity in an unreadable unit asks a person',
    cycle: 2,
    order: order(flatDuration(28), { quantity: { value: 2, unit: 'boxes' } }),
    expect: { correction: false, prompts: ['unreadable-dose'] },
  },

  // Supply duration
  {
    name: 'supply duration 28 days on a 42-day cycle is corrected to 42',
    cycle: 2,
    order: order(flatDuration(28), { supply: days(28) }),
    expect: {
      correction: true,
      correctedSupply: 42,
      quantityUntouched: true,
      allowedPeriod: { start: START, end: '2024-06-11' },
      findings: ['The supply duration of 28 days differs from the 42-day cycle'],
      summary: ['42-day supply'],
    },
  },
  {
    name: 'supply duration missing is set to 42 days',
    cycle: 2,
    order: order(flatDuration(28), { supply: null }),
    expect: { correction: true, correctedSupply: 42, allowedPeriod: { start: START, end: '2024-06-11' } },
  },
  {
    name: 'supply duration 6 wk is 42 days',
    cycle: 2,
    order: order(flatDuration(28), { supply: { value: 6, unit: 'wk', system: UCUM, code: 'wk' } }),
    expect: { correction: false },
  },
  {
    name: 'supply duration "42 days" as unit text',
    cycle: 2,
    order: order(flatDuration(28), { supply: { value: 42, unit: 'days' } }),
    expect: { correction: false },
  },

  // 84-day cycles
  {
    name: 'cycle 6: 84-day supply is right',
    cycle: 6,
    order: order(flatDuration(28), { supply: days(84) }),
    expect: { correction: false, expected: ['28'] },
  },
  {
    name: 'cycle 6: a 42-day supply is corrected to 84 days',
    cycle: 6,
    order: order(flatDuration(28)),
    expect: { correction: true, correctedSupply: 84, allowedPeriod: { start: START, end: '2024-07-23' } },
  },

  // Indication not met, or no schedule: the 28 mcg/day cap only
  {
    name: 'indication not met: no step-up demanded, supply not checked',
    indicationMet: false,
    order: order(flatDuration(28), { supply: days(28) }),
    expect: { correction: false, expected: null, prompts: [] },
  },
  {
    name: 'indication not met: 30 mcg/day (within 10 % of 28) exceeds the 28 cap and is lowered',
    indicationMet: false,
    order: order(flatDuration(30)),
    expect: {
      correction: true,
      findings: ['exceeds the maximum of 28 mcg/day'],
      correctedDoses: [{ mcg: 28, days: 28 }],
      summary: ['at most 28 mcg/day'],
    },
  },
  {
    name: 'no schedule (an exclusion decided): the cap only, and the quantity',
    schedule: null,
    order: order(flatDuration(35), { quantity: vials(30), supply: null }),
    expect: { correction: true, correctedDoses: [{ mcg: 28, days: 28 }], correctedQuantity: 28 },
  },

  // Weight: stale, missing, unknown
  {
    name: 'adult weight 31 days old: used, and a current one asked for',
    cycle: 2,
    weights: [weight(70, '2024-03-31')],
    order: order(flatDuration(35)),
    expect: { correction: true, prompts: ['stale-weight'], correctedDoses: [{ mcg: 28, days: 28 }] },
  },
  {
    name: 'adult weight 30 days old is not stale',
    cycle: 2,
    weights: [weight(70, '2024-04-01')],
    order: order(flatDuration(28)),
    expect: { correction: false, prompts: [] },
  },
  {
    name: 'child weight 8 days old is stale',
    birthDate: '2010-06-01',
    cycle: 2,
    weights: [weight(30, '2024-04-23')],
    heights: [height(135, '2024-04-23')],
    order: order(flatDuration(15.9)),
    expect: { correction: false, expected: ['15.9'], prompts: ['stale-weight'] },
  },
  {
    name: 'child weight 7 days old is not stale',
    birthDate: '2010-06-01',
    cycle: 2,
    weights: [weight(30, '2024-04-24')],
    heights: [height(135, '2024-04-24')],
    order: order(flatDuration(15.9)),
    expect: { correction: false, prompts: [] },
  },
  {
    name: 'missing weight: no dose verdict, only the request',
    weights: [],
    order: order(flatDuration(100)),
    expect: { correction: false, expected: null, prompts: ['missing-weight'] },
  },
  {
    name: 'weight charted after the planned start does not count',
    weights: [weight(70, '2024-05-02')],
    order: order(flatDuration(100)),
    expect: { correction: false, prompts: ['missing-weight'] },
  },
  {
    name: 'two disagreeing weights on the latest date: unknown, asked for',
    weights: [weight(70, '2024-04-28'), weight(72, '2024-04-28'), weight(69, '2024-04-20')],
    order: order(flatDuration(100)),
    expect: { correction: false, prompts: ['missing-weight'] },
  },
  {
    name: 'missing weight: an over-limit quantity is still corrected',
    weights: [],
    cycle: 2,
    order: order(flatDuration(28), { quantity: vials(40) }),
    expect: { correction: true, correctedQuantity: 28, prompts: ['missing-weight'] },
  },
  {
    name: 'weight in pounds: 154 [lb_av] = 69.85322498 kg',
    cycle: 2,
    weights: [weight(154, '2024-04-28', '[lb_av]')],
    order: order(flatDuration(28)),
    expect: {
      correction: false,
      basis: 'fixed',
      arithmetic: ['Weight: 69.85322498 kg (charted 154 [lb_av], 2024-04-28)'],
    },
  },
  {
    name: 'height in inches: 60 [in_i] = 152.4 cm',
    schedule: 'mrd',
    weights: [weight(40)],
    heights: [height(60, '2024-04-28', '[in_i]')],
    order: order(flatDuration(19.5)),
    expect: { correction: false, expected: ['19.5'], arithmetic: ['Height: 152.4 cm'] },
  },

  // Height
  {
    name: 'missing height when BSA dosing applies: no verdict, the height asked for',
    schedule: 'mrd',
    weights: [weight(40)],
    heights: [],
    order: order(flatDuration(100)),
    expect: { correction: false, expected: null, prompts: ['missing-height'] },
  },
  {
    name: 'missing height but a plausible charted BSA: dosed by the charted BSA',
    schedule: 'mrd',
    weights: [weight(40)],
    heights: [],
    bsas: [bsa(1.3)],
    order: order(flatDuration(19.5)),
    expect: { correction: false, expected: ['19.5'], prompts: [] },
  },

  // ---- Independent review scenarios (hand-computed; see the arithmetic in each name) ----------------------------
  {
    name: 'review: child 44.99 kg / 150 cm cycle 1: BSA 1.369… → 1.37; 5 × 1.37 = 6.85 → 6.9, 15 × 1.37 = 20.55 → 20.6',
    birthDate: '2012-01-01',
    weights: [weight(44.99)],
    heights: [height(150)],
    order: order(stepUpPeriods(6.9, 20.6)),
    expect: {
      correction: false,
      basis: 'bsa',
      expected: ['6.9', '20.6'],
      prompts: [],
      arithmetic: [
        'sqrt(150 cm × 44.99 kg / 3600) = 1.3691, rounded half up to 1.37 m²',
        '5 mcg/m²/day × 1.37 m² = 6.85, rounded half up to tenths: 6.9 mcg/day; cap 9 mcg/day',
        '15 mcg/m²/day × 1.37 m² = 20.55, rounded half up to tenths: 20.6 mcg/day',
      ],
    },
  },
  {
    name: 'review: 45.0 kg / 150 cm cycle 1: fixed 9 then 28',
    birthDate: '2012-01-01',
    weights: [weight(45.0)],
    heights: [height(150)],
    order: order(stepUpPeriods(9, 28)),
    expect: { correction: false, basis: 'fixed', expected: ['9', '28'], prompts: [] },
  },
  {
    name: 'review: 45.0 kg ordered the BSA doses 6.9 / 20.6: corrected to 9 / 28 in the same periods',
    birthDate: '2012-01-01',
    weights: [weight(45.0)],
    heights: [height(150)],
    order: order(stepUpPeriods(6.9, 20.6)),
    expect: {
      correction: true,
      basis: 'fixed',
      findings: ['Days 1–7: ordered 6.9 mcg/day, expected 9 mcg/day', 'Days 8–28: ordered 20.6 mcg/day'],
      correctedDoses: [
        { mcg: 9, period: ['2024-05-01', '2024-05-07'], sequence: 1 },
        { mcg: 28, period: ['2024-05-08', '2024-05-28'], sequence: 2 },
      ],
      quantityUntouched: true,
    },
  },
  {
    name: 'review: infant 10 kg / 75 cm cycle 2: BSA 0.4564 → 0.46; 15 × 0.46 = 6.9',
    birthDate: '2023-05-01',
    cycle: 2,
    weights: [weight(10)],
    heights: [height(75)],
    order: order(flatDuration(6.9)),
    expect: { correction: false, basis: 'bsa', expected: ['6.9'], prompts: [] },
  },
  {
    name: 'review: infant 10 kg / 75 cm cycle 1: 5 × 0.46 = 2.3 then 6.9',
    birthDate: '2023-05-01',
    weights: [weight(10)],
    heights: [height(75)],
    order: order(stepUpDurations(2.3, 6.9)),
    expect: { correction: false, basis: 'bsa', expected: ['2.3', '6.9'], prompts: [] },
  },
  {
    name: 'review: neonate 3.9 kg / 52 cm cycle 1: BSA 0.2373 → 0.24; 1.2 then 3.6',
    birthDate: '2024-03-15',
    weights: [weight(3.9)],
    heights: [height(52)],
    order: order(stepUpDurations(1.2, 3.6)),
    expect: { correction: false, basis: 'bsa', expected: ['1.2', '3.6'], prompts: [] },
  },
  {
    name: 'review: neonate 3.9 kg / 52 cm ordered the adult step-up: corrected to 1.2 then 3.6',
    birthDate: '2024-03-15',
    weights: [weight(3.9)],
    heights: [height(52)],
    order: order(stepUpDurations(9, 28)),
    expect: {
      correction: true,
      correctedDoses: [
        { mcg: 1.2, days: 7, sequence: 1 },
        { mcg: 3.6, days: 21, sequence: 2 },
      ],
      summary: ['1.2 mcg/day on days 1–7, then 3.6 mcg/day on days 8–28'],
    },
  },
  {
    name: 'review: teen 44 kg, no height, charted BSA 1.90 (range-plausible), cycle 2: 15 × 1.9 = 28.5 → cap 28',
    birthDate: '2008-01-01',
    cycle: 2,
    weights: [weight(44)],
    heights: [],
    bsas: [bsa(1.9)],
    order: order(flatDuration(28)),
    expect: { correction: false, basis: 'bsa', expected: ['28'], prompts: [] },
  },
  {
    name: 'review: teen 44 kg, charted BSA 1.90, ordered 28.5 (within 10 %) exceeds the BSA cap 28: corrected',
    birthDate: '2008-01-01',
    cycle: 2,
    weights: [weight(44)],
    heights: [],
    bsas: [bsa(1.9)],
    order: order(flatDuration(28.5)),
    expect: {
      correction: true,
      findings: ['ordered 28.5 mcg/day exceeds the 28 mcg/day cap'],
      correctedDoses: [{ mcg: 28, days: 28 }],
    },
  },
  {
    name: 'review: 10 % line at 6.9: ordered 6.2 (10 × 0.7 = 7 > 6.9) is a correction',
    birthDate: '2012-01-01',
    weights: [weight(44.99)],
    heights: [height(150)],
    order: order(stepUpPeriods(6.2, 20.6)),
    expect: {
      correction: true,
      findings: ['Days 1–7: ordered 6.2 mcg/day, expected 6.9 mcg/day'],
      correctedDoses: [
        { mcg: 6.9, period: ['2024-05-01', '2024-05-07'], sequence: 1 },
        { mcg: 20.6, period: ['2024-05-08', '2024-05-28'], sequence: 2 },
      ],
    },
  },
  {
    name: 'review: 10 % line at 6.9: ordered 6.3 (10 × 0.6 = 6 ≤ 6.9) is not',
    birthDate: '2012-01-01',
    weights: [weight(44.99)],
    heights: [height(150)],
    order: order(stepUpPeriods(6.3, 20.6)),
    expect: { correction: false, expected: ['6.9', '20.6'] },
  },
  {
    name: 'review: 10 % line at 20.6 from above: 22.6 (10 × 2 = 20 ≤ 20.6) is not, 22.7 is',
    birthDate: '2012-01-01',
    cycle: 2,
    weights: [weight(44.99)],
    heights: [height(150)],
    order: order(flatDuration(22.7)),
    expect: { correction: true, correctedDoses: [{ mcg: 20.6, days: 28 }] },
  },
  {
    name: 'review: Mosteller exactly at the half (150 cm × 44.7174 kg = 1.365) → 1.37; 6.85 → 6.9, 20.55 → 20.6',
    birthDate: '2012-01-01',
    weights: [weight(44.7174)],
    heights: [height(150)],
    order: order(stepUpDurations(6.9, 20.6)),
    expect: { correction: false, basis: 'bsa', expected: ['6.9', '20.6'] },
  },
  {
    name: 'review: product at the half: 10 kg / 79.5 cm → 0.47; 15 × 0.47 = 7.05 → 7.1',
    birthDate: '2023-05-01',
    cycle: 2,
    weights: [weight(10)],
    heights: [height(79.5)],
    order: order(flatDuration(7.1)),
    expect: { correction: false, expected: ['7.1'], arithmetic: ['15 mcg/m²/day × 0.47 m² = 7.05'] },
  },
  {
    name: 'review: 44.9999 kg is never rounded to 45: BSA dosing (20.6)',
    cycle: 2,
    weights: [weight(44.9999)],
    heights: [height(150)],
    order: order(flatDuration(20.6)),
    expect: { correction: false, basis: 'bsa', expected: ['20.6'] },
  },
  {
    name: 'review: unit form mg/d 0.00685 = 6.85 → 6.9 mcg/day on days 1–7',
    birthDate: '2012-01-01',
    weights: [weight(44.99)],
    heights: [height(150)],
    order: order([
      dose({ value: 0.00685, unit: 'mg/d', system: UCUM, code: 'mg/d' }, { days: 7, sequence: 1 }),
      dose(ugPerDay(20.6), { days: 21, sequence: 2 }),
    ]),
    expect: { correction: false, arithmetic: ['0.00685 mg/d = 6.85 mcg/day, rounded half up to 6.9 mcg/day'] },
  },
  {
    name: 'review: unit form ug/(m2.d) 15 with BSA 1.37: 20.55 → 20.6 = expected',
    birthDate: '2012-01-01',
    cycle: 2,
    weights: [weight(44.99)],
    heights: [height(150)],
    order: order(flatDuration({ value: 15, unit: 'ug/(m2.d)', system: UCUM, code: 'ug/(m2.d)' })),
    expect: { correction: false, expected: ['20.6'], prompts: [] },
  },
  {
    name: 'review: unit form mcg/m²/day as text only, 15 with BSA 1.37: 20.6',
    birthDate: '2012-01-01',
    cycle: 2,
    weights: [weight(44.99)],
    heights: [height(150)],
    order: order(flatDuration({ value: 15, unit: 'mcg/m²/day' })),
    expect: { correction: false, expected: ['20.6'], prompts: [] },
  },
  {
    name: 'review: unit form ug 28 twice a day is unreadable; quantity and supply still checked (30 vials corrected)',
    cycle: 2,
    order: order(
      flatDuration({ value: 28, unit: 'ug', system: UCUM, code: 'ug' }, { frequency: 2, period: 1, periodUnit: 'd' }),
      { quantity: vials(30) }
    ),
    expect: { correction: true, prompts: ['unreadable-dose'], correctedQuantity: 28 },
  },
  {
    name: 'review: a dose with a comparator is unreadable',
    cycle: 2,
    order: order(flatDuration({ value: 28, comparator: '<', unit: 'ug/d', system: UCUM, code: 'ug/d' })),
    expect: { correction: false, prompts: ['unreadable-dose'] },
  },
  {
    name: 'review: step-up with a one-day gap (days 1–7, then 9–28) is no correction',
    order: order([
      dose(ugPerDay(9), { period: ['2024-05-01', '2024-05-07'], sequence: 1 }),
      dose(ugPerDay(28), { period: ['2024-05-09', '2024-05-28'], sequence: 2 }),
    ]),
    expect: { correction: false, expected: ['9', '28'], prompts: [] },
  },
  {
    name: 'review: MRD cycle 1 given a step-up (9 for 7 d, 28 for 21 d): one 28 d instruction of 28 mcg/day',
    schedule: 'mrd',
    order: order(stepUpDurations(9, 28)),
    expect: {
      correction: true,
      expected: ['28'],
      findings: ['ordered 9 mcg/day'],
      correctedDoses: [{ mcg: 28, days: 28 }],
      summary: ['28 mcg/day on days 1–28'],
    },
  },
  {
    name: 'review: relapsed cycle 2 given a step-up in periods: one period 05-01..05-28 of 28 mcg/day',
    cycle: 2,
    order: order(stepUpPeriods(9, 28)),
    expect: { correction: true, correctedDoses: [{ mcg: 28, period: ['2024-05-01', '2024-05-28'] }] },
  },
  {
    name: 'review: MRD cycle 1 split in two right instructions (28 on days 1–14 and 15–28) is no correction',
    schedule: 'mrd',
    order: order([dose(ugPerDay(28), { days: 14, sequence: 1 }), dose(ugPerDay(28), { days: 14, sequence: 2 })]),
    expect: { correction: false, expected: ['28'] },
  },
  {
    name: 'review: indication not met, child 20 kg ordered 28 mcg/day: only the cap, no correction',
    indicationMet: false,
    birthDate: '2016-01-01',
    weights: [weight(20)],
    heights: [height(115)],
    order: order(flatDuration(28), { supply: null }),
    expect: { correction: false, expected: null, prompts: [] },
  },
  {
    name: 'review: quantity 981 ug is corrected to 28 vials',
    cycle: 2,
    order: order(flatDuration(28), { quantity: { value: 981, unit: 'ug', system: UCUM, code: 'ug' } }),
    expect: { correction: true, correctedQuantity: 28, findings: ['981 mcg'] },
  },
  {
    name: 'review: quantity 30 vial is corrected to 28 vials',
    cycle: 2,
    order: order(flatDuration(28), { quantity: vials(30) }),
    expect: { correction: true, correctedQuantity: 28 },
  },
  {
    name: 'review: quantity 0.98 mg (= 980 units) is within the limit',
    cycle: 2,
    order: order(flatDuration(28), { quantity: { value: 0.98, unit: 'mg', system: UCUM, code: 'mg' } }),
    expect: { correction: false, quantityUntouched: true },
  },
  {
    name: 'review: quantity 980 "mcg" as unit text is within the limit',
    cycle: 2,
    order: order(flatDuration(28), { quantity: { value: 980, unit: 'mcg' } }),
    expect: { correction: false, quantityUntouched: true },
  },
  {
    name: 'review: cycle 3 relapsed, 42-day supply is right',
    cycle: 3,
    order: order(flatDuration(28)),
    expect: { correction: false, expected: ['28'] },
  },
  {
    name: 'review: cycle 6 relapsed, 12 wk supply is 84 days',
    cycle: 6,
    order: order(flatDuration(28), { supply: { value: 12, unit: 'wk', system: UCUM, code: 'wk' } }),
    expect: { correction: false },
  },
  {
    name: 'review: cycle 9 relapsed, a 42-day supply is corrected to 84 (allowed period to 2024-07-23)',
    cycle: 9,
    order: order(flatDuration(28)),
    expect: { correction: true, correctedSupply: 84, allowedPeriod: { start: START, end: '2024-07-23' } },
  },
  {
    name: 'review: MRD cycle 4, 42-day supply is right',
    schedule: 'mrd',
    cycle: 4,
    order: order(flatDuration(28)),
    expect: { correction: false, expected: ['28'] },
  },
  {
    name: 'review: MRD cycle 4, an 84-day supply is corrected to 42',
    schedule: 'mrd',
    cycle: 4,
    order: order(flatDuration(28), { supply: days(84) }),
    expect: { correction: true, correctedSupply: 42, allowedPeriod: { start: START, end: '2024-06-11' } },
  },
  {
    name: 'review: charted BSA 1.5 vs Mosteller 1.30 (40 kg, 152.1 cm): 0.2 ≤ 0.26, used: 22.5',
    birthDate: '2012-01-01',
    cycle: 2,
    weights: [weight(40)],
    heights: [height(152.1)],
    bsas: [bsa(1.5)],
    order: order(flatDuration(22.5)),
    expect: { correction: false, expected: ['22.5'], prompts: [], arithmetic: ['BSA used: 1.5 m², charted'] },
  },
  {
    name: 'review: charted BSA 1.56 vs Mosteller 1.30: exactly 20 %, used: 23.4',
    birthDate: '2012-01-01',
    cycle: 2,
    weights: [weight(40)],
    heights: [height(152.1)],
    bsas: [bsa(1.56)],
    order: order(flatDuration(23.4)),
    expect: { correction: false, expected: ['23.4'], prompts: [] },
  },
  {
    name: 'review: charted BSA 1.57 vs Mosteller 1.30: over 20 %, Mosteller 19.5 and a verify prompt',
    birthDate: '2012-01-01',
    cycle: 2,
    weights: [weight(40)],
    heights: [height(152.1)],
    bsas: [bsa(1.57)],
    order: order(flatDuration(19.5)),
    expect: { correction: false, expected: ['19.5'], prompts: ['implausible-bsa'] },
  },
  {
    name: 'review: charted BSA 1.04 vs Mosteller 1.30: exactly 20 % below, used: 15.6',
    birthDate: '2012-01-01',
    cycle: 2,
    weights: [weight(40)],
    heights: [height(152.1)],
    bsas: [bsa(1.04)],
    order: order(flatDuration(15.6)),
    expect: { correction: false, expected: ['15.6'], prompts: [] },
  },
  {
    name: 'review: charted BSA 1.03 vs Mosteller 1.30: implausible, Mosteller 19.5',
    birthDate: '2012-01-01',
    cycle: 2,
    weights: [weight(40)],
    heights: [height(152.1)],
    bsas: [bsa(1.03)],
    order: order(flatDuration(19.5)),
    expect: { correction: false, expected: ['19.5'], prompts: ['implausible-bsa'] },
  },
  {
    name: 'review: charted BSA 1.5 dated exactly 30 days before is used',
    birthDate: '2012-01-01',
    cycle: 2,
    weights: [weight(40)],
    heights: [height(152.1)],
    bsas: [bsa(1.5, '2024-04-01')],
    order: order(flatDuration(22.5)),
    expect: { correction: false, expected: ['22.5'] },
  },
  {
    name: 'review: charted BSA 1.5 dated 31 days before is ignored silently: Mosteller 19.5',
    birthDate: '2012-01-01',
    cycle: 2,
    weights: [weight(40)],
    heights: [height(152.1)],
    bsas: [bsa(1.5, '2024-03-31')],
    order: order(flatDuration(19.5)),
    expect: { correction: false, expected: ['19.5'], prompts: [] },
  },
  {
    name: 'review: charted BSA 3.2 (outside the range) with an order built on it: Mosteller, corrected, prompt kept',
    birthDate: '2012-01-01',
    cycle: 2,
    weights: [weight(40)],
    heights: [height(152.1)],
    bsas: [bsa(3.2)],
    order: order(flatDuration(28)),
    expect: {
      correction: true,
      expected: ['19.5'],
      prompts: ['implausible-bsa'],
      correctedDoses: [{ mcg: 19.5, days: 28 }],
    },
  },
  {
    name: 'review: 17-year-old, weight 8 days old: stale',
    birthDate: '2006-06-01',
    cycle: 2,
    weights: [weight(70, '2024-04-23')],
    heights: [height(175, '2024-04-23')],
    order: order(flatDuration(28)),
    expect: { correction: false, prompts: ['stale-weight'] },
  },
  {
    name: 'review: 18 on the planned start, weight 8 days old: not stale',
    birthDate: '2006-05-01',
    cycle: 2,
    weights: [weight(70, '2024-04-23')],
    heights: [height(175, '2024-04-23')],
    order: order(flatDuration(28)),
    expect: { correction: false, prompts: [] },
  },
  {
    name: 'review: weight 99.21 [lb_av] = 45.000899… kg takes the fixed dose',
    cycle: 2,
    weights: [weight(99.21, '2024-04-28', '[lb_av]')],
    heights: [height(150)],
    order: order(flatDuration(28)),
    expect: { correction: false, basis: 'fixed', expected: ['28'] },
  },
  {
    name: 'review: weight 99.2 [lb_av] = 44.996… kg is dosed by BSA (150 cm: 1.37 → 20.6)',
    cycle: 2,
    weights: [weight(99.2, '2024-04-28', '[lb_av]')],
    heights: [height(150)],
    order: order(flatDuration(20.6)),
    expect: { correction: false, basis: 'bsa', expected: ['20.6'] },
  },
  {
    name: 'review: height 59 [in_i] = 149.86 cm with 44.99 kg: 1.3685 → 1.37 → 20.6',
    cycle: 2,
    weights: [weight(44.99)],
    heights: [height(59, '2024-04-28', '[in_i]')],
    order: order(flatDuration(20.6)),
    expect: { correction: false, expected: ['20.6'], arithmetic: ['Height: 149.86 cm'] },
  },
  {
    name: 'review: weight 44990 g = 44.99 kg is dosed by BSA; 45000 g would be fixed',
    cycle: 2,
    weights: [weight(44990, '2024-04-28', 'g')],
    heights: [height(150)],
    order: order(flatDuration(20.6)),
    expect: { correction: false, basis: 'bsa', expected: ['20.6'] },
  },
  {
    name: 'review: weight 45000 g takes the fixed dose',
    cycle: 2,
    weights: [weight(45000, '2024-04-28', 'g')],
    heights: [height(150)],
    order: order(flatDuration(28)),
    expect: { correction: false, basis: 'fixed', expected: ['28'] },
  },
  {
    name: 'review: child 30 kg without height or charted BSA: the height asked for, no verdict',
    birthDate: '2014-01-01',
    cycle: 2,
    weights: [weight(30)],
    heights: [],
    order: order(flatDuration(28)),
    expect: { correction: false, expected: null, prompts: ['missing-height'] },
  },

  {
    name: 'review: cycle 2 without bounds, 35 mcg/day: corrected to 28 mcg/day and given a 28 d duration',
    cycle: 2,
    order: order([dose(ugPerDay(35))]),
    expect: { correction: true, correctedDoses: [{ mcg: 28, days: 28 }] },
  },
  {
    name: 'review: indication not met, no bounds, 35 mcg/day: capped at 28 with a 28 d duration',
    indicationMet: false,
    order: order([dose(ugPerDay(35))]),
    expect: { correction: true, correctedDoses: [{ mcg: 28, days: 28 }], summary: ['at most 28 mcg/day'] },
  },
  {
    name: 'review: every correction at once stays under 140 characters and states the values',
    birthDate: '2012-01-01',
    weights: [weight(44.99)],
    heights: [height(150)],
    order: order([dose(ugPerDay(28))], { quantity: { value: 2, unit: 'mg', system: UCUM, code: 'mg' }, supply: null }),
    expect: {
      correction: true,
      correctedDoses: [
        { mcg: 6.9, days: 7, sequence: 1 },
        { mcg: 20.6, days: 21, sequence: 2 },
      ],
      correctedQuantity: 28,
      correctedSupply: 42,
      allowedPeriod: { start: START, end: '2024-06-11' },
      summary: ['6.9 mcg/day on days 1–7, then 20.6 mcg/day on days 8–28', '28 vials', '42-day supply'],
    },
  },

  // Several corrections at once, and what the correction keeps
  {
    name: 'step-up, quantity and supply duration corrected together; coverage information removed',
    order: order(flatPeriod(), {
      quantity: vials(30),
      supply: days(28),
      extension: [
        { url: COVERAGE_INFO, extension: [{ url: 'covered', valueCode: 'covered' }] },
        { url: 'http://example.org/fhir/StructureDefinition/treatment-phase', valueCodeableConcept: { text: 'x' } },
      ],
    }),
    expect: {
      correction: true,
      correctedDoses: [
        { mcg: 9, period: ['2024-05-01', '2024-05-07'], sequence: 1 },
        { mcg: 28, period: ['2024-05-08', '2024-05-28'], sequence: 2 },
      ],
      correctedQuantity: 28,
      correctedSupply: 42,
      allowedPeriod: { start: START, end: '2024-06-11' },
      summary: ['9 mcg/day on days 1–7', '28 vials', '42-day supply'],
    },
  },
];
