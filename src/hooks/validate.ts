// Validation of a hook request (contract section 3): a 400 only for the listed envelope failures, lenient on
// everything else ("Observed on the wire" in the checklist). Validators are compiled once, at module load.
// https://cds-hooks.hl7.org/2.0/#http-request-1 and https://cds-hooks.org/hooks/order-sign/
import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import type { Bundle } from 'fhir/r4';
import { HttpError, type ErrorIssue } from '../errors';
import type { LoadedService } from '../policy/types';
import hookRequestSchema from './schemas/hook-request.schema.json';
import orderSignContextSchema from './schemas/order-sign-context.schema.json';
import type { FhirAuthorization, HookRequest, OrderSignContext } from './types';

const ajv = new Ajv({ allErrors: true, strict: true });
const validateEnvelope = ajv.compile(hookRequestSchema);
/** Context validators by hook; a hook without one has only its envelope checked. */
const contextValidators: ReadonlyMap<string, ValidateFunction> = new Map([
  ['order-sign', ajv.compile(orderSignContextSchema)],
]);

/** The fields whose absence or ill type is a 400, as dotted paths (contract section 3). */
const REQUIRED_FIELDS = [
  'hook',
  'hookInstance',
  'context',
  'context.patientId',
  'context.userId',
  'context.draftOrders',
];

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
function envelopeIssues(errors: ErrorObject[] | null | undefined, prefix: string): ErrorIssue[] {
  const issues = new Map<string, ErrorIssue>();
  for (const error of errors ?? []) {
    const path = errorPath(error, prefix);
    const field = [...REQUIRED_FIELDS].reverse().find((f) => path === f || path.startsWith(`${f}.`));
    if (!field || issues.has(field)) {
      continue;
    }
    const missing = error.keyword === 'required' && path === field;
    const expectation =
      field === 'context.draftOrders'
        ? 'a Bundle (an object with resourceType "Bundle")'
        : field === 'context'
          ? 'an object'
          : 'a non-empty string';
    issues.set(field, {
      code: 'invalid-request',
      expression: field,
      message: missing ? `${field} is required.` : `${field} must be ${expectation}.`,
    });
  }
  // In the order the fields are listed, whatever order ajv found them in.
  return REQUIRED_FIELDS.flatMap((f) => issues.get(f) ?? []);
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

/**
 * Validates a parsed request body for a service and returns the request as the pipeline sees it. The body is never
 * modified: tolerated oddities are dropped from new objects (ill-typed optional members are treated as absent, an
 * empty `fhirAuthorization.access_token` drops `fhirAuthorization` whole).
 * @param body - the parsed JSON body
 * @param service - the service called
 * @throws HttpError 400 `invalid-request`, `wrong-hook` or `fhir-server-required`
 */
export function parseHookRequest(body: unknown, service: LoadedService): HookRequest {
  if (!isObject(body)) {
    throw new HttpError({ code: 'invalid-request', message: 'The request body must be a JSON object.' });
  }
  if (!validateEnvelope(body)) {
    throw new HttpError(envelopeIssues(validateEnvelope.errors, ''));
  }
  const hook = body['hook'] as string;
  if (hook !== service.definition.hook) {
    throw new HttpError({
      code: 'wrong-hook',
      expression: 'hook',
      message: `This service answers the ${service.definition.hook} hook, not ${hook}.`,
    });
  }
  const rawContext = body['context'] as Record<string, unknown>;
  const validateContext = contextValidators.get(hook);
  if (validateContext && !validateContext(rawContext)) {
    throw new HttpError(envelopeIssues(validateContext.errors, 'context'));
  }

  const context: Record<string, unknown> = { ...rawContext };
  if (context['encounterId'] !== undefined && typeof context['encounterId'] !== 'string') {
    delete context['encounterId'];
  }
  if (isObject(context['draftOrders'])) {
    context['draftOrders'] = normalizeDraftOrders(context['draftOrders']);
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
  return request as HookRequest & { context: OrderSignContext };
}
