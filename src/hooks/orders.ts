// The orders under assessment of each hook (contract section 1): on order-sign every draft order; on order-select
// the draft orders named in `context.selections`; on order-dispatch the orders named in `context.dispatchedOrders`,
// read from prefetch (a key holding one, or a Bundle entry with its id) or with one read each from `fhirServer`.
// Those reads are made before governance, like the Medication reads of section 2; an order that cannot be read
// answers 412 `order-unavailable` naming its reference. Every draft order of the call still counts as context.
import type { Bundle, FhirResource, MedicationRequest } from 'fhir/r4';
import { HttpError, type ErrorIssue } from '../errors';
import type { FhirResult, FhirSession } from '../fhir/client';
import { mapWithConcurrency } from './governance';
import type { CallContext, HookCall, HookName, HookRequest } from './types';

/** Order reads in flight at once (as for Medication reads). */
const READ_CONCURRENCY = 8;

/** What the pipeline assesses: the request as assessed, and which of its draft orders are under assessment. */
export interface AssessedOrders {
  /** On order-sign and order-select the call itself; on order-dispatch its dispatched orders as `draftOrders`. */
  request: HookRequest;
  /** Indexes in `request.context.draftOrders.entry` of the orders under assessment. */
  assessed: ReadonlySet<number>;
  /** How a 412 names the medication of draft order `index` (a dispatched order: its reference in the context). */
  medicationExpression: (index: number) => string;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function entriesOf(bundle: unknown): unknown[] {
  const entry: unknown = isObject(bundle) ? bundle.entry : undefined;
  return Array.isArray(entry) ? entry : [];
}

/**
 * The id a reference names when it points at a MedicationRequest: `MedicationRequest/{id}` (optionally versioned),
 * or the same absolute under the request's `fhirServer`. `elsewhere` for an absolute reference to another server;
 * undefined when it names no MedicationRequest.
 */
export function medicationRequestId(
  reference: string,
  fhirServer: string | undefined
): { id: string } | { elsewhere: true } | undefined {
  const match =
    /^(?:(https?:\/\/.+)\/)?MedicationRequest\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[A-Za-z0-9\-.]{1,64})?$/.exec(
      reference
    );
  if (!match) {
    return undefined;
  }
  const [, base, id] = match as unknown as [string, string | undefined, string];
  if (base === undefined) {
    return { id };
  }
  const own = typeof fhirServer === 'string' ? fhirServer.replace(/\/+$/, '') : undefined;
  return base === own ? { id } : { elsewhere: true };
}

/** order-select: the indexes of the draft MedicationRequests that `selections` names. */
function selectedIndexes(call: HookCall, draftOrders: Bundle): Set<number> {
  const selected = new Set<string>();
  for (const selection of call.context.selections ?? []) {
    const named = medicationRequestId(selection, call.fhirServer);
    if (named && 'id' in named) {
      selected.add(named.id);
    }
  }
  const indexes = new Set<number>();
  entriesOf(draftOrders).forEach((entry, index) => {
    const resource: unknown = isObject(entry) ? entry.resource : undefined;
    if (
      isObject(resource) &&
      resource.resourceType === 'MedicationRequest' &&
      typeof resource.id === 'string' &&
      selected.has(resource.id)
    ) {
      indexes.add(index);
    }
  });
  return indexes;
}

/** Every MedicationRequest with an id found in prefetch (a value, or an entry of a Bundle value), by id. */
function prefetchedOrders(prefetch: unknown): Map<string, MedicationRequest> {
  const found = new Map<string, MedicationRequest>();
  const add = (resource: unknown): void => {
    if (isObject(resource) && resource.resourceType === 'MedicationRequest' && typeof resource.id === 'string') {
      if (!found.has(resource.id)) {
        found.set(resource.id, resource as unknown as MedicationRequest);
      }
    }
  };
  if (!isObject(prefetch)) {
    return found;
  }
  for (const value of Object.values(prefetch)) {
    add(value);
    if (isObject(value) && value.resourceType === 'Bundle') {
      for (const entry of entriesOf(value)) {
        add(isObject(entry) ? entry.resource : undefined);
      }
    }
  }
  return found;
}

/** order-dispatch: the dispatched MedicationRequests, each once, in the order the context names them. */
async function readDispatchedOrders(
  call: HookCall,
  session: FhirSession | undefined,
  ctx: CallContext
): Promise<{ orders: MedicationRequest[]; positions: number[] }> {
  const references = call.context.dispatchedOrders ?? [];
  const prefetched = prefetchedOrders(call.prefetch);
  /** Each id once, at the position of its first reference. */
  const wanted: Array<{ id: string; position: number }> = [];
  const seen = new Set<string>();
  const unreadable: ErrorIssue[] = [];
  references.forEach((reference, position) => {
    const named = medicationRequestId(reference, call.fhirServer);
    if (named === undefined) {
      // A ServiceRequest, a DeviceRequest...: no blinatumomab order, not ours to read.
      return;
    }
    if ('elsewhere' in named) {
      unreadable.push({
        code: 'order-unavailable',
        expression: `context.dispatchedOrders[${position}]`,
        message: 'the dispatched order is on another server than fhirServer and is not in prefetch',
      });
      return;
    }
    if (!seen.has(named.id)) {
      seen.add(named.id);
      wanted.push({ id: named.id, position });
    }
  });

  const toRead = wanted.filter(({ id }) => !prefetched.has(id));
  const noServer =
    typeof call.fhirServer === 'string' && call.fhirServer.trim() !== ''
      ? 'the fhirServer is not allowed by CDS_FHIR_ALLOWLIST'
      : 'the request has no fhirServer';
  const started = Date.now();
  const results: Array<FhirResult<FhirResource | null>> = session
    ? await mapWithConcurrency(toRead, READ_CONCURRENCY, ({ id }) => session.read(`MedicationRequest/${id}`))
    : toRead.map(() => ({ ok: false, reason: 'no-fhir-server', message: noServer }));
  if (session && toRead.length > 0) {
    ctx.timings.orderReadsMs = Date.now() - started;
  }
  const read = new Map<string, MedicationRequest>();
  toRead.forEach(({ id, position }, i) => {
    const result = results[i];
    const expression = `context.dispatchedOrders[${position}]`;
    if (!result || !result.ok) {
      const why = result && !result.ok ? result.message : 'no answer';
      unreadable.push({
        code: 'order-unavailable',
        expression,
        message: `MedicationRequest/${id} could not be read: ${why}`,
      });
      return;
    }
    const value = result.value;
    if (value === null) {
      unreadable.push({
        code: 'order-unavailable',
        expression,
        message: `MedicationRequest/${id} was not found on the FHIR server`,
      });
      return;
    }
    if (value.resourceType !== 'MedicationRequest' || value.id !== id) {
      unreadable.push({
        code: 'order-unavailable',
        expression,
        message: `reading MedicationRequest/${id} returned another resource`,
      });
      return;
    }
    read.set(id, value);
  });

  if (unreadable.length > 0) {
    const position = (issue: ErrorIssue): number => Number(/\[(\d+)\]$/.exec(issue.expression ?? '')?.[1] ?? 0);
    throw new HttpError(unreadable.sort((a, b) => position(a) - position(b)));
  }
  const orders: MedicationRequest[] = [];
  const positions: number[] = [];
  for (const { id, position } of wanted) {
    const order = prefetched.get(id) ?? read.get(id);
    if (order) {
      orders.push(order);
      positions.push(position);
    }
  }
  return { orders, positions };
}

/**
 * The orders under assessment of a call (contract section 1), and the request as they are assessed.
 *
 * @param hook - the hook of the service called.
 * @param call - the validated request (never modified).
 * @param session - the FHIR session, undefined when there is no usable `fhirServer`.
 * @param ctx - the call's context: timings.
 * @throws HttpError 412 `order-unavailable` (order-dispatch), one issue per dispatched order that cannot be read:
 *   not in prefetch, and no usable fhirServer, a failed read, a timeout, or not found.
 */
export async function ordersUnderAssessment(
  hook: HookName,
  call: HookCall,
  session: FhirSession | undefined,
  ctx: CallContext
): Promise<AssessedOrders> {
  const draftExpression = (index: number): string => `context.draftOrders.entry[${index}].resource.medicationReference`;
  if (hook === 'order-dispatch') {
    const { orders, positions } = await readDispatchedOrders(call, session, ctx);
    const draftOrders: Bundle = {
      resourceType: 'Bundle',
      type: 'collection',
      ...(orders.length > 0 ? { entry: orders.map((resource) => ({ resource })) } : {}),
    };
    const request: HookRequest = { ...call, context: { ...call.context, draftOrders } };
    return {
      request,
      assessed: new Set(orders.map((_, i) => i)),
      medicationExpression: (index) => `context.dispatchedOrders[${positions[index] ?? index}]`,
    };
  }
  const draftOrders: Bundle = call.context.draftOrders ?? { resourceType: 'Bundle', type: 'collection' };
  const request: HookRequest = call.context.draftOrders
    ? (call as HookRequest)
    : { ...call, context: { ...call.context, draftOrders } };
  const assessed =
    hook === 'order-select' ? selectedIndexes(call, draftOrders) : new Set(entriesOf(draftOrders).map((_, i) => i));
  return { request, assessed, medicationExpression: draftExpression };
}
