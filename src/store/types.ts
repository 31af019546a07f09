// Shared state of the service (contract sections 1 and 8): the JWT replay cache, the audit trail, stored feedback and
// the uuids of the cards issued, the last coverage assertion per order and Coverage.
// Behind one small interface so that a cluster-wide implementation can replace the single-process one.

/** One card's feedback (https://cds-hooks.hl7.org/2.0/#feedback), as validated by http/feedback.ts. */
export interface FeedbackItem {
  card: string;
  outcome: 'accepted' | 'overridden';
  /** RFC 3339, as received. */
  outcomeTimestamp: string;
  acceptedSuggestions?: Array<{ id: string; [member: string]: unknown }>;
  overrideReason?: {
    reason?: { system?: string; code?: string; display?: string; [member: string]: unknown };
    userComment?: string;
    [member: string]: unknown;
  };
  [member: string]: unknown;
}

/** One audited call: the full request and response (access token redacted, no Authorization header). */
export interface AuditRecord {
  /** When the call was received (ISO 8601, UTC). */
  time: string;
  kind: 'service' | 'feedback';
  serviceId: string;
  hookInstance?: string;
  /** The verified JWT's issuer and id (never the JWT itself). */
  iss?: string;
  jti?: string;
  request: {
    method: string;
    path: string;
    headers: Record<string, string>;
    /** The parsed body; absent when it could not be read or parsed (see `bodyNote`). */
    body?: unknown;
    bodyNote?: string;
  };
  response: { status: number; body: unknown };
  durationMs: number;
  /** Service calls answered by a policy: the policy (its order-sign service id) and its version. */
  policyId?: string;
  policyVersion?: string;
  /** The coverage-assertion-ids the response carries, in system-action order. */
  assertionIds?: string[];
  /** One per order under assessment: its id, likelihood and best pathway. */
  decisions?: Array<{ orderId?: string; likelihood: string; pathway?: string }>;
  /** True when the client had gone before the answer was sent. */
  abandoned?: boolean;
}

/** Identifies one assertion: the same key and the same outcome keep one coverage-assertion-id. */
export interface AssertionKey {
  orderId: string;
  coverage: string;
  policy: string;
  policyVersion: string;
}

/** What an assertion says that decides whether its id is kept: `covered` and `pa-needed` ("" when absent). */
export interface AssertionOutcome {
  covered: string;
  paNeeded: string;
}

export interface SharedStore {
  /**
   * Records a JWT id until it expires.
   * @param iss - the token's issuer
   * @param jti - the token's id
   * @param expiresAt - epoch milliseconds after which the id may be forgotten
   * @returns false when the same issuer and id were already seen and have not expired (a replay)
   */
  rememberJti(iss: string, jti: string, expiresAt: number): Promise<boolean>;
  /**
   * Appends one audit record (a no-op when auditing is off). Every secret of `fhirAuthorization` is redacted here
   * too. Resolves once the record is durably written; rejects when it was not.
   */
  appendAudit(record: AuditRecord): Promise<void>;
  /**
   * Stores one feedback item idempotently, keyed by card, outcome and outcome timestamp.
   * @returns false when the same item was already stored
   */
  putFeedback(serviceId: string, item: FeedbackItem): Promise<boolean>;
  /**
   * The coverage-assertion-id of `key` (contract section 5), kept across calls, hooks, services and restarts for
   * CDS_AUDIT_RETENTION_DAYS whatever CDS_AUDIT says: the stored id when `outcome` equals the last stored outcome
   * of `key`; otherwise `fresh`, stored as the new id (the old one is never restored). Resolves once durable.
   */
  assertionFor(key: AssertionKey, outcome: AssertionOutcome, fresh: string): Promise<string>;
  /** Remembers the uuids of cards issued by a service (kept CDS_AUDIT_RETENTION_DAYS, whatever CDS_AUDIT says). */
  rememberCards(serviceId: string, uuids: string[]): Promise<void>;
  /** True when the service issued this card uuid (within the retention). */
  isIssuedCard(serviceId: string, uuid: string): Promise<boolean>;
  /** Resolves when the store accepts writes (used by GET /ready); rejects otherwise. */
  ready(): Promise<void>;
  /** Waits for pending writes and stops timers. */
  close(): Promise<void>;
}
