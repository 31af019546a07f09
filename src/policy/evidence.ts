// Evidence in words (contract section 6): what each resource a criterion rests on states, read from the resource
// itself as the data profile writes it (a result's code and value, a condition's code, an order's medication, a care
// plan's title), with the date it is dated by. The text is patient data, unescaped: the cards escape it.
import { factDateOf } from './dates';
import { isObject, type Json } from './data';
import type { EvidenceItem } from './types';

/** FHIR R4 `id`: 1 to 64 of A–Z, a–z, 0–9, `-` and `.`; a resource type is a capitalised name. */
const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;
const RESOURCE_TYPE = /^[A-Z][A-Za-z]{1,63}$/;

/** Data profile section 4: the order's treatment phase. */
const TREATMENT_PHASE_URL = 'http://example.org/fhir/StructureDefinition/treatment-phase';

/** Longest piece of resource text kept (the cards cut it further at a word), and of a result's name. */
const MAX_TEXT = 200;
const MAX_NAME = 60;

/** Cuts text to `max` characters at a word boundary, with an ellipsis. */
function clip(text: string, max: number): string {
  const chars = Array.from(text);
  if (chars.length <= max) {
    return text;
  }
  const head = chars.slice(0, max - 1).join('');
  const space = head.lastIndexOf(' ');
  return `${(space > max / 2 ? head.slice(0, space) : head).replace(/[\s,;:.]+$/u, '')}…`;
}

/** `Type/id` of a resource whose type and id are valid FHIR; undefined otherwise. */
export function validReference(resource: unknown): string | undefined {
  if (!isObject(resource)) {
    return undefined;
  }
  const { resourceType, id } = resource;
  return typeof resourceType === 'string' &&
    RESOURCE_TYPE.test(resourceType) &&
    typeof id === 'string' &&
    FHIR_ID.test(id)
    ? `${resourceType}/${id}`
    : undefined;
}

function items(value: unknown): unknown[] {
  if (Array.isArray(value)) {
    return value;
  }
  return value === undefined || value === null ? [] : [value];
}

function clean(value: unknown): string | undefined {
  if (typeof value !== 'string') {
    return undefined;
  }
  const text = value
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  if (text === '') {
    return undefined;
  }
  const chars = Array.from(text);
  return chars.length > MAX_TEXT ? `${chars.slice(0, MAX_TEXT).join('')}…` : text;
}

/** A CodeableConcept (or a Coding) in words: its text, else a coding's display, else a coding's code. */
function conceptText(concept: unknown): string | undefined {
  if (!isObject(concept)) {
    return undefined;
  }
  const codings = [concept, ...items(concept.coding)].filter(isObject);
  return (
    clean(concept.text) ??
    codings.map((c) => clean(c.display)).find((t) => t !== undefined) ??
    codings.map((c) => clean(c.code)).find((t) => t !== undefined)
  );
}

function numberText(value: unknown): string | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) {
    return String(value);
  }
  return undefined;
}

function quantityText(quantity: unknown): string | undefined {
  if (!isObject(quantity)) {
    return undefined;
  }
  const value = numberText(quantity.value);
  if (value === undefined) {
    return undefined;
  }
  const comparator = clean(quantity.comparator) ?? '';
  const unit = clean(quantity.unit) ?? clean(quantity.code);
  return `${comparator}${value}${unit ? ` ${unit}` : ''}`;
}

/** An Observation's value in words (the value[x] forms the data profile and FHIR R4 use). */
function observationValue(o: Json): string | undefined {
  if (o.valueCodeableConcept !== undefined) {
    return conceptText(o.valueCodeableConcept);
  }
  if (o.valueQuantity !== undefined) {
    return quantityText(o.valueQuantity);
  }
  if (typeof o.valueBoolean === 'boolean') {
    return o.valueBoolean ? 'yes' : 'no';
  }
  return clean(o.valueString) ?? numberText(o.valueInteger);
}

function medicationText(order: Json): string | undefined {
  const reference = isObject(order.medicationReference) ? order.medicationReference : undefined;
  return conceptText(order.medicationCodeableConcept) ?? clean(reference?.display);
}

function treatmentPhase(order: Json): string | undefined {
  const phase = items(order.extension).find((e) => isObject(e) && e.url === TREATMENT_PHASE_URL);
  return isObject(phase) ? conceptText(phase.valueCodeableConcept) : undefined;
}

function textOf(resource: Json, order: Json | undefined): string {
  switch (resource.resourceType) {
    case 'Observation': {
      // The result's name is cut first (its value is what the evidence is about).
      const what = clip(conceptText(resource.code) ?? 'result', MAX_NAME);
      return `${what}: ${observationValue(resource) ?? 'no value'}`;
    }
    case 'Condition':
      return conceptText(resource.code) ?? 'condition without a code';
    case 'Immunization':
      return conceptText(resource.vaccineCode) ?? 'immunization without a vaccine code';
    case 'CarePlan':
      return clean(resource.title) ?? 'care plan without a title';
    case 'Patient': {
      const birthDate = clean(resource.birthDate);
      return birthDate ? `date of birth ${birthDate}` : 'no date of birth';
    }
    case 'MedicationRequest': {
      const isThisOrder =
        resource === order || (order !== undefined && typeof order.id === 'string' && resource.id === order.id);
      if (isThisOrder) {
        const phase = treatmentPhase(resource);
        return phase ? `this order, treatment phase ${phase}` : 'this order';
      }
      const status = clean(resource.status);
      return `${medicationText(resource) ?? 'medication not named'}${status ? ` (${status} order)` : ''}`;
    }
    default:
      return typeof resource.resourceType === 'string' ? resource.resourceType : 'record';
  }
}

/**
 * Each resource of an expression's result in words, once per resource (same type and id), in order; results that
 * are not resources are left out.
 * @param resources - an evidence expression's result (copies made for evaluation).
 * @param order - the order being decided (its copy): evidence that is this order reads "this order".
 */
export function describeEvidence(resources: readonly unknown[], order?: Json): EvidenceItem[] {
  const out: EvidenceItem[] = [];
  const seen = new Set<string>();
  for (const resource of resources) {
    if (!isObject(resource) || typeof resource.resourceType !== 'string') {
      continue;
    }
    const ref = validReference(resource);
    if (ref !== undefined) {
      if (seen.has(ref)) {
        continue;
      }
      seen.add(ref);
    }
    const date = resource.resourceType === 'Patient' ? undefined : factDateOf(resource);
    out.push({
      ...(ref !== undefined ? { ref } : {}),
      text: textOf(resource, order),
      ...(date !== undefined ? { date } : {}),
    });
  }
  return out;
}
