import { CodeMatcher } from './code-sets';
import {
  analyzeExpression,
  applyUnitSynonyms,
  checkBuiltinCall,
  compileExpression,
  createFunctionTable,
  quantityAtLeast,
  quantityIn,
  type FunctionTable,
} from './fhirpath';

const SYNONYMS = { mcg: 'ug', µg: 'ug', μg: 'ug', day: 'd', days: 'd', vial: '{vial}', vials: '{vial}', 'm²': 'm2' };
const SCT = 'http://snomed.info/sct';

const table: FunctionTable = createFunctionTable({
  codeSets: new Map([
    ['positive', new CodeMatcher([{ system: SCT, codes: ['10828004'] }])],
    ['negative', new CodeMatcher([{ system: SCT, codes: ['260385009'] }])],
  ]),
  unitSynonyms: SYNONYMS,
});

function run(expression: string, vars: Record<string, unknown> = {}, focus: unknown = {}): unknown[] {
  return compileExpression(expression, table).evaluate(focus, vars);
}

function obs(
  id: string,
  date: string | undefined,
  code = '10828004',
  extra: Record<string, unknown> = {}
): Record<string, unknown> {
  return {
    resourceType: 'Observation',
    id,
    status: 'final',
    code: { coding: [{ system: 'http://example.org/fhir/CodeSystem/local-lab', code: 'CD19-BLASTS' }] },
    ...(date ? { effectiveDateTime: date } : {}),
    valueCodeableConcept: { coding: [{ system: SCT, code }] },
    ...extra,
  };
}

const ids = (result: unknown[]): string[] => result.map((r) => (r as { id: string }).id);

describe('coded()', () => {
  test('true when any coding of the input is in the named set', () => {
    expect(run("%o.value.coded('positive')", { o: [obs('a', '2024-01-01')] })).toEqual([true]);
    expect(run("%o.value.coded('negative')", { o: [obs('a', '2024-01-01')] })).toEqual([false]);
    expect(
      run("%o.where(value.coded('positive')).count()", {
        o: [obs('a', '2024-01-01'), obs('b', '2024-01-01', '260385009')],
      })
    ).toEqual([1]);
  });

  test('false on empty input', () => {
    expect(run("%o.value.coded('positive')", { o: null })).toEqual([false]);
  });

  test('an unknown set name throws (the loader refuses such policies)', () => {
    expect(() => run("%o.value.coded('nope')", { o: [obs('a', '2024-01-01')] })).toThrow(/no code set named nope/);
  });
});

describe('dates', () => {
  const o = [
    obs('a', '2024-05-01'),
    obs('b', '2024-05-20T09:00:00-04:00'),
    obs('c', '2024-06-11'),
    obs('d', undefined),
  ];

  test('onOrBefore keeps results dated on or before the date (calendar date as written)', () => {
    expect(ids(run('%o.onOrBefore(%d)', { o, d: '2024-05-20' }))).toEqual(['a', 'b']);
    expect(ids(run('%o.onOrBefore(@2024-06-11)', { o }))).toEqual(['a', 'b', 'c']);
  });

  test('after keeps results dated strictly after the date', () => {
    expect(ids(run('%o.after(%d)', { o, d: '2024-05-20' }))).toEqual(['c']);
  });

  test('undated Conditions count at every date; undated Observations never', () => {
    const conditions = [
      { resourceType: 'Condition', id: 'x' },
      { resourceType: 'Condition', id: 'y', recordedDate: '2024-07-01' },
    ];
    expect(ids(run('%c.onOrBefore(%d)', { c: conditions, d: '2024-06-10' }))).toEqual(['x']);
    expect(ids(run('%c.after(%d)', { c: conditions, d: '2024-06-10' }))).toEqual(['x', 'y']);
    expect(ids(run('%o.onOrBefore(%d)', { o: [obs('d', undefined)], d: '2024-06-10' }))).toEqual([]);
  });

  test('withinDaysBefore includes both ends', () => {
    const imm = (id: string, date: string): Record<string, unknown> => ({
      resourceType: 'Immunization',
      id,
      occurrenceDateTime: date,
    });
    const list = [
      imm('13', '2024-05-28'),
      imm('14', '2024-05-27'),
      imm('15', '2024-05-26'),
      imm('0', '2024-06-10'),
      imm('after', '2024-06-11'),
    ];
    expect(ids(run('%i.withinDaysBefore(14, %d)', { i: list, d: '2024-06-10' }))).toEqual(['13', '14', '0']);
  });

  test('latest and earliest keep every result on the extreme date', () => {
    const same = [
      obs('a', '2024-05-01'),
      obs('b', '2024-05-20T09:00:00Z'),
      obs('c', '2024-05-20T15:00:00Z', '260385009'),
    ];
    expect(ids(run('%o.latest()', { o: same }))).toEqual(['b', 'c']);
    expect(ids(run('%o.earliest()', { o: same }))).toEqual(['a']);
    expect(ids(run('%o.latest()', { o: [obs('d', undefined)] }))).toEqual([]);
  });

  test('factDate gives the calendar date each resource is dated by', () => {
    expect(run('%o.factDate()', { o: [obs('b', '2024-05-20T23:00:00-04:00')] })).toEqual(['2024-05-20']);
  });

  test('date functions give nothing without a date', () => {
    expect(run('%o.onOrBefore(%d)', { o: [obs('a', '2024-05-01')], d: null })).toEqual([]);
    expect(run('%o.withinDaysBefore(14, %d)', { o: [obs('a', '2024-05-01')], d: '2024-05' })).toEqual([]);
  });
});

describe('agree()', () => {
  test.each([
    ['true | true', [true]],
    ['false', [false]],
    ['true | false', []],
    ['{}', []],
  ])('%s -> %j', (input, expected) => {
    expect(run(`(${input}).agree()`)).toEqual(expected);
  });

  test('disagreeing same-date results are unknown', () => {
    const same = [obs('b', '2024-05-20'), obs('c', '2024-05-20', '260385009')];
    expect(run("%o.latest().select(value.coded('positive')).agree()", { o: same })).toEqual([]);
  });
});

describe('ageInMonthsAt()', () => {
  test('completed calendar months at a date', () => {
    const patient = { resourceType: 'Patient', birthDate: '2024-01-31' };
    expect(run('%p.birthDate.ageInMonthsAt(%d)', { p: patient, d: '2024-02-29' })).toEqual([1]);
    expect(run('%p.birthDate.ageInMonthsAt(%d)', { p: patient, d: '2024-02-28' })).toEqual([0]);
    expect(run('%p.birthDate.ageInMonthsAt(%d) >= 1', { p: patient, d: '2024-02-28' })).toEqual([false]);
  });

  test('nothing without a birth date or a date', () => {
    expect(run('%p.birthDate.ageInMonthsAt(%d)', { p: { resourceType: 'Patient' }, d: '2024-02-28' })).toEqual([]);
    expect(
      run('%p.birthDate.ageInMonthsAt(%d) >= 1', { p: { resourceType: 'Patient', birthDate: '2024-01-01' }, d: null })
    ).toEqual([]);
  });
});

describe('quantityValue() and quantityIn', () => {
  const UCUM = 'http://unitsofmeasure.org';

  test('UCUM 1 is a fraction: 0.001 is exactly 0.1 %', () => {
    expect(quantityIn({ value: 0.001, unit: '1', system: UCUM, code: '1' }, '%', SYNONYMS)).toBe(0.1);
    expect(run("%q.quantityValue('%') >= 0.1", { q: { value: 0.001, system: UCUM, code: '1' } })).toEqual([true]);
    expect(quantityIn({ value: 0.0009, system: UCUM, code: '1' }, '%', SYNONYMS)).toBe(0.09);
  });

  test('the UCUM code wins; else the unit text after synonyms', () => {
    expect(quantityIn({ value: 0.5, unit: 'percent', system: UCUM, code: '%' }, '%', SYNONYMS)).toBe(0.5);
    expect(quantityIn({ value: 0.3, unit: '%' }, '%', SYNONYMS)).toBe(0.3);
    expect(quantityIn({ value: 28, unit: 'mcg/day' }, 'ug/d', SYNONYMS)).toBe(28);
    expect(quantityIn({ value: 0.028, unit: 'mg/d', system: UCUM, code: 'mg/d' }, 'ug/d', SYNONYMS)).toBe(28);
    expect(quantityIn({ value: 154, unit: '[lb_av]', system: UCUM, code: '[lb_av]' }, 'kg', SYNONYMS)).toBe(
      69.85322498
    );
  });

  test('nothing when the value or unit cannot be read or converted', () => {
    expect(quantityIn({ value: 0.3, unit: 'percent' }, '%', SYNONYMS)).toBeUndefined();
    expect(quantityIn({ value: '0.3', unit: '%' }, '%', SYNONYMS)).toBeUndefined();
    expect(quantityIn({ value: 5, system: UCUM, code: 'kg' }, '%', SYNONYMS)).toBeUndefined();
    expect(quantityIn(null, '%', SYNONYMS)).toBeUndefined();
    expect(run("%q.quantityValue('%')", { q: { value: 3, unit: 'cells' } })).toEqual([]);
  });

  test('atLeast honours the comparator, three-valued', () => {
    const q = (value: number, comparator?: string): Record<string, unknown> => ({
      value,
      system: UCUM,
      code: '%',
      ...(comparator ? { comparator } : {}),
    });
    expect(quantityAtLeast(q(0.1), 0.1, '%', SYNONYMS)).toBe(true);
    expect(quantityAtLeast(q(0.09), 0.1, '%', SYNONYMS)).toBe(false);
    expect(quantityAtLeast(q(0.01, '<'), 0.1, '%', SYNONYMS)).toBe(false);
    expect(quantityAtLeast(q(0.1, '<'), 0.1, '%', SYNONYMS)).toBe(false);
    expect(quantityAtLeast(q(0.1, '<='), 0.1, '%', SYNONYMS)).toBeUndefined();
    expect(quantityAtLeast(q(0.5, '<'), 0.1, '%', SYNONYMS)).toBeUndefined();
    expect(quantityAtLeast(q(0.1, '>='), 0.1, '%', SYNONYMS)).toBe(true);
    expect(quantityAtLeast(q(0.05, '>'), 0.1, '%', SYNONYMS)).toBeUndefined();
    expect(quantityAtLeast(q(0.5, 'ad'), 0.1, '%', SYNONYMS)).toBeUndefined();
    expect(
      run("%q.atLeast(0.1, '%')", { q: [{ value: 0.001, system: UCUM, code: '1' }, q(0.5, '<'), q(0.05)] })
    ).toEqual([true, false]);
  });

  test('unit synonyms apply per unit part', () => {
    expect(applyUnitSynonyms('mcg/m²/day', SYNONYMS)).toBe('ug/m2/d');
    expect(applyUnitSynonyms('µg/(m2.d)', SYNONYMS)).toBe('ug/(m2.d)');
    expect(applyUnitSynonyms('vials', SYNONYMS)).toBe('{vial}');
  });
});

describe('analysis and checks used by the loader', () => {
  test('lists the variables and calls of an expression, however deep', () => {
    const a = analyzeExpression("%a.where(code.coded('x') and %b > 3).select(%`c`.exists()).quantityValue('%')");
    expect([...a.variables].sort()).toEqual(['a', 'b', 'c']);
    expect(a.calls.map(({ name, params, literal }) => ({ name, params, literal }))).toEqual(
      expect.arrayContaining([
        { name: 'where', params: 1, literal: undefined },
        { name: 'coded', params: 1, literal: 'x' },
        { name: 'quantityValue', params: 1, literal: '%' },
        { name: 'exists', params: 0, literal: undefined },
      ])
    );
    expect(analyzeExpression("%q.atLeast(0.1, '%')").calls[0]?.literals).toEqual([undefined, '%']);
  });

  test('a parse error throws', () => {
    expect(() => analyzeExpression('%a.where(')).toThrow();
  });

  // Whether an expression reads its focus decides whether it may be computed once for all the orders of a call.
  test.each([
    ["code.coded('x')", true],
    ['$this', true],
    ['exists()', true],
    ['Patient.name', true],
    ['%context.id', true],
    ["%a.where(code = 'x') and status = 'final'", true],
    ['iif(code.exists(), 1, 0)', true],
    ['%a.combine(code)', true],
    ['%a.aggregate($this, code)', true],
    ['%a[code]', true],
    ['%a.coalesce(b)', true],
    ["%a.where(code.coded('x'))", false],
    ['iif(%t.exists(), %t, {})', false],
    ['%a.where(%b.combine(code).exists())', false],
    ['%a.select($this)', false],
    ['%a.exists(code)', false],
    ['%a.iif(code.exists(), 1, 0)', false],
    ['%a.aggregate($this + $total, 0)', false],
    ['%a[0].code', false],
    ['(%a | %b).latest()', false],
    ['%p.birthDate.ageInMonthsAt(%d) < 12', false],
    ["%e.select(value.coded('x')).agree().where($this)", false],
    ['%x is Patient', false],
    ['%order.id', false],
    ['1 + 2', false],
  ])('%s reads its focus: %s', (expression, reads) => {
    expect(analyzeExpression(expression).readsFocus).toBe(reads);
  });

  test('a focus-reading expression gives different results over different foci; the others do not', () => {
    const vars = { a: [obs('a', '2024-05-01')] };
    expect(run('%a.where(code.exists()).count() + iif(%a.exists(), 1, 0)', vars, { x: 1 })).toEqual(
      run('%a.where(code.exists()).count() + iif(%a.exists(), 1, 0)', vars, { y: 2 })
    );
    expect(run('%a.combine(code).count()', vars, { code: 'x' })).not.toEqual(run('%a.combine(code).count()', vars, {}));
  });

  test('built-in functions: unknown names and wrong parameter counts are found', () => {
    expect(checkBuiltinCall('where', 1)).toBeUndefined();
    expect(checkBuiltinCall('iif', 3)).toBeUndefined();
    expect(checkBuiltinCall('nope', 0)).toBe('unknown function nope()');
    expect(checkBuiltinCall('first', 1)).toBe('first() takes no parameters');
    expect(checkBuiltinCall('substring', 3)).toBe('substring() does not take 3 parameters');
  });
});

describe('evaluation', () => {
  test('an undefined variable throws; one set to null is empty', () => {
    expect(() => run('%missing.exists()')).toThrow(/undefined environment variable/);
    expect(run('%x.exists()', { x: null })).toEqual([false]);
  });

  test('the input resources are left as they were', () => {
    const o = [obs('a', '2024-05-01'), obs('b', '2024-05-20')];
    const before = JSON.stringify(o);
    run("%o.onOrBefore(%d).latest().select(value.coded('positive')).agree()", { o, d: '2024-06-01' }, o[0]);
    expect(JSON.stringify(o)).toBe(before);
  });
});
