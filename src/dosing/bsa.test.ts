import fc from 'fast-check';
import { dosingRules } from '../../test/helpers/dosing-rules';
import { mostellerBsa, resolveBsa } from './bsa';
import type { Measure, MeasureResult } from './measures';
import { Dec } from './units';

const m = (value: string, date = '2024-04-28'): Measure => ({ value: new Dec(value), date, charted: value });
const found = (value: string, date?: string): MeasureResult => ({ status: 'found', measure: m(value, date) });

describe('mostellerBsa', () => {
  test.each([
    ['170', '70', '1.82'],
    ['125', '36.45', '1.13'], // sqrt is exactly 1.125: half up
    ['125', '36.44', '1.12'],
    ['55', '4.5', '0.26'],
    ['160', '44.99', '1.41'],
    ['152.4', '40', '1.3'],
  ])('%s cm × %s kg -> %s m²', (h, w, expected) => {
    expect(mostellerBsa(new Dec(h), new Dec(w)).toFixed()).toBe(expected);
  });

  test('is the half-up rounding of the exact square root for any height and weight', () => {
    fc.assert(
      fc.property(fc.integer({ min: 300, max: 2500 }), fc.integer({ min: 100, max: 25000 }), (mm, dag) => {
        const h = new Dec(mm).div(10); // cm, one decimal
        const w = new Dec(dag).div(100); // kg, two decimals
        const bsa = mostellerBsa(h, w);
        // bsa - 0.005 <= sqrt(h w / 3600) < bsa + 0.005, checked by squaring (exact in decimal)
        const v = h.times(w).div(3600);
        const low = bsa.minus('0.005');
        const high = bsa.plus('0.005');
        return low.times(low).lte(v) && high.times(high).gt(v) && bsa.decimalPlaces() <= 2;
      }),
      { numRuns: 2000 }
    );
  });

  test('a zero product gives zero', () => {
    expect(mostellerBsa(new Dec(0), new Dec(70)).toFixed()).toBe('0');
  });
});

describe('resolveBsa', () => {
  const start = '2024-05-01';
  test('a charted BSA within 30 days and within 20 % of Mosteller is used', () => {
    const r = resolveBsa(m('44'), found('160'), found('1.5', '2024-04-01'), start, dosingRules);
    expect(r.source).toBe('charted');
    expect(r.bsa?.toFixed()).toBe('1.5');
    expect(r.prompts).toEqual([]);
  });

  test('a charted BSA 31 days old is not used and needs no verification', () => {
    const r = resolveBsa(m('44'), found('160'), found('1.5', '2024-03-31'), start, dosingRules);
    expect(r.source).toBe('mosteller');
    expect(r.bsa?.toFixed()).toBe('1.4');
    expect(r.prompts).toEqual([]);
  });

  test('exactly 20 % from Mosteller is plausible; beyond it is not', () => {
    expect(resolveBsa(m('44'), found('160'), found('1.68'), start, dosingRules).source).toBe('charted');
    const r = resolveBsa(m('44'), found('160'), found('1.69'), start, dosingRules);
    expect(r.source).toBe('mosteller');
    expect(r.prompts.map((p) => p.kind)).toEqual(['implausible-bsa']);
    expect(r.prompts[0]?.text).toContain('1.69 m²');
  });

  test('outside 0.1–3.0 m² is implausible, even without a height to compare with', () => {
    const r = resolveBsa(m('44'), { status: 'none' }, found('3.1'), start, dosingRules);
    expect(r.bsa).toBeUndefined();
    expect(r.heightNeeded).toBe(true);
    expect(r.prompts.map((p) => p.kind)).toEqual(['implausible-bsa']);
    expect(resolveBsa(m('4'), found('50'), found('0.09'), start, dosingRules).source).toBe('mosteller');
    expect(resolveBsa(m('4'), found('50'), found('0.1'), start, dosingRules).source).toBe('mosteller'); // > 20 % off
  });

  test('a plausible charted BSA is used without a height', () => {
    const r = resolveBsa(m('40'), { status: 'none' }, found('1.3'), start, dosingRules);
    expect(r.source).toBe('charted');
    expect(r.heightNeeded).toBeUndefined();
  });

  test('disagreeing charted BSAs are not used and a person is asked to verify them', () => {
    const r = resolveBsa(
      m('44'),
      found('160'),
      { status: 'unknown', date: '2024-04-28', reason: 'disagree' },
      start,
      dosingRules
    );
    expect(r.source).toBe('mosteller');
    expect(r.prompts.map((p) => p.kind)).toEqual(['implausible-bsa']);
  });

  test('no height and no charted BSA: the height is needed', () => {
    const r = resolveBsa(m('40'), { status: 'none' }, { status: 'none' }, start, dosingRules);
    expect(r).toMatchObject({ heightNeeded: true, prompts: [] });
    expect(r.bsa).toBeUndefined();
  });
});
