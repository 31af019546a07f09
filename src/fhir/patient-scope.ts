// Only this patient's data (contract section 2): a leaf module telling whether a resource names another patient
// than the call's `context.patientId`. Used where data enters a call (hooks/prefetch.ts for prefetch and the FHIR
// fallback alike, the Coverages a routed service reads included; hooks/governance.ts for the draft orders), by
// hooks/routing.ts on the Coverages it routes by, and by evaluation for the draft orders of the regimen.

/** The reference elements that name the patient a resource is about (contract section 2). */
const PATIENT_ELEMENTS = ['subject', 'patient', 'beneficiary'] as const;

/**
 * `Patient/{id}`, `{base}/Patient/{id}` and either with `/_history/{v}`: the id is what follows `Patient/` up to the
 * next `/`. A reference in any other form (another resource type, `#contained`, a conditional `Patient?...`) names no
 * Patient id.
 */
const PATIENT_REFERENCE = /(?:^|\/)Patient\/([^/?#]+)(?:\/_history\/[^/?#]+)?$/;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The Patient id a Reference names, or undefined when it names none.
 * @param reference - a FHIR Reference (anything else names none)
 */
export function referencedPatientId(reference: unknown): string | undefined {
  if (!isObject(reference) || typeof reference.reference !== 'string') {
    return undefined;
  }
  return PATIENT_REFERENCE.exec(reference.reference.trim())?.[1];
}

/**
 * True when the resource names another patient than `patientId`: a Patient whose `id` is not it, or a resource whose
 * `subject`, `patient` or `beneficiary` reference names a different Patient id. A resource naming no patient
 * (Medication, Organization, a reference without a Patient id) is this patient's as far as this check goes.
 * @param resource - any value (only resources can name a patient)
 * @param patientId - `context.patientId`
 */
export function namesAnotherPatient(resource: unknown, patientId: string): boolean {
  if (!isObject(resource)) {
    return false;
  }
  if (resource.resourceType === 'Patient') {
    return resource.id !== patientId;
  }
  for (const element of PATIENT_ELEMENTS) {
    const value = resource[element];
    for (const reference of Array.isArray(value) ? value : [value]) {
      const id = referencedPatientId(reference);
      if (id !== undefined && id !== patientId) {
        return true;
      }
    }
  }
  return false;
}
