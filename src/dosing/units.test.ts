import { dosingRules } from '../../test/helpers/dosing-rules';
import {
  applyUnitSynonyms,
  conversionFactor,
  Dec,
  describeQuantity,
  formatDecimal,
  isUcumUnit,
  quantityIn,
  readUnit,
  roundHalfUp,
  toQuantityIn,
  UCUM_SYSTEM,
} from './units';

const synonyms = dosingRules.unitSynonyms;

describe('applyUnitSynonyms', () => {
  test.each([
    ['mcg/day', 'ug/d'],
    ['mcg', 'ug'],
    ['µg/d', 'ug/d'],
    ['μg/day', 'ug/d'],
    ['mcg/m²/day', 'ug/m2/d'],
    ['mcg/(m².day)', 'ug/(m2.d)'],
    ['vials', '{vial}'],
    ['vial', '{vial}'],
    ['days', 'd'],
    ['  mcg/day ', 'ug/d'],
    ['MCG/DAY', 'ug/d'],
    ['ug/d', 'ug/d'],
    ['mcg per day', 'mcg per day'],
  ])('%s -> %s', (text, expected) => {
    expect(applyUnitSynonyms(text, synonyms)).toBe(expected);
  });

  test('replaces whole parts only, never inside a word', () => {
    expect(applyUnitSynonyms('mcgx/day', synonyms)).toBe('mcgx/d');
  });
});

describe('readUnit', () => {
  test('takes the code when the system is UCUM and it parses', () => {
    expect(readUnit({ unit: 'mcg per day', system: UCUM_SYSTEM, code: 'ug/d' }, synonyms)).toBe('ug/d');
  });
  test('falls back to the unit text when the UCUM code does not parse', () => {
    expect(readUnit({ unit: 'mcg/day', system: UCUM_SYSTEM, code: 'mcg/day' }, synonyms)).toBe('ug/d');
  });
  test('ignores a code from another system', () => {
    expect(readUnit({ unit: 'mcg/day', system: 'http://example.org', code: 'MG' }, synonyms)).toBe('ug/d');
    expect(readUnit({ system: 'http://example.org', code: 'ug/d' }, synonyms)).toBeUndefined();
  });
  test('is undefined for text that is not UCUM even after synonyms', () => {
    expect(readUnit({ unit: 'mcg per day' }, synonyms)).toBeUndefined();
    expect(readUnit({ unit: 'lbs' }, synonyms)).toBeUndefined();
    expect(readUnit({}, synonyms)).toBeUndefined();
    expect(readUnit(undefined, synonyms)).toBeUndefined();
    expect(readUnit({ unit: 42 }, synonyms)).toBeUndefined();
  });
});

describe('exact conversion', () => {
  test('mg/d to ug/d is exactly 1000 (the library alone gives 28.000000000000004 for 0.028)', () => {
    const result = toQuantityIn(0.028, 'mg/d', 'ug/d');
    expect(result?.toFixed()).toBe('28');
    expect(result?.eq(28)).toBe(true);
  });
  test('mg to ug factor is cleaned of floating-point noise', () => {
    expect(conversionFactor('mg', 'ug')?.toFixed()).toBe('1000');
  });
  test('pounds to kilograms is exact', () => {
    expect(toQuantityIn(154, '[lb_av]', 'kg')?.toFixed()).toBe('69.85322498');
  });
  test('inches and metres to centimetres', () => {
    expect(toQuantityIn(60, '[in_i]', 'cm')?.toFixed()).toBe('152.4');
    expect(toQuantityIn(1.7, 'm', 'cm')?.toFixed()).toBe('170');
    expect(toQuantityIn(70000, 'g', 'kg')?.toFixed()).toBe('70');
  });
  test('per-area and per-week forms', () => {
    expect(toQuantityIn(15, 'ug/m2/d', 'ug/(m2.d)')?.toFixed()).toBe('15');
    expect(toQuantityIn(6, 'wk', 'd')?.toFixed()).toBe('42');
  });
  test('units that are not commensurable do not convert', () => {
    expect(toQuantityIn(28, 'ug/(m2.d)', 'ug/d')).toBeUndefined();
    expect(toQuantityIn(28, 'ug', 'ug/d')).toBeUndefined();
    expect(toQuantityIn(28, 'kg', 'cm')).toBeUndefined();
  });
  test('an annotated target is reached only from itself (UCUM treats annotations as 1)', () => {
    expect(toQuantityIn(28, '{vial}', '{vial}')?.toFixed()).toBe('28');
    expect(toQuantityIn(28, '{bag}', '{vial}')).toBeUndefined();
    expect(toQuantityIn(28, '%', '{vial}')).toBeUndefined();
    expect(toQuantityIn(28, '1', '{vial}')).toBeUndefined();
  });
  test('bad values and units give undefined, never a throw or console noise', () => {
    const log = jest.spyOn(console, 'log').mockImplementation(() => undefined);
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    expect(toQuantityIn(Number.NaN, 'ug', 'ug')).toBeUndefined();
    expect(toQuantityIn(Number.POSITIVE_INFINITY, 'ug', 'ug')).toBeUndefined();
    expect(toQuantityIn(1, 'ug / d', 'ug/d')).toBeUndefined();
    expect(toQuantityIn(1, 'ug/(m2.d', 'ug/(m2.d)')).toBeUndefined();
    expect(toQuantityIn(1, '', 'ug')).toBeUndefined();
    expect(toQuantityIn(1, 'u'.repeat(500), 'ug')).toBeUndefined();
    expect(isUcumUnit('mcg')).toBe(false);
    expect(isUcumUnit('ug/d')).toBe(true);
    expect(log).not.toHaveBeenCalled();
    expect(warn).not.toHaveBeenCalled();
    log.mockRestore();
    warn.mockRestore();
  });
});

describe('quantityIn', () => {
  test('reads value and unit together', () => {
    expect(quantityIn({ value: 29, unit: 'vials' }, '{vial}', synonyms)?.toFixed()).toBe('29');
    expect(quantityIn({ value: 1, unit: 'mg', system: UCUM_SYSTEM, code: 'mg' }, 'ug', synonyms)?.toFixed()).toBe(
      '1000'
    );
  });
  test('a comparator, a missing or non-numeric value is unreadable', () => {
    expect(quantityIn({ value: 28, comparator: '<', unit: 'ug' }, 'ug', synonyms)).toBeUndefined();
    expect(quantityIn({ unit: 'ug' }, 'ug', synonyms)).toBeUndefined();
    expect(quantityIn({ value: '28', unit: 'ug' }, 'ug', synonyms)).toBeUndefined();
  });
});

describe('formatting and rounding', () => {
  test('half up to tenths, in decimal', () => {
    expect(roundHalfUp(new Dec('30.85'), 1).toFixed()).toBe('30.9');
    expect(roundHalfUp(new Dec('5.25'), 1).toFixed()).toBe('5.3');
    expect(roundHalfUp(new Dec('5.249999'), 1).toFixed()).toBe('5.2');
  });
  test('plain text without exponent or trailing zeros', () => {
    expect(formatDecimal(new Dec('28.0'))).toBe('28');
    expect(formatDecimal(new Dec('0.00000001'))).toBe('0.00000001');
  });
  test('describes a quantity as written', () => {
    expect(describeQuantity({ value: 154, unit: '[lb_av]' })).toBe('154 [lb_av]');
    expect(describeQuantity({ value: 28, code: 'ug/d' })).toBe('28 ug/d');
    expect(describeQuantity({ value: 28 })).toBe('28 (no unit)');
    expect(describeQuantity(undefined)).toBe('no quantity');
  });
});
