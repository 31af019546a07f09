// Logging (contract section 8): pino JSON lines, one per service or feedback call, with identifiers, outcome counts,
// errors and per-stage timings. Never tokens, JWTs or clinical values: the call line is built from a fixed set of
// fields, and the redaction paths below catch the usual places a secret could slip into any other line.
import pino from 'pino';
import type { CallContext } from './hooks/types';

export const REDACT_PATHS = [
  'authorization',
  'headers.authorization',
  'req.headers.authorization',
  'req.headers.cookie',
  'request.headers.authorization',
  'token',
  'jwt',
  'access_token',
  '*.access_token',
  'fhirAuthorization',
  '*.fhirAuthorization',
];

export interface LoggerOptions {
  /** pino level name, or `silent`. */
  level: string;
  /** Where lines go (stdout when absent); tests pass a buffer. */
  destination?: pino.DestinationStream;
}

/**
 * Creates the service's logger.
 * @param options - level and optional destination
 */
export function createLogger(options: LoggerOptions): pino.Logger {
  const settings: pino.LoggerOptions = {
    level: options.level,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  };
  return options.destination ? pino(settings, options.destination) : pino(settings);
}

/** Counts only: nothing about the patient or the orders' content. */
export interface OutcomeSummary {
  cards: number;
  /** Orders that got a coverage decision (CallContext.governedOrders when set, else the coverage cards). */
  governedOrders: number;
  systemActions: number;
}

export interface CallLogEntry {
  kind: 'service' | 'feedback';
  serviceId: string;
  method: string;
  path: string;
  status: number;
  durationMs: number;
  /** Our error codes of a non-2xx answer. */
  errorCodes?: string[];
  ctx?: CallContext;
  outcome?: OutcomeSummary;
  /** Feedback calls: items received and newly stored. */
  feedback?: { received: number; stored: number };
  /** The client closed the connection before the answer: the work stopped and nothing was sent. */
  abandoned?: boolean;
  /** The verified token's issuer and id (never the token). */
  iss?: string;
  jti?: string;
}

/**
 * Counts cards, governed orders and system actions of a hook response.
 * @param body - a CdsResponse (anything else counts as empty)
 * @param ctx - the call's context, whose `governedOrders` wins when set
 */
export function summarizeResponse(body: unknown, ctx?: CallContext): OutcomeSummary {
  const cards = isObject(body) && Array.isArray(body['cards']) ? (body['cards'] as unknown[]) : [];
  const actions = isObject(body) && Array.isArray(body['systemActions']) ? body['systemActions'].length : 0;
  const coverageCards = cards.filter(
    (c) => isObject(c) && isObject(c['extension']) && c['extension']['coverage-assessment'] !== undefined
  ).length;
  return {
    cards: cards.length,
    governedOrders: ctx?.governedOrders ?? coverageCards,
    systemActions: actions,
  };
}

/**
 * Writes the one line of a service or feedback call.
 * @param logger - the service logger
 * @param entry - what to say
 */
export function logCall(logger: pino.Logger, entry: CallLogEntry): void {
  const line: Record<string, unknown> = {
    kind: entry.kind,
    serviceId: entry.serviceId,
    method: entry.method,
    path: entry.path,
    status: entry.status,
    durationMs: round(entry.durationMs),
  };
  if (entry.ctx?.hookInstance) {
    line['hookInstance'] = clip(entry.ctx.hookInstance);
  }
  if (entry.iss) {
    line['iss'] = clip(entry.iss);
  }
  if (entry.jti) {
    line['jti'] = clip(entry.jti);
  }
  if (entry.errorCodes?.length) {
    line['errorCodes'] = entry.errorCodes;
  }
  if (entry.abandoned) {
    line['abandoned'] = true;
  }
  if (entry.outcome) {
    line['outcome'] = entry.outcome;
  }
  if (entry.feedback) {
    line['feedback'] = entry.feedback;
  }
  if (entry.ctx) {
    line['timings'] = Object.fromEntries(Object.entries(entry.ctx.timings).map(([k, v]) => [k, round(v)]));
    if (entry.ctx.errors.length) {
      line['errors'] = entry.ctx.errors;
    }
    if (entry.ctx.notes.length) {
      line['notes'] = entry.ctx.notes;
    }
    if (entry.ctx.otherPatient) {
      // Counts only (contract section 2: resources naming another patient are dropped and counted).
      line['otherPatient'] = entry.ctx.otherPatient;
    }
  }
  const level = entry.status >= 500 ? 'error' : 'info';
  logger[level](line, entry.kind === 'service' ? 'service call' : 'feedback call');
}

/** Identifiers sent by clients are logged, but never at any length. */
export function clip(s: string, max = 200): string {
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
