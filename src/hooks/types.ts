// CDS Hooks 2.0 protocol types (https://cds-hooks.hl7.org/2.0/). Knows nothing about payers.
import type { Bundle, Coding, FhirResource, MedicationRequest } from 'fhir/r4';

/** `fhirAuthorization` as received; only `access_token` is relied upon (contract section 3). */
export interface FhirAuthorization {
  access_token: string;
  token_type?: string;
  expires_in?: number;
  scope?: string;
  subject?: string;
  patient?: string;
}

/** The hooks served (contract section 1): CRD's primary order-sign and order-dispatch, and secondary order-select. */
export type HookName = 'order-sign' | 'order-select' | 'order-dispatch';
export const HOOKS: readonly HookName[] = ['order-sign', 'order-select', 'order-dispatch'];

/**
 * The context of a call as received, for any hook served. Required per hook (contract section 1, checked by
 * hooks/validate.ts): order-sign `patientId`, `userId`, `draftOrders`; order-select those and `selections`;
 * order-dispatch `patientId`, `dispatchedOrders`, `performer`.
 */
export interface HookContext {
  patientId: string;
  userId?: string;
  encounterId?: string;
  draftOrders?: Bundle;
  /** order-select: references (`MedicationRequest/{id}`) of the orders the user selected. */
  selections?: string[];
  /** order-dispatch: references of the orders being dispatched. */
  dispatchedOrders?: string[];
  /** order-dispatch: who will fulfil them. */
  performer?: string;
  [key: string]: unknown;
}

/**
 * The context as the orders are assessed: the draft orders of the call (on order-dispatch, the dispatched orders as
 * read), every hook alike.
 */
export interface OrderSignContext {
  patientId: string;
  /** Present on order-sign and order-select (required there); order-dispatch has none. */
  userId?: string;
  encounterId?: string;
  draftOrders: Bundle;
  [key: string]: unknown;
}

/** The members of a hook request shared by every hook. */
export interface HookEnvelope {
  hook: string;
  hookInstance: string;
  fhirServer?: string;
  /** Present only when `access_token` is non-empty (an empty one is ignored whole). */
  fhirAuthorization?: FhirAuthorization;
  prefetch?: Record<string, unknown>;
  extension?: Record<string, unknown>;
  [key: string]: unknown;
}

/**
 * A validated request as received (hooks/validate.ts), for any hook. The object is built from the parsed body, which
 * is never modified (house style: do not mutate the incoming request); derived data lives elsewhere.
 */
export interface HookCall extends HookEnvelope {
  context: HookContext;
}

/**
 * A request as its orders are assessed (governance, gathering, evaluation, cards): on order-sign and order-select
 * the validated request itself; on order-dispatch a new object whose `context.draftOrders` holds the dispatched
 * orders as read (hooks/orders.ts). Never modified.
 */
export interface HookRequest extends HookEnvelope {
  context: OrderSignContext;
}

/** Prefetch after gathering: every declared key is present; a search is one Bundle with every page's entries. */
export type PrefetchData = Record<string, FhirResource | null>;

export interface CardSource {
  label: string;
  url?: string;
  topic?: Coding;
}

export interface Action {
  type: 'create' | 'update' | 'delete';
  description: string;
  resource?: FhirResource;
  resourceId?: string;
}

export interface Suggestion {
  label: string;
  uuid: string;
  isRecommended?: boolean;
  actions?: Action[];
}

export interface Link {
  label: string;
  url: string;
  type: 'absolute' | 'smart';
}

export interface Card {
  uuid: string;
  summary: string;
  detail?: string;
  indicator: 'info' | 'warning' | 'critical';
  source: CardSource;
  suggestions?: Suggestion[];
  selectionBehavior?: 'at-most-one' | 'any';
  overrideReasons?: Coding[];
  links?: Link[];
  extension?: Record<string, unknown>;
}

export interface CdsResponse {
  cards: Card[];
  systemActions?: Action[];
}

/** One entry of `GET /cds-services`: only these keys are ever shown (no engine-internal data). */
export interface ServiceDefinition {
  id: string;
  hook: HookName;
  title: string;
  description: string;
  prefetch: Record<string, string>;
  usageRequirements: string;
  extension?: Record<string, unknown>;
}

/** A draft order the service governs (contract section 2), with where it sits in `draftOrders`. */
export interface GovernedOrder {
  /** Index in `context.draftOrders.entry`. */
  index: number;
  order: MedicationRequest;
}

/** Per-call bookkeeping: identifiers, per-stage timings and errors for the one log line (contract section 8). */
export interface CallContext {
  serviceId: string;
  hookInstance?: string;
  /** When the call was received; `receivedDate` is its UTC calendar date (YYYY-MM-DD). */
  receivedAt: Date;
  receivedDate: string;
  /** Epoch milliseconds by which the whole call must be answered (CDS_DEADLINE_MS). */
  deadline: number;
  /** Aborted (with a `CallAbandoned` reason) when the client has gone; absent when nothing watches the connection. */
  signal?: AbortSignal;
  /** Stage name -> milliseconds. */
  timings: Record<string, number>;
  /** Errors and notes worth a log field (criterion errors, unresolved history medications); no clinical values. */
  errors: Array<{ where: string; message: string }>;
  notes: string[];
  /** How many draft orders were governed (set by the pipeline; the log line counts coverage cards without it). */
  governedOrders?: number;
  /**
   * Set by the pipeline when a policy decided: its id and one likelihood per order under assessment (metrics; no
   * clinical value).
   */
  decided?: { policy: string; likelihoods: string[] };
  /**
   * What was dropped because it names another patient than `context.patientId` (contract section 2): prefetched or
   * fetched resources, and draft orders (not governed). Absent when nothing was.
   */
  otherPatient?: { resources: number; draftOrders: number };
  /**
   * What a policy answered (set by the pipeline once the response is built), for the audit record: the policy (its
   * order-sign service id) and version, the coverage-assertion-ids sent, and one decision per order under assessment.
   */
  answered?: {
    policyId: string;
    policyVersion: string;
    assertionIds: string[];
    decisions: Array<{ orderId?: string; likelihood: string; pathway?: string }>;
  };
}
