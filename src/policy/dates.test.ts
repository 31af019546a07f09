import fc from 'fast-check';
import {
  addDays,
  addMonthsClamped,
  ageInMonths,
  calendarDate,
  earlierOf,
  factDateOf,
  isFullDate,
  plannedStartOf,
} from './dates';

describe('calendarDate: the date as written', () => {
  test.each([
    ['2024-05-01', '2024-05-01'],
    ['2024-05-01T23:30:00-05:00', '2024-05-01'],
    ['2024-05-01T02:00:00+14:00', '2024-05-01'],
    ['2024-05', '2024-05'],
    ['2024', '2024'],
    [' 2024-05-01 ', '2024-05-01'],
  ])('%s -> %s', (input, expected) => {
    expect(calendarDate(input)).toBe(expected);
  });

  test.each([[''], ['May 1, 2024'], [20240501], [null], [undefined], [{}]])('%p is not a date', (input) => {
    expect(calendarDate(input)).toBeUndefined();
  });

  test('reads the text of a FHIRPath date literal', () => {
    expect(calendarDate({ asStr: '2024-02-29' })).toBe('2024-02-29');
  });
});

describe('date arithmetic', () => {
  test('addDays crosses months, years and leap days', () => {
    expect(addDays('2024-06-10', -14)).toBe('2024-05-27');
    expect(addDays('2024-02-28', 1)).toBe('2024-02-29');
    expect(addDays('2023-02-28', 1)).toBe('2023-03-01');
    expect(addDays('2023-12-31', 1)).toBe('2024-01-01');
    expect(addDays('2024-06-10', 27)).toBe('2024-07-07');
  });

  test('addMonthsClamped clamps to the end of a shorter month', () => {
    expect(addMonthsClamped('2024-01-31', 1)).toBe('2024-02-29');
    expect(addMonthsClamped('2023-01-31', 1)).toBe('2023-02-28');
    expect(addMonthsClamped('2024-03-31', 1)).toBe('2024-04-30');
    expect(addMonthsClamped('2024-05-15', 1)).toBe('2024-06-15');
    expect(addMonthsClamped('2024-12-15', 1)).toBe('2025-01-15');
    expect(addMonthsClamped('2024-01-15', -1)).toBe('2023-12-15');
  });

  test('isFullDate accepts only real calendar dates', () => {
    expect(isFullDate('2024-02-29')).toBe(true);
    expect(isFullDate('2023-02-29')).toBe(false);
    expect(isFullDate('2024-13-01')).toBe(false);
    expect(isFullDate('2024-06')).toBe(false);
  });

  test('earlierOf ignores undefined', () => {
    expect(earlierOf(undefined, '2024-01-01')).toBe('2024-01-01');
    expect(earlierOf('2024-01-02', '2024-01-01')).toBe('2024-01-01');
    expect(earlierOf('2024-01-01', undefined)).toBe('2024-01-01');
  });
});

describe('ageInMonths (contract section 4: one month = birth date + 1 calendar month, clamped)', () => {
  test.each([
    ['2024-05-10', '2024-06-10', 1],
    ['2024-05-10', '2024-06-09', 0],
    ['2024-05-12', '2024-06-10', 0],
    ['2024-01-31', '2024-02-29', 1],
    ['2024-01-31', '2024-02-28', 0],
    ['2023-01-31', '2023-02-28', 1],
    ['2024-03-31', '2024-04-30', 1],
    ['2023-11-20', '2024-11-19', 11],
    ['2023-11-20', '2024-11-20', 12],
    ['2024-02-29', '2025-02-28', 12],
    ['1980-03-15', '2024-06-10', 530],
    ['2024-06-10', '2024-06-10', 0],
  ])('born %s, at %s: %i months', (birth, at, months) => {
    expect(ageInMonths(birth, at)).toBe(months);
  });

  test('a partial date gives no age', () => {
    expect(ageInMonths('2024-05', '2024-06-10')).toBeUndefined();
    expect(ageInMonths('2024-05-10', '2024')).toBeUndefined();
  });

  test('n months old exactly when birth + n months (clamped) <= at < birth + n + 1 months', () => {
    const day = fc.integer({ min: 0, max: 40000 }).map((n) => addDays('1930-01-01', n));
    fc.assert(
      fc.property(day, fc.integer({ min: 0, max: 4000 }), (birth, offset) => {
        const at = addDays(birth, offset);
        const months = ageInMonths(birth, at) as number;
        expect(addMonthsClamped(birth, months) <= at).toBe(true);
        expect(addMonthsClamped(birth, months + 1) > at).toBe(true);
      })
    );
  });
});

describe('plannedStartOf (contract section 4)', () => {
  test('the earliest boundsPeriod start among the dosage instructions', () => {
    expect(
      plannedStartOf({
        authoredOn: '2024-06-01',
        dosageInstruction: [
          { timing: { repeat: { boundsPeriod: { start: '2024-06-17' } } } },
          { timing: { repeat: { boundsPeriod: { start: '2024-06-10T08:00:00-05:00' } } } },
        ],
      })
    ).toBe('2024-06-10');
  });

  test('authoredOn without bounds, undefined without either', () => {
    expect(
      plannedStartOf({
        authoredOn: '2024-06-01T10:00:00Z',
        dosageInstruction: [{ timing: { repeat: { boundsDuration: { value: 28 } } } }],
      })
    ).toBe('2024-06-01');
    expect(plannedStartOf({ dosageInstruction: 'nonsense' })).toBeUndefined();
    expect(
      plannedStartOf({
        authoredOn: '2024-06-01',
        dosageInstruction: [{ timing: { repeat: { boundsPeriod: { start: '2024-06' } } } }],
      })
    ).toBe('2024-06-01');
    expect(plannedStartOf({ authoredOn: '2024-06' })).toBeUndefined();
    expect(plannedStartOf(null)).toBeUndefined();
  });
});

describe('factDateOf (contract section 4)', () => {
  test('Observations: effective dateTime, instant or period start, else issued', () => {
    expect(
      factDateOf({
        resourceType: 'Observation',
        effectiveDateTime: '2024-05-01T10:00:00Z',
        issued: '2024-05-03T00:00:00Z',
      })
    ).toBe('2024-05-01');
    expect(factDateOf({ resourceType: 'Observation', effectivePeriod: { start: '2024-04-30' } })).toBe('2024-04-30');
    expect(factDateOf({ resourceType: 'Observation', issued: '2024-05-03T00:00:00Z' })).toBe('2024-05-03');
    expect(factDateOf({ resourceType: 'Observation' })).toBeUndefined();
  });

  test('Conditions: onset dateTime or period start, else recordedDate', () => {
    expect(factDateOf({ resourceType: 'Condition', onsetDateTime: '2023-09-12', recordedDate: '2023-09-20' })).toBe(
      '2023-09-12'
    );
    expect(factDateOf({ resourceType: 'Condition', onsetPeriod: { start: '2023-09-10' } })).toBe('2023-09-10');
    expect(factDateOf({ resourceType: 'Condition', onsetString: 'childhood', recordedDate: '2023-09-20' })).toBe(
      '2023-09-20'
    );
  });

  test('Immunizations: occurrenceDateTime only (occurrenceString is ignored)', () => {
    expect(factDateOf({ resourceType: 'Immunization', occurrenceDateTime: '2024-05-28' })).toBe('2024-05-28');
    expect(
      factDateOf({ resourceType: 'Immunization', occurrenceString: 'last week', recorded: '2024-05-28' })
    ).toBeUndefined();
  });

  test('other resources: MedicationRequest by planned start, CarePlan by period start, others undated', () => {
    expect(factDateOf({ resourceType: 'MedicationRequest', authoredOn: '2024-06-01' })).toBe('2024-06-01');
    expect(factDateOf({ resourceType: 'CarePlan', period: { start: '2024-01-01' }, created: '2023-12-01' })).toBe(
      '2024-01-01'
    );
    expect(factDateOf({ resourceType: 'Patient', birthDate: '2000-01-01' })).toBeUndefined();
  });
});
