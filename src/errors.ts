// One error type for the whole service (house style: Medplum's OperationOutcome errors, fastify's catalogue).
// Transport-free: hooks/, policy/ and fhir/ throw HttpError; only http/errors.ts turns it into a response.
import type { OperationOutcome, OperationOutcomeIssue } from 'fhir/r4';

export const ERROR_SYSTEM = 'http://example.org/fhir/CodeSystem/cds-error';

/**
 * The catalogue of our error codes (contract section 3): one kebab-case code per kind of failure,
 * with its HTTP status and FHIR IssueType. The README lists the same table.
 */
export const ERROR_CATALOGUE = {
  'unknown-service': { status: 404, issueType: 'not-found' },
  'not-found': { status: 404, issueType: 'not-found' },
  unauthorized: { status: 401, issueType: 'security' },
  'unsupported-media-type': { status: 415, issueType: 'not-supported' },
  'payload-too-large': { status: 413, issueType: 'too-costly' },
  'invalid-json': { status: 400, issueType: 'structure' },
  'invalid-request': { status: 400, issueType: 'required' },
  'wrong-hook': { status: 400, issueType: 'value' },
  'fhir-server-required': { status: 400, issueType: 'required' },
  'invalid-feedback': { status: 400, issueType: 'invalid' },
  'unknown-card': { status: 400, issueType: 'not-found' },
  'too-many-orders': { status: 400, issueType: 'too-costly' },
  'invalid-body-encoding': { status: 400, issueType: 'structure' },
  'payer-not-handled': { status: 400, issueType: 'not-supported' },
  'medication-unavailable': { status: 412, issueType: 'processing' },
  'order-unavailable': { status: 412, issueType: 'processing' },
  'prefetch-unavailable': { status: 412, issueType: 'processing' },
  'method-not-allowed': { status: 405, issueType: 'not-supported' },
  'deadline-exceeded': { status: 503, issueType: 'timeout' },
  'audit-unavailable': { status: 503, issueType: 'transient' },
  'not-ready': { status: 503, issueType: 'transient' },
  'metrics-unavailable': { status: 503, issueType: 'transient' },
  internal: { status: 500, issueType: 'exception' },
} as const satisfies Record<string, { status: number; issueType: OperationOutcomeIssue['code'] }>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

export interface ErrorIssue {
  code: ErrorCode;
  /** Human-readable text (OperationOutcome.issue.diagnostics). Never for 401. */
  message?: string;
  /** Dotted path with [n] indexes, e.g. `context.draftOrders.entry[0].resource.medicationReference`. */
  expression?: string;
}

/** An HTTP failure with one or more OperationOutcome issues (all issues share the first one's status). */
export class HttpError extends Error {
  readonly status: number;
  readonly issues: ErrorIssue[];

  constructor(issues: ErrorIssue | ErrorIssue[]) {
    const list = Array.isArray(issues) ? issues : [issues];
    const first = list[0];
    if (!first) {
      throw new Error('HttpError needs at least one issue');
    }
    super(first.message ?? first.code);
    this.name = 'HttpError';
    this.status = ERROR_CATALOGUE[first.code].status;
    this.issues = list;
  }

  /** The OperationOutcome body for this error. 401 carries no diagnostics and no expression. */
  toOperationOutcome(): OperationOutcome {
    return toOperationOutcome(this.issues);
  }
}

/** Builds the OperationOutcome of contract section 3 from issues. */
export function toOperationOutcome(issues: ErrorIssue[]): OperationOutcome {
  return {
    resourceType: 'OperationOutcome',
    issue: issues.map((i) => {
      const entry = ERROR_CATALOGUE[i.code];
      const issue: OperationOutcomeIssue = {
        severity: entry.status >= 500 ? 'fatal' : 'error',
        code: entry.issueType,
        details: { coding: [{ system: ERROR_SYSTEM, code: i.code }] },
      };
      if (i.code !== 'unauthorized') {
        if (i.message) {
          issue.diagnostics = i.message;
        }
        if (i.expression) {
          issue.expression = [i.expression];
        }
      }
      return issue;
    }),
  };
}

/**
 * The client of a call has gone (its connection closed before the answer): the work stops, nothing is sent, and the
 * call is audited as abandoned (contract section 2). The reason of `CallContext.signal`.
 */
export class CallAbandoned extends Error {
  constructor() {
    super('the client closed the connection before the answer');
    this.name = 'CallAbandoned';
  }
}
