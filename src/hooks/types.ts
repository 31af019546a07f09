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

export interface OrderSignContext {
  patientId: string;
  userId: string;
  encounterId?: string;
  draftOrders: Bundle;
  [key: string]: unknown;
}

/**
 * A validated order-sign request. The object is the parsed request body and is never modified
 * (house style: do not mutate the incoming request); derived data lives elsewhere.
 */
export interface HookRequest {
  hook: string;
  hookInstance: string;
  fhirServer?: string;
  /** Present only when `access_token` is non-empty (an empty one is ignored whole). */
  fhirAuthorization?: FhirAuthorization;
  context: OrderSignContext;
  prefetch?: Record<string, unknown>;
  extension?: Record<string, unknown>;
  [key: string]: unknown;
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
  hook: 'order-sign';
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
   * What was dropped because it names another patient than `context.patientId` (contract section 2): prefetched or
   * fetched resources, and draft orders (not governed). Absent when nothing was.
   */
  otherPatient?: { resources: number; draftOrders: number };
}
