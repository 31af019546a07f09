// order-select and order-dispatch requests derived from an order-sign request (a fixture): the same patient, data and
// orders, shaped as each hook's context (contract section 1). Used by the end-to-end tests and the demo.
// Development only (src/dev is excluded from the production build).
import { createHash } from 'node:crypto';

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A UUID (version 4 layout) derived from `seed`: stable per derived request. */
function derivedUuid(seed: string): string {
  const h = createHash('sha256').update(seed).digest('hex');
  const variant = ((parseInt(h.slice(16, 17), 16) & 0x3) | 0x8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** The draft MedicationRequests of an order-sign request, in order. */
export function draftMedicationRequests(signRequest: Json): Json[] {
  const context = isObject(signRequest.context) ? signRequest.context : {};
  const draftOrders = isObject(context.draftOrders) ? context.draftOrders : {};
  const entries = Array.isArray(draftOrders.entry) ? draftOrders.entry : [];
  return entries
    .map((e: unknown) => (isObject(e) ? e.resource : undefined))
    .filter((r): r is Json => isObject(r) && r.resourceType === 'MedicationRequest');
}

/** `MedicationRequest/{id}` of every draft MedicationRequest with an id. */
export function draftReferences(signRequest: Json): string[] {
  return draftMedicationRequests(signRequest)
    .filter((r) => typeof r.id === 'string')
    .map((r) => `MedicationRequest/${r.id as string}`);
}

/**
 * The order-select request of the same moment: the draft orders as context, `selections` naming the orders chosen
 * (default: every draft order with an id).
 * @param signRequest - an order-sign request (not modified)
 * @param selections - the references selected
 */
export function toOrderSelect(signRequest: Json, selections: string[] = draftReferences(signRequest)): Json {
  const copy = structuredClone(signRequest);
  copy.hook = 'order-select';
  copy.hookInstance = derivedUuid(`order-select ${String(signRequest.hookInstance)} ${selections.join(' ')}`);
  copy.context = { ...(copy.context as Json), selections };
  return copy;
}

/** A draft order as it stands once signed, ready to dispatch: the same order, `status` active. */
export function asSigned(order: Json): Json {
  return { ...structuredClone(order), status: 'active' };
}

export interface DispatchOptions {
  /**
   * Where the EHR gives the dispatched orders: `prefetch`, as entries of the `medicationRequests` search (every order
   * on file, so the signed orders too), or `server` only (the service reads each one).
   */
  placement: 'prefetch' | 'server';
  /** The orders as dispatched (default: the draft MedicationRequests with an id, signed). */
  orders?: Json[];
  /** `context.performer` (default a pharmacy Organization). */
  performer?: string;
}

/**
 * The order-dispatch request of the same patient, once the orders are signed: `dispatchedOrders` naming them,
 * `performer`, no `draftOrders` and no `userId`.
 * @param signRequest - an order-sign request (not modified)
 * @param options - where the dispatched orders are, which, and the performer
 */
export function toOrderDispatch(signRequest: Json, options: DispatchOptions): Json {
  const orders =
    options.orders ??
    draftMedicationRequests(signRequest)
      .filter((r) => typeof r.id === 'string')
      .map(asSigned);
  const copy = structuredClone(signRequest);
  const context = isObject(copy.context) ? copy.context : {};
  copy.hook = 'order-dispatch';
  copy.hookInstance = derivedUuid(`order-dispatch ${String(signRequest.hookInstance)} ${options.placement}`);
  copy.context = {
    patientId: context.patientId,
    dispatchedOrders: orders.map((o) => `MedicationRequest/${String(o.id)}`),
    performer: options.performer ?? 'Organization/infusion-pharmacy',
  };
  if (options.placement === 'prefetch' && isObject(copy.prefetch) && isObject(copy.prefetch.medicationRequests)) {
    const search = copy.prefetch.medicationRequests;
    const entries: unknown[] = Array.isArray(search.entry) ? (search.entry as unknown[]) : [];
    const ids = new Set(orders.map((o) => o.id));
    const others = entries.filter((e: unknown) => !(isObject(e) && isObject(e.resource) && ids.has(e.resource.id)));
    search.entry = [...orders.map((resource) => ({ resource, search: { mode: 'match' } })), ...others];
    if (typeof search.total === 'number') {
      search.total =
        others.filter((e: unknown) => isObject(e) && isObject(e.search) && e.search.mode === 'match').length +
        orders.length;
    }
  }
  return copy;
}
