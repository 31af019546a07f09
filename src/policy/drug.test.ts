import { CodeMatcher } from './code-sets';
import {
  NOT_ORDER_STATUSES,
  isDrug,
  isNotAnOrder,
  medicationCode,
  orderMedication,
  parseMedicationReference,
} from './drug';

const RXNORM = 'http://www.nlm.nih.gov/research/umls/rxnorm';
const HCPCS = 'http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets';
const blin = { coding: [{ system: RXNORM, code: '1597263' }] };
const drug = new CodeMatcher([
  { system: RXNORM, codes: ['1597263'] },
  { system: HCPCS, codes: ['J9039'] },
]);

describe('parseMedicationReference', () => {
  test.each<[unknown, ReturnType<typeof parseMedicationReference>]>([
    ['#m1', { kind: 'contained', id: 'm1' }],
    ['#', { kind: 'none' }],
    ['Medication/m1', { kind: 'resource', ref: 'Medication/m1' }],
    ['Medication/m1/_history/3', { kind: 'resource', ref: 'Medication/m1' }],
    [
      'https://ehr.example/fhir/Medication/m1/_history/2',
      { kind: 'resource', ref: 'Medication/m1', base: 'https://ehr.example/fhir' },
    ],
    ['Medication/a/b/c', { kind: 'none' }],
    ['Substance/s1', { kind: 'none' }],
    ['', { kind: 'none' }],
    [42, { kind: 'none' }],
    [undefined, { kind: 'none' }],
  ])('%j', (reference, expected) => {
    expect(parseMedicationReference(reference)).toEqual(expected);
  });
});

describe('orderMedication', () => {
  const inHand = new Map([['Medication/m1', { resourceType: 'Medication', id: 'm1', code: blin }]]);
  const lookup = (ref: string): Record<string, unknown> | undefined => inHand.get(ref);
  const server = 'https://ehr.example/fhir/';

  test('inline wins over a reference', () => {
    const order = { medicationCodeableConcept: blin, medicationReference: { reference: 'Medication/m2' } };
    expect(orderMedication(order, lookup, server)).toEqual({ kind: 'inline', code: blin });
  });

  test('a Medication in hand is found whatever base an absolute reference names', () => {
    for (const reference of ['Medication/m1', 'https://other.example/fhir/Medication/m1']) {
      expect(orderMedication({ medicationReference: { reference } }, lookup, server).kind).toBe('found');
    }
  });

  test('one not in hand is readable under fhirServer (or relative), elsewhere otherwise', () => {
    const of = (reference: string, fhirServer?: string): string =>
      orderMedication({ medicationReference: { reference } }, lookup, fhirServer).kind;
    expect(of('Medication/m2', server)).toBe('readable');
    expect(of('https://ehr.example/fhir/Medication/m2', server)).toBe('readable');
    expect(of('https://other.example/fhir/Medication/m2', server)).toBe('elsewhere');
    expect(of('https://ehr.example/fhir/Medication/m2')).toBe('elsewhere');
  });

  test('contained, dangling and absent medications', () => {
    const contained = { resourceType: 'Medication', id: 'c', code: blin };
    expect(
      orderMedication({ medicationReference: { reference: '#c' }, contained: [contained] }, lookup, undefined)
    ).toEqual({
      kind: 'contained',
      medication: contained,
    });
    expect(
      orderMedication({ medicationReference: { reference: '#x' }, contained: [contained] }, lookup, undefined)
    ).toEqual({
      kind: 'unresolved',
    });
    expect(orderMedication({ medicationReference: { display: 'Blincyto' } }, lookup, undefined)).toEqual({
      kind: 'none',
    });
    expect(medicationCode({ kind: 'none' })).toBeUndefined();
  });
});

describe('isDrug', () => {
  test('matches as the code set does: case, spaces and dots ignored, the system honoured', () => {
    const inline = (system: string, code: string): boolean =>
      isDrug({ kind: 'inline', code: { coding: [{ system, code }] } }, drug);
    expect(inline(HCPCS, 'j9039')).toBe(true);
    expect(inline(HCPCS, ' J9039 ')).toBe(true);
    expect(inline(HCPCS, 'J90.39')).toBe(true);
    expect(inline(RXNORM, 'J9039')).toBe(false);
    expect(inline(HCPCS, 'J9038')).toBe(false);
    expect(isDrug({ kind: 'found', ref: 'Medication/x', medication: { resourceType: 'Medication' } }, drug)).toBe(
      false
    );
  });

  test('the union of code sets matches what either matches, prefixes included', () => {
    const union = CodeMatcher.union([drug, new CodeMatcher([{ system: RXNORM, prefixes: ['16512'] }])]);
    expect(union.matchesConcept({ coding: [{ system: RXNORM, code: '1651249' }] })).toBe(true);
    expect(union.matchesConcept({ coding: [{ system: HCPCS, code: 'j9039' }] })).toBe(true);
    expect(union.matchesConcept({ coding: [{ system: RXNORM, code: '3264' }] })).toBe(false);
  });
});

test('the statuses that are not orders (contract section 2)', () => {
  expect([...NOT_ORDER_STATUSES].sort()).toEqual(['cancelled', 'entered-in-error', 'stopped']);
  expect(isNotAnOrder({ status: 'stopped' })).toBe(true);
  expect(isNotAnOrder({ status: 'draft' })).toBe(false);
  expect(isNotAnOrder({})).toBe(false);
});
