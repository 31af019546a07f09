// The data of one call, indexed once (contract sections 2 and 4; the p99 budget): every resource of the
// prefetch copied once (fhirpath annotates what it reads), results that never count removed, resources indexed by
// type and Observations by code, medications resolved, draft and history orders told apart, prior cycles counted.
import { namesAnotherPatient } from '../fhir/patient-scope';
import type { HookRequest, PrefetchData } from '../hooks/types';
import { normalizeCode, type CodeMatcher } from './code-sets';
import type { CompiledCollection } from './compiled';
import { isDrug, isNotAnOrder, orderMedication, parseMedicationReference } from './drug';
import { earlierOf, plannedStartOf } from './dates';

export type Json = Record<string, unknown>;

/** Statuses that never count, whatever the resource (contract section 4). */
const NEVER_COUNTS: ReadonlySet<string> = new Set(['entered-in-error', 'cancelled']);
/**
 * History orders that are one prior cycle each (contract section 4): a cycle started and interrupted (`stopped`)
 * still counts toward the maximum.
 */
const CYCLE_STATUSES: ReadonlySet<string> = new Set(['active', 'completed', 'stopped']);

export function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function asArray(value: unknown): unknown[] {
  if (Array.isArray(value)) {
    return value;
  }
  return value === undefined || value === null ? [] : [value];
}

/** How deep the copies evaluated by fhirpath go: FHIR resources nest far less; anything deeper is junk, ignored. */
export const EVALUATION_DEPTH = 64;

/**
 * A deep copy of JSON data (the request is never handed to fhirpath). Iterative, so hostile nesting cannot overflow
 * the stack (JSON.parse accepts far deeper documents than JSON.stringify or structuredClone can copy). Objects and
 * arrays deeper than `maxDepth` are left out (array slots become null), as are functions, symbols, `undefined` and
 * any object met a second time; everything JSON can hold (null included) is copied as it is.
 * @param value - the data to copy.
 * @param maxDepth - the deepest level kept (the value itself is level 1).
 */
export function copyJson<T>(value: T, maxDepth = Number.POSITIVE_INFINITY): T {
  if (typeof value !== 'object' || value === null) {
    return value;
  }
  const seen = new Set<object>([value]);
  const root: Record<string, unknown> | unknown[] = Array.isArray(value) ? [] : {};
  const stack: Array<[Record<string, unknown>, Record<string, unknown>, number]> = [
    [value as unknown as Record<string, unknown>, root as Record<string, unknown>, 1],
  ];
  while (stack.length > 0) {
    const [source, target, depth] = stack.pop() as [Record<string, unknown>, Record<string, unknown>, number];
    const isArray = Array.isArray(source);
    for (const key of Object.keys(source)) {
      const v = source[key];
      if (typeof v === 'object' && v !== null) {
        if (depth >= maxDepth || seen.has(v)) {
          if (isArray) {
            target[key] = null;
          }
          continue;
        }
        seen.add(v);
        const copy: Record<string, unknown> | unknown[] = Array.isArray(v) ? [] : {};
        target[key] = copy;
        stack.push([v as Record<string, unknown>, copy as Record<string, unknown>, depth + 1]);
      } else if (v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') {
        target[key] = v;
      } else if (isArray) {
        target[key] = null;
      }
    }
  }
  return root as T;
}

function codesOf(concept: unknown): Array<{ system: unknown; code: unknown }> {
  if (!isObject(concept)) {
    return [];
  }
  return asArray(concept.coding)
    .filter(isObject)
    .map((c) => ({ system: c.system, code: c.code }));
}

function neverCounts(resource: Json): boolean {
  if (typeof resource.status === 'string' && NEVER_COUNTS.has(resource.status)) {
    return true;
  }
  if (resource.resourceType === 'Condition') {
    return codesOf(resource.verificationStatus).some((c) => c.code === 'entered-in-error');
  }
  return false;
}

export type MedicationResolution = 'inline' | 'contained' | 'data' | 'unresolved' | 'none';

/**
 * Resolves an order's medication onto a copy: a contained or referenced Medication's `code` becomes the copy's
 * `medicationCodeableConcept` (and the reference is dropped), so that policies read `medication` alike however the
 * EHR wrote it.
 */
export function resolveMedication(order: Json, medications: ReadonlyMap<string, Json>): MedicationResolution {
  // The one resolver (src/policy/drug.ts), as governance uses it: evaluation reads no server, so whatever is not in
  // hand is unresolved.
  const medication = orderMedication(order, (ref) => medications.get(ref), undefined);
  switch (medication.kind) {
    case 'inline':
      return 'inline';
    case 'none':
      return 'none';
    case 'contained':
    case 'found': {
      const code = medication.medication.code;
      if (!isObject(code)) {
        return 'unresolved';
      }
      order.medicationCodeableConcept = copyJson(code, EVALUATION_DEPTH);
      delete order.medicationReference;
      return medication.kind === 'found' ? 'data' : 'contained';
    }
    case 'readable':
    case 'elsewhere':
    case 'unresolved':
      return 'unresolved';
  }
}

/** True when the order's (resolved) medication carries a code of `drug` (the rule governance applies). */
export function carriesCode(order: Json, drug: CodeMatcher): boolean {
  return isDrug(orderMedication(order, () => undefined, undefined), drug);
}

export interface CallIndex {
  /** The patient (a copy), when the data has one. */
  patient?: Json;
  /**
   * Copies by resource type, results that never count removed, one per `type/id`. A type's resources are copied when
   * it is first read (and once only: every reader of a resource shares one copy).
   */
  byType: ReadonlyMap<string, Json[]>;
  /** The copies of the resources of `type` that `keep` accepts (it sees the data as received: read only). */
  pick(type: string, keep: (original: Readonly<Json>) => boolean): Json[];
  /** Observations by `system|CODE` of each of their codings (the data as received: read only, never evaluated). */
  observationsByCode: ReadonlyMap<string, Json[]>;
  /** This call's draft MedicationRequests that are orders, medication resolved (copies). */
  draftOrders: Json[];
  /** Active MedicationRequests on file that are not draft orders, medication resolved (copies). */
  activeOrders: Json[];
  /**
   * The prior blinatumomab cycles (copies), in data order: history orders planned before `priorCyclesBefore` (or
   * undated); one planned on or after it is not a prior cycle (contract section 4).
   */
  priorCycles: Json[];
  /** The planned start of the first prior cycle, when one is dated. */
  firstPriorStart?: string;
  /** Reference of the first active Coverage. */
  coverage?: string;
  /**
   * Medications found in the data and the draft orders, by `Medication/{id}`: as received (read only; resolving an
   * order's medication copies the code it takes).
   */
  medications: ReadonlyMap<string, Json>;
}

/** Resources by type, copied on first read of each type (`get`), one copy per resource shared by every reader. */
class LazyCopies extends Map<string, Json[]> {
  constructor(
    private readonly originals: ReadonlyMap<string, Json[]>,
    private readonly copyOf: (original: Json) => Json
  ) {
    super();
  }

  override get(type: string): Json[] | undefined {
    let copies = super.get(type);
    if (!copies) {
      const originals = this.originals.get(type);
      if (!originals) {
        return undefined;
      }
      copies = originals.map(this.copyOf);
      super.set(type, copies);
    }
    return copies;
  }

  override has(type: string): boolean {
    return this.originals.has(type);
  }
}

function addResource(found: Json[], value: unknown): void {
  if (!isObject(value) || typeof value.resourceType !== 'string') {
    return;
  }
  if (value.resourceType === 'Bundle') {
    for (const entry of asArray(value.entry)) {
      if (isObject(entry)) {
        addResource(found, entry.resource);
      }
    }
    return;
  }
  found.push(value);
}

/**
 * Indexes the data of one call.
 * @param request - the validated request (read only: its draft orders are copied).
 * @param data - every declared prefetch key after gathering.
 * @param drug - the codes that make an order a cycle of the governed drug.
 * @param notes - where to say that a history order's medication could not be resolved.
 * @param readMedications - Medications already read for the draft orders (governance, contract section 2), keyed
 *   `Medication/{id}`: a draft order naming one that the data lacks is resolved with it (a co-ordered TKI or
 *   chemotherapy written by reference still counts in the regimen). The data's own Medications win.
 * @param priorCyclesBefore - the planned start prior cycles must come before (the earliest planned start of the
 *   call's governed orders, so that they share one cycle number); absent: every dated history order counts.
 */
export function indexCall(
  request: HookRequest,
  data: PrefetchData,
  drug: CodeMatcher,
  notes: string[],
  readMedications?: Readonly<Record<string, unknown>>,
  priorCyclesBefore?: string
): CallIndex {
  const originals: Json[] = [];
  for (const value of Object.values(isObject(data) ? data : {})) {
    addResource(originals, value);
  }
  const seen = new Set<string>();
  const originalsByType = new Map<string, Json[]>();
  const observationsByCode = new Map<string, Json[]>();
  // Only what is read is copied (the copies are what fhirpath sees and annotates; the data is never modified).
  const copies = new Map<Json, Json>();
  const copyOf = (original: Json): Json => {
    let copy = copies.get(original);
    if (!copy) {
      copy = copyJson(original, EVALUATION_DEPTH);
      copies.set(original, copy);
    }
    return copy;
  };
  const byType = new LazyCopies(originalsByType, copyOf);
  const pick = (type: string, keep: (original: Readonly<Json>) => boolean): Json[] =>
    (originalsByType.get(type) ?? []).filter((r) => keep(r)).map(copyOf);
  for (const original of originals) {
    const type = original.resourceType as string;
    if (typeof original.id === 'string') {
      const key = `${type}/${original.id}`;
      if (seen.has(key)) {
        continue;
      }
      seen.add(key);
    }
    if (neverCounts(original)) {
      continue;
    }
    const resource = original;
    const ofType = originalsByType.get(type);
    if (ofType) {
      ofType.push(resource);
    } else {
      originalsByType.set(type, [resource]);
    }
    if (type === 'Observation') {
      const keys = new Set(
        codesOf(resource.code)
          .filter((c) => typeof c.code === 'string')
          .map((c) => `${typeof c.system === 'string' ? c.system.trim() : ''}|${normalizeCode(c.code as string)}`)
      );
      for (const key of keys) {
        const list = observationsByCode.get(key);
        if (list) {
          list.push(resource);
        } else {
          observationsByCode.set(key, [resource]);
        }
      }
    }
  }

  const medications = new Map<string, Json>();
  for (const m of originalsByType.get('Medication') ?? []) {
    if (typeof m.id === 'string') {
      medications.set(`Medication/${m.id}`, m);
    }
  }
  for (const [key, m] of Object.entries(isObject(readMedications) ? readMedications : {})) {
    const parsed = parseMedicationReference(key);
    const mKey = parsed.kind === 'resource' ? parsed.ref : undefined;
    if (mKey && !medications.has(mKey) && isObject(m) && m.resourceType === 'Medication') {
      medications.set(mKey, m);
    }
  }

  const patientValue = isObject(data) ? data.patient : undefined;
  const patient =
    isObject(patientValue) && patientValue.resourceType === 'Patient'
      ? copyJson(patientValue as unknown as Json, EVALUATION_DEPTH)
      : byType.get('Patient')?.[0];

  // Draft orders: every MedicationRequest of draftOrders; those cancelled, entered in error or stopped are not orders,
  // nor those naming another patient (contract section 2: governance counted them; they are not this regimen's).
  const draftOrders: Json[] = [];
  const draftIds = new Set<string>();
  const draftBundle: unknown = isObject(request.context) ? request.context.draftOrders : undefined;
  const patientId: unknown = isObject(request.context) ? request.context.patientId : undefined;
  for (const entry of asArray(isObject(draftBundle) ? draftBundle.entry : undefined)) {
    const resource: unknown = isObject(entry) ? entry.resource : undefined;
    if (!isObject(resource) || resource.resourceType !== 'MedicationRequest') {
      continue;
    }
    if (typeof resource.id === 'string') {
      draftIds.add(resource.id);
    }
    if (isNotAnOrder(resource)) {
      continue;
    }
    if (typeof patientId === 'string' && namesAnotherPatient(resource, patientId)) {
      continue;
    }
    const copy = copyJson(resource, EVALUATION_DEPTH);
    resolveMedication(copy, medications);
    draftOrders.push(copy);
  }

  // History: MedicationRequests on file that are not this call's draft orders (same id = the same order).
  const activeOrders: Json[] = [];
  const priorCycles: Json[] = [];
  let firstPriorStart: string | undefined;
  for (const order of byType.get('MedicationRequest') ?? []) {
    if (typeof order.id === 'string' && draftIds.has(order.id)) {
      continue;
    }
    const status = typeof order.status === 'string' ? order.status : '';
    const resolution = resolveMedication(order, medications);
    if (status === 'active') {
      activeOrders.push(order);
    }
    if (!CYCLE_STATUSES.has(status)) {
      continue;
    }
    if (resolution === 'unresolved' || resolution === 'none') {
      const ref = typeof order.id === 'string' ? `MedicationRequest/${order.id}` : 'a MedicationRequest without id';
      notes.push(`${ref} (${status}): its medication could not be resolved, so it is not counted as a prior cycle`);
      continue;
    }
    if (carriesCode(order, drug)) {
      // Planned on or after this call's orders: a later cycle on file, not a prior one. An undated order on file
      // cannot be placed after them, so it counts (toward the maximum) without placing cycle 1.
      const start = plannedStartOf(order);
      if (start !== undefined && priorCyclesBefore !== undefined && start >= priorCyclesBefore) {
        continue;
      }
      priorCycles.push(order);
      firstPriorStart = earlierOf(firstPriorStart, start);
    }
  }

  const coverageResource = (originalsByType.get('Coverage') ?? []).find(
    (c) => c.status === 'active' && typeof c.id === 'string'
  );
  return {
    ...(patient ? { patient } : {}),
    byType,
    pick,
    observationsByCode,
    draftOrders,
    activeOrders,
    priorCycles,
    ...(firstPriorStart !== undefined ? { firstPriorStart } : {}),
    ...(coverageResource ? { coverage: `Coverage/${coverageResource.id as string}` } : {}),
    medications,
  };
}

/** The resources of one declared collection, in data order. */
export function collectionOf(index: CallIndex, collection: CompiledCollection): Json[] {
  if (collection.source === 'regimen') {
    return [...index.draftOrders, ...index.activeOrders];
  }
  const codes = collection.codes;
  if (!codes) {
    return index.byType.get(collection.resourceType) ?? [];
  }
  if (collection.resourceType === 'Observation' && codes.exactOnly) {
    const picked = new Set<Json>();
    for (const key of codes.keys) {
      for (const o of index.observationsByCode.get(key) ?? []) {
        picked.add(o);
      }
    }
    return index.pick('Observation', (o) => picked.has(o));
  }
  return index.pick(collection.resourceType, (r) => codes.matchesConcept(r.code));
}
