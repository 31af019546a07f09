// Redaction for the audit trail (contract section 8): no secret of `fhirAuthorization` ever reaches the disk.

export const REDACTED = '[redacted]';

/** Request headers worth keeping in the audit trail; Authorization and cookies are never kept. */
const AUDITED_HEADERS = ['content-type', 'content-length', 'content-encoding', 'user-agent', 'origin'];

/** The members of `fhirAuthorization` kept in clear in the audit (contract section 8); every other is a secret. */
const KEPT_AUTHORIZATION_MEMBERS = new Set(['token_type', 'expires_in', 'scope', 'subject']);

/**
 * A copy of a hook request body with every member of `fhirAuthorization` but `token_type`, `expires_in`, `scope` and
 * `subject` replaced by `[redacted]` (access, refresh and id tokens, and whatever else a client puts there); a
 * `fhirAuthorization` that is not an object is replaced whole. The input is never modified; anything that is not an
 * object is returned as it is.
 * @param body - a parsed request body
 */
export function redactRequestBody(body: unknown): unknown {
  if (!isObject(body) || !('fhirAuthorization' in body)) {
    return body;
  }
  const auth = body['fhirAuthorization'];
  if (auth === null || auth === undefined) {
    return body;
  }
  if (!isObject(auth)) {
    return { ...body, fhirAuthorization: REDACTED };
  }
  const safe: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(auth)) {
    safe[name] = KEPT_AUTHORIZATION_MEMBERS.has(name) ? value : REDACTED;
  }
  return { ...body, fhirAuthorization: safe };
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
