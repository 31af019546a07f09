// Validation of a hook request (contract section 3): a 400 only for the listed envelope failures, lenient on
// everything else ("Observed on the wire" in the checklist). Validators are compiled once, at module load.
// https://cds-hooks.hl7.org/2.0/#http-request-1 and the hooks' pages: https://cds-hooks.org/hooks/order-sign/,
// https://cds-hooks.org/hooks/order-select/, https://cds-hooks.org/hooks/order-dispatch/
import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import type { Bundle } from 'fhir/r4';
import { HttpError, type ErrorIssue } from '../errors';
import hookRequestSchema from './schemas/hook-request.schema.json';
import orderDispatchContextSchema from './schemas/order-dispatch-context.schema.json';
import orderSelectContextSchema from './schemas/order-select-context.schema.json';
import orderSignContextSchema from './schemas/order-sign-context.schema.json';
import type { FhirAuthorization, HookCall, HookName } from './types';

const ajv = new Ajv({ allErrors: true, strict: true });
const validateEnvelope = ajv.compile(hookRequestSchema);
/** The context validator of each hook served. */
const contextValidators: Readonly<Record<HookName, ValidateFunction>> = {
  'order-sign': ajv.compile(orderSignContextSchema),
  'order-select': ajv.compile(orderSelectContextSchema),
  'order-dispatch': ajv.compile(orderDispatchContextSchema),
};

/** The envelope fields whose absence or ill type is a 400 (contract section 3). */
const ENVELOPE_FIELDS = ['hook', 'hookInstance', 'context'];
/** The hook's required context (contract section 1), as dotted paths. */
const CONTEXT_FIELDS: Readonly<Record<HookName, readonly string[]>> = {
  'order-sign': ['context.patientId', 'context.userId', 'context.draftOrders'],
  'order-select': ['context.patientId', 'context.userId', 'context.draftOrders', 'context.selections'],
  'order-dispatch': ['context.patientId', 'context.dispatchedOrders', 'context.performer'],
};

/** Most `draftOrders` entries, and most `dispatchedOrders`, in one call: the default of `CDS_MAX_DRAFT_ORDERS`. */
export const DEFAULT_MAX_ORDERS = 100;

const EXPECTATIONS: Readonly<Record<string, string>> = {
  context: 'an object',
  'context.draftOrders': 'a Bundle (an object with resourceType "Bundle")',
  'context.selections': 'an array of strings',
  'context.dispatchedOrders': 'an array of strings',
};

/**
 * Turns an ajv error into a dotted path with `[n]` indexes (`/feedback/2/outcome` -> `feedback[2].outcome`), the
 * missing property included for `required` errors.
 * @param error - one ajv error
 * @param prefix - path of the validated value inside the request (`context`), or empty
 */
export function errorPath(error: ErrorObject, prefix = ''): string {
  const segments = error.instancePath
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (error.keyword === 'required') {
    const missing = (error.params as { missingProperty?: unknown }).missingProperty;
    if (typeof missing === 'string') {
      segments.push(missing);
    }
  }
  let path = prefix;
  for (const s of segments) {
    path = /^\d+$/.test(s) ? `${path}[${s}]` : path === '' ? s : `${path}.${s}`;
  }
  return path;
}

/** Maps ajv errors to one issue per required field, the deepest listed field that contains the error. */
function fieldIssues(
  errors: ErrorObject[] | null | undefined,
  prefix: string,
  fields: readonly string[]
): ErrorIssue[] {
  const issues = new Map<string, ErrorIssue>();
  for (const error of errors ?? []) {
    const path = errorPath(error, prefix);
    const field = [...fields].reverse().find((f) => path === f || path.startsWith(`${f}.`) || path.startsWith(`${f}[`));
    if (!field || issues.has(field)) {
      continue;
    }
    const missing = error.keyword === 'required' && path === field;
    issues.set(field, {
      code: 'invalid-request',
      expression: field,
      message: missing ? `${field} is required.` : `${field} must be ${EXPECTATIONS[field] ?? 'a non-empty string'}.`,
    });
  }
  // In the order the fields are listed, whatever order ajv found them in.
  return fields.flatMap((f) => issues.get(f) ?? []);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** `draftOrders` with a usable `entry`: missing or odd entries are treated as no orders, indexes kept. */
function normalizeDraftOrders(draftOrders: Record<string, unknown>): Bundle {
  const entry = draftOrders['entry'];
  if (entry === undefined) {
    return draftOrders as unknown as Bundle;
  }
  if (!Array.isArray(entry)) {
    const copy = { ...draftOrders };
    delete copy['entry'];
    return copy as unknown as Bundle;
  }
  if (entry.every(isObject)) {
    return draftOrders as unknown as Bundle;
  }
  return { ...draftOrders, entry: entry.map((e: unknown) => (isObject(e) ? e : {})) } as unknown as Bundle;
}

export interface ParseOptions {
  /**
   * Most `context.draftOrders` entries, and most `context.dispatchedOrders` (each may cost a read), in one call
   * (CDS_MAX_DRAFT_ORDERS, default DEFAULT_MAX_ORDERS); more is 400 `too-many-orders`.
   */
  maxOrders?: number;
}

/**
 * Validates a parsed request body for a service of `hook` and returns the request as the pipeline sees it. The
 * body is never modified: tolerated oddities are dropped from new objects (ill-typed optional members are treated as
 * absent, an empty `fhirAuthorization.access_token` drops `fhirAuthorization` whole).
 * @param body - the parsed JSON body
 * @param hook - the hook of the service called
 * @param options - limits
 * @throws HttpError 400 `invalid-request`, `wrong-hook`, `too-many-orders` or `fhir-server-required`
 */
export function parseHookRequest(body: unknown, hook: HookName, options: ParseOptions = {}): HookCall {
  if (!isObject(body)) {
    throw new HttpError({ code: 'invalid-request', message: 'The request body must be a JSON object.' });
  }
  if (!validateEnvelope(body)) {
    throw new HttpError(fieldIssues(validateEnvelope.errors, '', ENVELOPE_FIELDS));
  }
  const called = body['hook'] as string;
  if (called !== hook) {
    throw new HttpError({
      code: 'wrong-hook',
      expression: 'hook',
      message: `This service answers the ${hook} hook, not ${called}.`,
    });
  }
  const rawContext = body['context'] as Record<string, unknown>;
  const validateContext = contextValidators[hook];
  if (!validateContext(rawContext)) {
    throw new HttpError(fieldIssues(validateContext.errors, 'context', CONTEXT_FIELDS[hook]));
  }
  const maxOrders = options.maxOrders ?? DEFAULT_MAX_ORDERS;
  const draftEntries = isObject(rawContext['draftOrders']) ? rawContext['draftOrders']['entry'] : undefined;
  if (Array.isArray(draftEntries) && draftEntries.length > maxOrders) {
    // Contract section 2: refused before any read or evaluation, whatever the entries hold.
    throw new HttpError({
      code: 'too-many-orders',
      expression: 'context.draftOrders.entry',
      message: `context.draftOrders has ${draftEntries.length} entries; at most ${maxOrders} are accepted in one call (CDS_MAX_DRAFT_ORDERS).`,
    });
  }
  const dispatched = rawContext['dispatchedOrders'];
  if (hook === 'order-dispatch' && Array.isArray(dispatched) && dispatched.length > maxOrders) {
    throw new HttpError({
      code: 'too-many-orders',
      expression: 'context.dispatchedOrders',
      message: `context.dispatchedOrders has ${dispatched.length} entries; at most ${maxOrders} are assessed in one call.`,
    });
  }

  const context: Record<string, unknown> = { ...rawContext };
  if (context['encounterId'] !== undefined && typeof context['encounterId'] !== 'string') {
    delete context['encounterId'];
  }
  if (isObject(context['draftOrders']) && context['draftOrders']['resourceType'] === 'Bundle') {
    context['draftOrders'] = normalizeDraftOrders(context['draftOrders']);
  } else {
    // Not part of order-dispatch's context: ignored as absent when it is no Bundle (order-sign and order-select
    // have already refused that).
    delete context['draftOrders'];
  }
  for (const key of ['selections', 'dispatchedOrders', 'performer', 'userId'] as const) {
    // Optional elsewhere, validated where required: an ill-typed one is ignored as absent.
    const value = context[key];
    const usable =
      key === 'selections' || key === 'dispatchedOrders' ? isStringArray(value) : typeof value === 'string';
    if (value !== undefined && !usable) {
      delete context[key];
    }
  }

  // A new top-level object: the optional members are re-added only when usable.
  const request: Record<string, unknown> = { ...body };
  for (const k of ['fhirServer', 'fhirAuthorization', 'prefetch', 'extension']) {
    delete request[k];
  }
  request['context'] = context;
  const fhirServer = body['fhirServer'];
  if (typeof fhirServer === 'string' && fhirServer.trim() !== '') {
    request['fhirServer'] = fhirServer;
  }
  const auth = body['fhirAuthorization'];
  if (isObject(auth) && typeof auth['access_token'] === 'string' && auth['access_token'] !== '') {
    // https://cds-hooks.hl7.org/2.0/#passing-the-access-token: fhirServer is required with fhirAuthorization.
    if (request['fhirServer'] === undefined) {
      throw new HttpError({
        code: 'fhir-server-required',
        expression: 'fhirServer',
        message: 'fhirServer is required when fhirAuthorization carries an access token.',
      });
    }
    const kept: FhirAuthorization = { ...auth, access_token: auth['access_token'] };
    request['fhirAuthorization'] = kept;
  }
  if (isObject(body['prefetch'])) {
    request['prefetch'] = body['prefetch'];
  }
  if (isObject(body['extension'])) {
    request['extension'] = body['extension'];
  }
  return request as HookCall;
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((v) => typeof v === 'string');
}
