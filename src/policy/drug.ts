// Which MedicationRequests are orders of the governed drug: one rule for governance (contract section 2) and for
// evaluation (prior cycles and the regimen, section 4). One status rule (the statuses that are not orders), one
// Medication resolver (one parser of `medicationReference`) and one drug matcher (the policy's drug code set, a
// CodeMatcher: case, spaces around the code and dots ignored, prefixes honoured; cds-services/README.md "Codes").
import type { CodeMatcher } from './code-sets';

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Draft orders with these statuses are not orders (contract section 2): never governed, never in the regimen. */
export const NOT_ORDER_STATUSES: ReadonlySet<string> = new Set(['cancelled', 'entered-in-error', 'stopped']);

/** True when a MedicationRequest's status makes it no order (contract section 2). */
export function isNotAnOrder(order: Readonly<Json>): boolean {
  return typeof order.status === 'string' && NOT_ORDER_STATUSES.has(order.status);
}

const ID = '[A-Za-z0-9\\-.]{1,64}';
const RELATIVE = new RegExp(`^Medication/(${ID})(?:/_history/${ID})?$`);
const ABSOLUTE = new RegExp(`^(https?://.+)/Medication/(${ID})(?:/_history/${ID})?$`);

/** What a `medicationReference.reference` names. */
export type MedicationReference =
  | { kind: 'contained'; id: string }
  /** `Medication/{id}`; `base` is set when the reference was absolute (`{base}/Medication/{id}`, no slash at its end). */
  | { kind: 'resource'; ref: string; base?: string }
  /** No reference, an empty one, a display-only reference, another resource type. */
  | { kind: 'none' };

/**
 * The one parser of Medication references: `#id` (contained), `Medication/{id}` (optionally versioned), or
 * `{base}/Medication/{id}` (absolute, optionally versioned); anything else names no Medication.
 */
export function parseMedicationReference(reference: unknown): MedicationReference {
  if (typeof reference !== 'string' || reference.trim() === '') {
    return { kind: 'none' };
  }
  if (reference.startsWith('#')) {
    return reference.length > 1 ? { kind: 'contained', id: reference.slice(1) } : { kind: 'none' };
  }
  const relative = RELATIVE.exec(reference);
  if (relative) {
    return { kind: 'resource', ref: `Medication/${relative[1] as string}` };
  }
  const absolute = ABSOLUTE.exec(reference);
  if (absolute) {
    return { kind: 'resource', ref: `Medication/${absolute[2] as string}`, base: absolute[1] as string };
  }
  return { kind: 'none' };
}

/** Medications in hand (the call's data, or those governance read), by `Medication/{id}`. */
export type MedicationLookup = (ref: string) => Readonly<Json> | undefined;

/** An order's medication, as the one resolver finds it. */
export type OrderMedication =
  /** `medicationCodeableConcept` (it wins over any reference). */
  | { kind: 'inline'; code: unknown }
  /** A contained Medication. */
  | { kind: 'contained'; medication: Readonly<Json> }
  /** A Medication in hand, by `Medication/{id}` (whatever base an absolute reference names). */
  | { kind: 'found'; ref: string; medication: Readonly<Json> }
  /** Not in hand, but readable from the request's `fhirServer` (relative, or absolute under `fhirServer`). */
  | { kind: 'readable'; ref: string }
  /** Not in hand, and on another server than `fhirServer` (cannot be read). */
  | { kind: 'elsewhere'; ref: string }
  /** A `#id` naming no contained Medication. */
  | { kind: 'unresolved' }
  /** The order names no medication. */
  | { kind: 'none' };

/**
 * Resolves an order's medication: inline first, then the contained Medication its `#id` names, then a Medication in
 * hand with its `Medication/{id}`; one not in hand is readable when the reference is relative or absolute under
 * `fhirServer`.
 * @param order - a MedicationRequest (read only).
 * @param lookup - the Medications in hand.
 * @param fhirServer - the request's `fhirServer`, if any.
 */
export function orderMedication(
  order: Readonly<Json>,
  lookup: MedicationLookup,
  fhirServer: string | undefined
): OrderMedication {
  if (isObject(order.medicationCodeableConcept)) {
    return { kind: 'inline', code: order.medicationCodeableConcept };
  }
  const parsed = parseMedicationReference(
    isObject(order.medicationReference) ? order.medicationReference.reference : undefined
  );
  switch (parsed.kind) {
    case 'none':
      return { kind: 'none' };
    case 'contained': {
      const contained: unknown = order.contained;
      const medication = Array.isArray(contained)
        ? contained.find(
            (r: unknown): r is Json => isObject(r) && r.resourceType === 'Medication' && r.id === parsed.id
          )
        : undefined;
      return medication ? { kind: 'contained', medication } : { kind: 'unresolved' };
    }
    case 'resource': {
      const medication = lookup(parsed.ref);
      if (medication) {
        return { kind: 'found', ref: parsed.ref, medication };
      }
      const server = typeof fhirServer === 'string' ? fhirServer.replace(/\/+$/, '') : undefined;
      return parsed.base === undefined || parsed.base === server
        ? { kind: 'readable', ref: parsed.ref }
        : { kind: 'elsewhere', ref: parsed.ref };
    }
  }
}

/** The code of a resolved medication (the inline concept, or the Medication's `code`); undefined when none. */
export function medicationCode(medication: OrderMedication): unknown {
  switch (medication.kind) {
    case 'inline':
      return medication.code;
    case 'contained':
    case 'found':
      return isObject(medication.medication.code) ? medication.medication.code : undefined;
    case 'readable':
    case 'elsewhere':
    case 'unresolved':
    case 'none':
      return undefined;
  }
}

/**
 * The one drug rule: true when the resolved medication carries a code of the drug code set (the same CodeMatcher
 * evaluation's `coded()` and prior cycles use).
 */
export function isDrug(medication: OrderMedication, drug: Pick<CodeMatcher, 'matchesConcept'>): boolean {
  const code = medicationCode(medication);
  return code !== undefined && drug.matchesConcept(code);
}
