// CORS (contract section 8; checklist S-10, S-11). https://cds-hooks.hl7.org/2.0/#cross-origin-resource-sharing
// defers to OWASP: allowlisted origins are echoed, others get no CORS headers; no credentials mode (the JWT travels
// in the Authorization header, never in cookies). Preflights are answered here, before authentication.
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { CorsOriginRule } from '../config';

export const ALLOWED_METHODS = 'GET, POST, OPTIONS';
export const ALLOWED_HEADERS = 'Authorization, Content-Type';

/**
 * Whether an `Origin` header value is allowed.
 * @param origin - the header value (`null` and anything unparseable are never allowed)
 * @param rules - CDS_CORS_ORIGINS
 */
export function isAllowedOrigin(origin: string, rules: readonly CorsOriginRule[]): boolean {
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false;
  }
  // An Origin is scheme://host[:port] and nothing more.
  if (url.origin !== origin.replace(/\/$/, '') || url.username || url.password) {
    return false;
  }
  return rules.some(
    (r) => r.protocol === url.protocol && r.hostname === url.hostname && (r.port === '*' || r.port === url.port)
  );
}

/**
 * The CORS middleware: headers on every answer to an allowed origin, and a 204 for every OPTIONS request.
 * @param rules - CDS_CORS_ORIGINS
 */
export function cors(rules: readonly CorsOriginRule[]): RequestHandler {
  return (req: Request, res: Response, next: NextFunction): void => {
    const origin = req.headers.origin;
    res.vary('Origin');
    const allowed = typeof origin === 'string' && isAllowedOrigin(origin, rules);
    if (allowed) {
      res.setHeader('Access-Control-Allow-Origin', origin);
      // Let browser clients read why a call was refused.
      res.setHeader('Access-Control-Expose-Headers', 'WWW-Authenticate');
    }
    if (req.method !== 'OPTIONS') {
      next();
      return;
    }
    // Preflight (https://fetch.spec.whatwg.org/#cors-preflight-fetch), answered without authentication.
    res.setHeader('Allow', ALLOWED_METHODS);
    if (allowed) {
      res.setHeader('Access-Control-Allow-Methods', ALLOWED_METHODS);
      res.setHeader('Access-Control-Allow-Headers', ALLOWED_HEADERS);
      res.setHeader('Access-Control-Max-Age', '600');
      // Chrome Private Network Access: a public page calling localhost asks first (checklist S-11).
      if (String(req.headers['access-control-request-private-network']).toLowerCase() === 'true') {
        res.setHeader('Access-Control-Allow-Private-Network', 'true');
      }
    }
    res.status(204).end();
  };
}
