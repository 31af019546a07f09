import { describeEvidence, validReference } from './evidence';

describe('describeEvidence: each resource in words, with its date', () => {
  test('a result: its code and value, dated by effective[x]', () => {
    expect(
      describeEvidence([
        {
          resourceType: 'Observation',
          id: 'cd19',
          code: { coding: [{ display: 'CD19 expression (flow cytometry)' }], text: 'CD19 on leukemic blasts' },
          effectiveDateTime: '2026-11-02T11:30:00-04:00',
          valueCodeableConcept: { coding: [{ code: '10828004', display: 'Positive' }] },
        },
        {
          resourceType: 'Observation',
          id: 'mrd',
          code: { coding: [{ code: 'MRD-FLOW', display: 'MRD by flow cytometry' }] },
          effectivePeriod: { start: '2026-11-10' },
          valueQuantity: { value: 0.05, comparator: '<', unit: '%' },
        },
      ])
    ).toEqual([
      { ref: 'Observation/cd19', text: 'CD19 on leukemic blasts: Positive', date: '2026-11-02' },
      { ref: 'Observation/mrd', text: 'MRD by flow cytometry: <0.05 %', date: '2026-11-10' },
    ]);
  });

  test('a condition, an immunization, a care plan, a patient, orders', () => {
    const order = {
      resourceType: 'MedicationRequest',
      id: 'draft',
      status: 'draft',
      extension: [
        {
          url: 'http://example.org/fhir/StructureDefinition/treatment-phase',
          valueCodeableConcept: { coding: [{ code: 'consolidation' }] },
        },
      ],
    };
    expect(
      describeEvidence(
        [
          {
            resourceType: 'Condition',
            id: 'dx',
            code: { coding: [{ code: 'C91.02', display: 'ALL, in relapse' }] },
            recordedDate: '2026-10-28',
          },
          { resourceType: 'Immunization', id: 'mmr', vaccineCode: { text: 'MMR' }, occurrenceDateTime: '2026-11-20' },
          { resourceType: 'CarePlan', id: 'cp', title: 'Interfant-21 protocol', period: { start: '2026-11-16' } },
          { resourceType: 'Patient', id: 'p', birthDate: '2026-11-01' },
          {
            resourceType: 'MedicationRequest',
            id: 'tki',
            status: 'active',
            medicationCodeableConcept: { text: 'dasatinib' },
            authoredOn: '2026-10-01',
          },
          order,
        ],
        order
      )
    ).toEqual([
      { ref: 'Condition/dx', text: 'ALL, in relapse', date: '2026-10-28' },
      { ref: 'Immunization/mmr', text: 'MMR', date: '2026-11-20' },
      { ref: 'CarePlan/cp', text: 'Interfant-21 protocol', date: '2026-11-16' },
      { ref: 'Patient/p', text: 'date of birth 2026-11-01' },
      { ref: 'MedicationRequest/tki', text: 'dasatinib (active order)', date: '2026-10-01' },
      { ref: 'MedicationRequest/draft', text: 'this order, treatment phase consolidation' },
    ]);
  });

  test('an invalid id gives no reference but keeps the words; duplicates and non-resources are left out', () => {
    const items = describeEvidence([
      {
        resourceType: 'Observation',
        id: 'x<img src=x onerror=alert(1)>',
        code: { text: 'CD19' },
        valueString: 'positive',
      },
      { resourceType: 'Condition', id: 'a', code: { text: 'one' } },
      { resourceType: 'Condition', id: 'a', code: { text: 'one again' } },
      true,
      'text',
    ]);
    expect(items).toEqual([{ text: 'CD19: positive' }, { ref: 'Condition/a', text: 'one' }]);
    expect(validReference({ resourceType: 'Observation', id: 'ok.1-2' })).toBe('Observation/ok.1-2');
    expect(validReference({ resourceType: 'observation', id: 'ok' })).toBeUndefined();
    expect(validReference({ resourceType: 'Observation', id: 'a|b' })).toBeUndefined();
  });

  test('very long text is cut; control characters become spaces', () => {
    const [item] = describeEvidence([{ resourceType: 'CarePlan', id: 'cp', title: `a\u0000b ${'x'.repeat(500)}` }]);
    expect(item?.text.startsWith('a b x')).toBe(true);
    expect(Array.from(item?.text ?? '').length).toBe(201);
  });
});
