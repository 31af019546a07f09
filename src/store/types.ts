// Shared state of the service (contract section 8): the JWT replay cache, the audit trail and stored feedback.
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
  /** Appends one audit record (a no-op when auditing is off). The access token is redacted here too. */
  appendAudit(record: AuditRecord): Promise<void>;
  /**
   * Stores one feedback item idempotently, keyed by card, outcome and outcome timestamp.
   * @returns false when the same item was already stored
   */
  putFeedback(serviceId: string, item: FeedbackItem): Promise<boolean>;
  /** Waits for pending writes and stops timers. */
  close(): Promise<void>;
}
