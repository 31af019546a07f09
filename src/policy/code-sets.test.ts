import { CodeMatcher, normalizeCode } from './code-sets';

const ICD = 'http://hl7.org/fhir/sid/icd-10-cm';
const SCT = 'http://snomed.info/sct';

describe('CodeMatcher', () => {
  const covered = new CodeMatcher([
    { system: ICD, codes: ['C91.00', 'C91.01', 'C91.02'] },
    { system: SCT, codes: ['277571004'] },
  ]);

  test('ICD-10-CM codes match with or without the dot, in any case', () => {
    expect(covered.matches(ICD, 'C91.02')).toBe(true);
    expect(covered.matches(ICD, 'C9102')).toBe(true);
    expect(covered.matches(ICD, 'c91.02')).toBe(true);
    expect(covered.matches(ICD, 'C91.1')).toBe(false);
  });

  test('the system must match', () => {
    expect(covered.matches(SCT, 'C91.02')).toBe(false);
    expect(covered.matches(undefined, 'C91.02')).toBe(false);
    expect(covered.matches(` ${ICD} `, 'C91.02')).toBe(true);
  });

  test('prefixes cover a range of codes', () => {
    const dlbcl = new CodeMatcher([{ system: ICD, prefixes: ['C83.3'] }]);
    for (const code of ['C83.30', 'C83.39', 'C83.390', 'C83.398', 'C83.3A']) {
      expect(dlbcl.matches(ICD, code)).toBe(true);
    }
    expect(dlbcl.matches(ICD, 'C83.50')).toBe(false);
    expect(dlbcl.exactOnly).toBe(false);
  });

  test('an entry without a system matches any system and bare codes', () => {
    const statuses = new CodeMatcher([{ codes: ['active', 'relapse'] }]);
    expect(
      statuses.matchesConcept({
        coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' }],
      })
    ).toBe(true);
    expect(statuses.matchesConcept({ coding: [{ code: 'relapse' }] })).toBe(true);
    expect(statuses.matchesConcept('active')).toBe(true);
    expect(statuses.matchesConcept('resolved')).toBe(false);
  });

  test('concepts: any coding, a single coding object where R4 says array, or a Coding', () => {
    expect(
      covered.matchesConcept({
        coding: [
          { system: 'x', code: 'y' },
          { system: ICD, code: 'C91.00' },
        ],
      })
    ).toBe(true);
    expect(covered.matchesConcept({ coding: { system: ICD, code: 'C91.00' } })).toBe(true);
    expect(covered.matchesConcept({ system: SCT, code: '277571004' })).toBe(true);
    expect(covered.matchesConcept({ text: 'ALL' })).toBe(false);
    expect(covered.matchesConcept(null)).toBe(false);
    expect(covered.matchesConcept({ coding: [null, 5, { system: ICD }] })).toBe(false);
  });

  test('listed codes and index keys', () => {
    expect(covered.listed).toEqual([
      { system: ICD, code: 'C91.00' },
      { system: ICD, code: 'C91.01' },
      { system: ICD, code: 'C91.02' },
      { system: SCT, code: '277571004' },
    ]);
    expect(covered.exactOnly).toBe(true);
    expect(covered.keys).toContain(`${ICD}|C9100`);
  });

  test('normalizeCode', () => {
    expect(normalizeCode(' d89.832 ')).toBe('D89832');
    expect(normalizeCode('55513-0160-01')).toBe('55513-0160-01');
  });
});
