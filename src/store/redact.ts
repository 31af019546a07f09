// Redaction for the audit trail (contract section 8): the FHIR access token never reaches the disk.

export const REDACTED = '[redacted]';

/** Request headers worth keeping in the audit trail; Authorization and cookies are never kept. */
const AUDITED_HEADERS = ['content-type', 'content-length', 'content-encoding', 'user-agent', 'origin'];

/**
 * A copy of a hook request body with `fhirAuthorization.access_token` replaced by `[redacted]`. The input is never
 * modified; anything that is not such an object is returned as it is.
 * @param body - a parsed request body
 */
export function redactRequestBody(body: unknown): unknown {
  if (!isObject(body)) {
    return body;
  }
  const auth = body['fhirAuthorization'];
  if (!isObject(auth) || auth['access_token'] === undefined || auth['access_token'] === '') {
    return body;
  }
  return { ...body, fhirAuthorization: { ...auth, access_token: REDACTED } };
}

/**
 * The request headers kept in an audit record.
 * @param headers - the incoming request's headers
 */
export function auditHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of AUDITED_HEADERS) {
    const v = headers[name];
    if (typeof v === 'string') {
      out[name] = v;
    }
  }
  return out;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
