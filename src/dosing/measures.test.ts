import type { Observation } from 'fhir/r4';
import { dosingRules } from '../../test/helpers/dosing-rules';
import { addDays, addYears, dateOnly, daysBetween } from './dates';
import { latestMeasure, observationDate } from './measures';

const synonyms = dosingRules.unitSynonyms;

function weight(
  value: number,
  dated: Partial<Observation>,
  unit = 'kg',
  extra: Partial<Observation> = {}
): Observation {
  return {
    resourceType: 'Observation',
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '29463-7' }] },
    valueQuantity: { value, unit, system: 'http://unitsofmeasure.org', code: unit },
    ...dated,
    ...extra,
  };
}

describe('dates', () => {
  test('dateOnly keeps the calendar date written and rejects partial or impossible dates', () => {
    expect(dateOnly('2024-05-01')).toBe('2024-05-01');
    expect(dateOnly('2024-05-01T23:30:00-05:00')).toBe('2024-05-01');
    expect(dateOnly('2024-05')).toBeUndefined();
    expect(dateOnly('2024-02-30')).toBeUndefined();
    expect(dateOnly(20240501)).toBeUndefined();
  });
  test('day arithmetic', () => {
    expect(addDays('2024-05-01', 41)).toBe('2024-06-11');
    expect(addDays('2024-03-01', -1)).toBe('2024-02-29');
    expect(daysBetween('2024-05-01', '2024-05-28')).toBe(27);
    expect(addYears('2008-02-29', 18)).toBe('2026-02-28');
  });
});

describe('latestMeasure', () => {
  test('dates by effectiveDateTime, a Period start, else issued', () => {
    expect(observationDate(weight(70, { effectiveDateTime: '2024-04-01T10:00:00Z' }))).toBe('2024-04-01');
    expect(observationDate(weight(70, { effectivePeriod: { start: '2024-04-02' } }))).toBe('2024-04-02');
    expect(observationDate(weight(70, { issued: '2024-04-03T08:00:00Z' }))).toBe('2024-04-03');
    expect(observationDate(weight(70, {}))).toBeUndefined();
  });

  test('the latest on or before the planned start counts', () => {
    const result = latestMeasure(
      [
        weight(68, { effectiveDateTime: '2024-04-01' }),
        weight(70, { effectiveDateTime: '2024-04-20' }),
        weight(90, { effectiveDateTime: '2024-05-02' }),
      ],
      'kg',
      '2024-05-01',
      synonyms
    );
    expect(result.status === 'found' && result.measure.value.toFixed()).toBe('70');
  });

  test('entered-in-error and cancelled never count; undated results do not either', () => {
    const result = latestMeasure(
      [
        weight(68, { effectiveDateTime: '2024-04-01' }),
        weight(99, { effectiveDateTime: '2024-04-20' }, 'kg', { status: 'entered-in-error' }),
        weight(98, { effectiveDateTime: '2024-04-21' }, 'kg', { status: 'cancelled' }),
        weight(97, {}),
      ],
      'kg',
      '2024-05-01',
      synonyms
    );
    expect(result.status === 'found' && result.measure.value.toFixed()).toBe('68');
  });

  test('disagreeing values on the latest date make the fact unknown', () => {
    const result = latestMeasure(
      [
        weight(70, { effectiveDateTime: '2024-04-20T08:00:00Z' }),
        weight(71, { effectiveDateTime: '2024-04-20T18:00:00Z' }),
      ],
      'kg',
      '2024-05-01',
      synonyms
    );
    expect(result).toEqual({ status: 'unknown', date: '2024-04-20', reason: 'disagree' });
  });

  test('the same value in two units on one date agrees', () => {
    const result = latestMeasure(
      [weight(70, { effectiveDateTime: '2024-04-20' }), weight(70000, { effectiveDateTime: '2024-04-20' }, 'g')],
      'kg',
      '2024-05-01',
      synonyms
    );
    expect(result.status).toBe('found');
  });

  test('an unreadable latest value is unknown, not silently replaced by an older one', () => {
    const result = latestMeasure(
      [weight(70, { effectiveDateTime: '2024-04-01' }), weight(154, { effectiveDateTime: '2024-04-20' }, 'lbs')],
      'kg',
      '2024-05-01',
      synonyms
    );
    expect(result).toEqual({ status: 'unknown', date: '2024-04-20', reason: 'unreadable' });
  });

  test('garbage is tolerated', () => {
    const junk = [null, 42, 'x', {}, { valueQuantity: 'x' }] as unknown as Observation[];
    expect(latestMeasure(junk, 'kg', '2024-05-01', synonyms)).toEqual({ status: 'none' });
    expect(latestMeasure(undefined, 'kg', '2024-05-01', synonyms)).toEqual({ status: 'none' });
  });
});
