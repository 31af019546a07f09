// The only writer of error bodies (house style: one error type, one handler, no stack traces in responses).
// Every non-2xx body is a FHIR OperationOutcome built by src/errors.ts (contract section 3).
import type { Response } from 'express';
import { ERROR_CATALOGUE, HttpError, type ErrorIssue } from '../errors';

export const FHIR_JSON = 'application/fhir+json; charset=utf-8';

/**
 * Maps anything thrown to an HttpError. Errors raised by express and body-parser carry a `type` or a status we
 * recognise; everything else is unexpected and becomes a 500 `internal` (the caller logs it).
 * @param err - what was thrown or passed to `next`
 */
export function toHttpError(err: unknown): { error: HttpError; unexpected: boolean } {
  if (err instanceof HttpError) {
    return { error: err, unexpected: false };
  }
  const e = (err ?? {}) as { type?: unknown; status?: unknown; statusCode?: unknown; name?: unknown };
  const status = typeof e.status === 'number' ? e.status : typeof e.statusCode === 'number' ? e.statusCode : 0;
  switch (e.type) {
    case 'entity.too.large':
      return known({ code: 'payload-too-large', message: 'The request body is larger than the service accepts.' });
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return known({ code: 'unsupported-media-type', message: 'The request body encoding is not supported.' });
    case 'request.aborted':
    case 'request.size.invalid':
    case 'stream.encoding.set':
      return known({ code: 'invalid-json', message: 'The request body could not be read.' });
    default:
      break;
  }
  if (status === 400 && e.name === 'URIError') {
    // A path that does not decode names nothing we serve.
    return known({ code: 'not-found', message: 'Not found.' });
  }
  if (status === 400 && (e.type === 'entity.parse.failed' || e.type === 'entity.verify.failed')) {
    return known({ code: 'invalid-json', message: 'The request body is not valid JSON.' });
  }
  return {
    error: new HttpError({ code: 'internal', message: 'The service failed to process the request.' }),
    unexpected: true,
  };
}

function known(issue: ErrorIssue): { error: HttpError; unexpected: boolean } {
  return { error: new HttpError(issue), unexpected: false };
}

/** What a production 412 says for each code: only that the data could not be fetched (contract section 3). */
const PRODUCTION_412: Partial<Record<ErrorIssue['code'], string>> = {
  'prefetch-unavailable': 'This prefetch key could not be fetched.',
  'medication-unavailable': 'The Medication of this order could not be fetched.',
  'order-unavailable': 'This dispatched order could not be fetched.',
};

/**
 * In production, a 412's diagnostics say only that the key could not be fetched: no connection state, status or
 * timing, which would let a caller probe the payer's network (contract section 3). The causes go to the log line.
 * @param error - the error about to be sent
 * @param production - whether the service runs in production mode
 * @param log - receives each issue's original diagnostics (for the call's log line)
 * @returns the error to send
 */
export function forCaller(
  error: HttpError,
  production: boolean,
  log: (issue: { where: string; message: string }) => void
): HttpError {
  if (!production || error.status !== 412) {
    return error;
  }
  return new HttpError(
    error.issues.map((issue) => {
      log({ where: issue.expression ?? issue.code, message: issue.message ?? issue.code });
      const generic = PRODUCTION_412[issue.code] ?? 'The data this call needs could not be fetched.';
      return { ...issue, message: generic };
    })
  );
}

/**
 * Writes an HttpError as an OperationOutcome (401 adds `WWW-Authenticate: Bearer`, 405 an `Allow` header).
 * @param res - the response
 * @param error - the error to render
 * @returns the body written
 */
export function sendError(res: Response, error: HttpError, allow?: string): unknown {
  const body = error.toOperationOutcome();
  res.status(error.status);
  if (error.status === ERROR_CATALOGUE.unauthorized.status) {
    // https://cds-hooks.hl7.org/2.0/#trusting-cds-clients; RFC 6750 section 3: never say why.
    res.setHeader('WWW-Authenticate', 'Bearer');
  }
  if (allow) {
    res.setHeader('Allow', allow);
  }
  res.setHeader('Content-Type', FHIR_JSON);
  res.setHeader('Cache-Control', 'no-store');
  res.send(JSON.stringify(body));
  return body;
}
