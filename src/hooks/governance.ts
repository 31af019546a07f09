// Which draft orders the service governs (contract section 2): MedicationRequests in `context.draftOrders` (any
// intent; any status but cancelled, entered-in-error and stopped) whose medication carries one of the service's drug
// codes, inline, in a contained Medication, in a Medication found in prefetch, or in one read per distinct unresolved
// `Medication/{id}` reference. The rule is evaluation's (src/policy/drug.ts: one status rule, one Medication
// resolver, the policy's drug code set as its CodeMatcher), so an order is governed exactly when evaluation would
// recognise its drug. Those reads are the only FHIR queries made before governance is known, and they are
// made for the orders under assessment only (contract section 1: on order-select the selected ones); the other draft
// orders are governed when their drug is known without a read, and count as context.
import type { Bundle, Medication, MedicationRequest } from 'fhir/r4';
import { HttpError, type ErrorIssue } from '../errors';
import type { FhirFailure, FhirSession } from '../fhir/client';
import { namesAnotherPatient } from '../fhir/patient-scope';
import type { CodeMatcher } from '../policy/code-sets';
import { isDrug, isNotAnOrder, orderMedication } from '../policy/drug';
import type { CallContext, GovernedOrder, HookRequest } from './types';

/** Medication reads in flight at once: parallel, but a request naming hundreds of Medications cannot flood the server. */
const READ_CONCURRENCY = 8;

/** `fn` over `items` with at most `limit` calls in flight; results in the order of `items`. */
export async function mapWithConcurrency<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next;
      next += 1;
      results[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

export interface GovernanceResult {
  /**
   * Governed orders, in `draftOrders` order, each a copy of the order as received: those under assessment and the
   * other draft orders whose drug is known without a read (context only).
   */
  orders: GovernedOrder[];
  /**
   * Medications that draft orders reference as `Medication/{id}`, keyed by that reference, whether found in
   * prefetch or read from the FHIR server: not copied (those from the prefetch are the request's own), so read only;
   * evaluation copies what it takes from them. Contained Medications stay in their order.
   */
  medications: Record<string, Medication>;
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The MedicationRequests of `draftOrders` that may be governed, with their index in `entry`. One whose subject names
 * another patient is not governed (contract section 2): it is counted and noted.
 */
function candidateOrders(request: HookRequest, ctx: CallContext): Array<{ index: number; order: MedicationRequest }> {
  const draftOrders: unknown = request.context?.draftOrders;
  const entries: unknown = isObject(draftOrders) ? draftOrders.entry : undefined;
  if (!Array.isArray(entries)) {
    return [];
  }
  const result: Array<{ index: number; order: MedicationRequest }> = [];
  entries.forEach((entry: unknown, index) => {
    const resource: unknown = isObject(entry) ? entry.resource : undefined;
    if (!isObject(resource) || resource.resourceType !== 'MedicationRequest') {
      return;
    }
    if (isNotAnOrder(resource)) {
      return;
    }
    if (namesAnotherPatient(resource, request.context.patientId)) {
      ctx.otherPatient = {
        resources: ctx.otherPatient?.resources ?? 0,
        draftOrders: (ctx.otherPatient?.draftOrders ?? 0) + 1,
      };
      ctx.notes.push(`draftOrders.entry[${index}] names another patient than context.patientId: not governed`);
      return;
    }
    result.push({ index, order: resource as unknown as MedicationRequest });
  });
  return result;
}

/** Every Medication with an id found in prefetch (as a value, or an entry of a Bundle value), by `Medication/{id}`. */
function prefetchedMedications(request: HookRequest): Map<string, Medication> {
  const found = new Map<string, Medication>();
  const add = (resource: unknown): void => {
    if (isObject(resource) && resource.resourceType === 'Medication' && typeof resource.id === 'string') {
      const key = `Medication/${resource.id}`;
      if (!found.has(key)) {
        found.set(key, resource as unknown as Medication);
      }
    }
  };
  const prefetch: unknown = request.prefetch;
  if (!isObject(prefetch)) {
    return found;
  }
  for (const value of Object.values(prefetch)) {
    add(value);
    if (isObject(value) && value.resourceType === 'Bundle') {
      const entries: unknown = (value as unknown as Bundle).entry;
      if (Array.isArray(entries)) {
        for (const entry of entries) {
          add(isObject(entry) ? entry.resource : undefined);
        }
      }
    }
  }
  return found;
}

function draftMedicationExpression(index: number): string {
  return `context.draftOrders.entry[${index}].resource.medicationReference`;
}

export interface GovernanceOptions {
  /** Indexes of the orders under assessment (default: every draft order): only theirs get Medication reads. */
  assessed?: ReadonlySet<number>;
  /** The expression naming draft order `index`'s medication in a 412 (default: its place in `draftOrders`). */
  expression?: (index: number) => string;
}

/**
 * Finds the governed orders of a call (contract section 2).
 *
 * @param service - the drug code set that makes an order governed (a policy's, or the union of the routed policies').
 * @param request - the request as assessed (never modified).
 * @param session - the FHIR session, undefined when there is no usable `fhirServer`.
 * @param ctx - the call's context: deadline, timings and notes.
 * @param options - which orders are under assessment, and how a 412 names their medication.
 * @throws HttpError 412 `medication-unavailable`, one issue per affected order, when a needed Medication cannot be
 *   read (no usable fhirServer, a failed read, a timeout).
 */
export async function findGovernedOrders(
  service: { readonly drug: CodeMatcher },
  request: HookRequest,
  session: FhirSession | undefined,
  ctx: CallContext,
  options: GovernanceOptions = {}
): Promise<GovernanceResult> {
  const assessed = (index: number): boolean => options.assessed === undefined || options.assessed.has(index);
  const medicationExpression = options.expression ?? draftMedicationExpression;
  const fhirServer = typeof request.fhirServer === 'string' ? request.fhirServer : undefined;
  const candidates = candidateOrders(request, ctx);
  const prefetched = prefetchedMedications(request);
  const lookup = (ref: string): Json | undefined => prefetched.get(ref) as unknown as Json | undefined;
  const medications = new Map<string, Medication>();
  const governed = new Set<number>();
  /** Orders whose Medication must be read, by reference. */
  const toRead = new Map<string, number[]>();
  /** Orders not under assessment whose Medication no prefetch holds: governed only if a read made anyway shows it. */
  const unread = new Map<string, number[]>();
  const unreadable: Array<{ index: number; message: string }> = [];

  for (const { index, order } of candidates) {
    const medication = orderMedication(order as unknown as Json, lookup, fhirServer);
    switch (medication.kind) {
      case 'inline':
      case 'contained':
        if (isDrug(medication, service.drug)) {
          governed.add(index);
        }
        break;
      case 'found':
        medications.set(medication.ref, medication.medication as unknown as Medication);
        if (isDrug(medication, service.drug)) {
          governed.add(index);
        }
        break;
      case 'readable': {
        const pending = assessed(index) ? toRead : unread;
        const waiting = pending.get(medication.ref);
        if (waiting) {
          waiting.push(index);
        } else {
          pending.set(medication.ref, [index]);
        }
        break;
      }
      case 'elsewhere':
        if (assessed(index)) {
          unreadable.push({ index, message: 'the medicationReference points to another server than fhirServer' });
        }
        break;
      case 'unresolved':
      case 'none':
        break;
    }
  }

  if (toRead.size > 0) {
    const started = Date.now();
    const refs = [...toRead.keys()];
    const noServer =
      typeof request.fhirServer === 'string' && request.fhirServer.trim() !== ''
        ? 'the fhirServer is not allowed by CDS_FHIR_ALLOWLIST'
        : 'the request has no fhirServer';
    const results = session
      ? await mapWithConcurrency(refs, READ_CONCURRENCY, (ref) => session.read(ref))
      : refs.map((): FhirFailure => ({ ok: false, reason: 'no-fhir-server', message: noServer }));
    if (session) {
      ctx.timings.medicationReadsMs = Date.now() - started;
    }
    refs.forEach((ref, i) => {
      const result = results[i];
      const indexes = toRead.get(ref) ?? [];
      if (!result || !result.ok) {
        const why = result && !result.ok ? result.message : 'no answer';
        for (const index of indexes) {
          unreadable.push({ index, message: `${ref} could not be read to tell whether the order is governed: ${why}` });
        }
        return;
      }
      if (result.value === null) {
        ctx.notes.push(`${ref} was not found on the FHIR server: its draft orders are not governed`);
        return;
      }
      const medication = result.value as Medication;
      medications.set(ref, medication);
      if (isDrug({ kind: 'found', ref, medication: medication as unknown as Json }, service.drug)) {
        [...indexes, ...(unread.get(ref) ?? [])].forEach((index) => governed.add(index));
      }
    });
  }

  if (unreadable.length > 0) {
    unreadable.sort((a, b) => a.index - b.index);
    const issues: ErrorIssue[] = unreadable.map(({ index, message }) => ({
      code: 'medication-unavailable',
      message,
      expression: medicationExpression(index),
    }));
    throw new HttpError(issues);
  }

  const orders: GovernedOrder[] = candidates
    .filter(({ index }) => governed.has(index))
    .map(({ index, order }) => ({ index, order: structuredClone(order) }));
  return { orders, medications: Object.fromEntries(medications) };
}

/**
 * The governed orders of `result` that `service`'s own drug codes govern: a routed call is governed by the union of
 * the policies' codes, then assessed by the chosen policy, which assesses only the orders its codes name. Pure:
 * the Medications are those governance found or read.
 *
 * @param result - what findGovernedOrders returned.
 * @param service - the chosen policy's drug code set.
 * @param fhirServer - the request's `fhirServer` (absolute Medication references under it are resolved).
 */
export function governedBy(
  result: GovernanceResult,
  service: { readonly drug: CodeMatcher },
  fhirServer: string | undefined
): GovernedOrder[] {
  const lookup = (ref: string): Json | undefined => result.medications[ref] as unknown as Json | undefined;
  return result.orders.filter(({ order }) =>
    isDrug(orderMedication(order as unknown as Json, lookup, fhirServer), service.drug)
  );
}
