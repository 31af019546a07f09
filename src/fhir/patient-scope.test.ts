import { namesAnotherPatient, referencedPatientId } from './patient-scope';

describe('referencedPatientId (contract section 2: every reference form names the id)', () => {
  test.each([
    ['Patient/pat-1', 'pat-1'],
    ['https://ehr.example/fhir/Patient/pat-1', 'pat-1'],
    ['Patient/pat-1/_history/3', 'pat-1'],
    ['https://ehr.example/fhir/Patient/pat-1/_history/3', 'pat-1'],
    [' Patient/pat-1 ', 'pat-1'],
    ['Patient/x<img src=x>', 'x<img src=x>'],
  ])('%s names %s', (reference, id) => {
    expect(referencedPatientId({ reference })).toBe(id);
  });

  test.each([['Group/g-1'], ['#p'], ['Patient?identifier=x|1'], ['Patient/'], ['urn:uuid:1234'], ['']])(
    '%s names no Patient id',
    (reference) => {
      expect(referencedPatientId({ reference })).toBeUndefined();
    }
  );

  test('anything that is not a Reference with a string reference names none', () => {
    for (const value of [undefined, null, 'Patient/pat-1', { display: 'Ms X' }, { reference: 7 }, ['Patient/x']]) {
      expect(referencedPatientId(value)).toBeUndefined();
    }
  });
});

describe('namesAnotherPatient', () => {
  const ours = 'pat-1';

  test('a Patient is another patient unless its id is the one of the call', () => {
    expect(namesAnotherPatient({ resourceType: 'Patient', id: 'pat-1' }, ours)).toBe(false);
    expect(namesAnotherPatient({ resourceType: 'Patient', id: 'pat-2' }, ours)).toBe(true);
    expect(namesAnotherPatient({ resourceType: 'Patient' }, ours)).toBe(true);
  });

  test('subject, patient and beneficiary are read, in every reference form', () => {
    expect(namesAnotherPatient({ resourceType: 'Condition', subject: { reference: 'Patient/pat-2' } }, ours)).toBe(
      true
    );
    expect(
      namesAnotherPatient({ resourceType: 'Immunization', patient: { reference: 'http://x/fhir/Patient/pat-2' } }, ours)
    ).toBe(true);
    expect(
      namesAnotherPatient({ resourceType: 'Coverage', beneficiary: { reference: 'Patient/pat-2/_history/1' } }, ours)
    ).toBe(true);
    expect(
      namesAnotherPatient({ resourceType: 'Coverage', beneficiary: { reference: 'Patient/pat-1/_history/1' } }, ours)
    ).toBe(false);
    expect(
      namesAnotherPatient({ resourceType: 'Observation', subject: { reference: 'https://x/Patient/pat-1' } }, ours)
    ).toBe(false);
  });

  test('resources naming no patient are kept', () => {
    expect(namesAnotherPatient({ resourceType: 'Medication', id: 'm' }, ours)).toBe(false);
    expect(namesAnotherPatient({ resourceType: 'Organization', id: 'o' }, ours)).toBe(false);
    expect(namesAnotherPatient({ resourceType: 'Observation', subject: { reference: 'Group/g' } }, ours)).toBe(false);
    expect(namesAnotherPatient({ resourceType: 'Observation', subject: { display: 'someone' } }, ours)).toBe(false);
    expect(namesAnotherPatient('not a resource', ours)).toBe(false);
    expect(namesAnotherPatient(null, ours)).toBe(false);
  });

  test('other elements are not read (the contract names these three)', () => {
    expect(namesAnotherPatient({ resourceType: 'Coverage', subscriber: { reference: 'Patient/pat-2' } }, ours)).toBe(
      false
    );
  });

  test('an element holding a list is foreign when any entry names another patient', () => {
    expect(
      namesAnotherPatient(
        { resourceType: 'X', subject: [{ reference: 'Patient/pat-1' }, { reference: 'Patient/pat-2' }] },
        ours
      )
    ).toBe(true);
  });
});
