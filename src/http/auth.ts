// JWT authentication of CDS clients (contract sections 1 and 8; https://cds-hooks.hl7.org/2.0/#trusting-cds-clients).
// Every rejection is the same 401 with no reason (contract section 3); the reason goes to the log, never the JWT.
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  jwtVerify,
  type JWTPayload,
  type JWTVerifyGetKey,
  type ProtectedHeaderParameters,
} from 'jose';
import type pino from 'pino';
import type { Config, TrustedIssuer } from '../config';
import { HttpError } from '../errors';
import { clip } from '../log';
import type { SharedStore } from '../store/types';

/** Who called, once verified. */
export interface AuthResult {
  iss: string;
  jti: string;
}

export interface Authenticator {
  /**
   * Authenticates a service or feedback call.
   * @param authorization - the Authorization header as received
   * @param path - the request path (the expected `aud` is the public base URL plus this path)
   * @returns the verified caller, or null when development mode lets the call through anonymously
   * @throws HttpError 401 when the call must be refused
   */
  authenticate(authorization: string | undefined, path: string): Promise<AuthResult | null>;
}

export interface AuthOptions {
  config: Config;
  store: SharedStore;
  logger: pino.Logger;
  /** Wall clock in epoch milliseconds (tests). */
  now?: () => number;
  /** Minimum time between two JWKS fetches triggered by an unknown `kid` (jose's cooldown; tests use 0). */
  jwksCooldownMs?: number;
  /** How long a fetched JWKS is used before it is fetched again. */
  jwksCacheMaxAgeMs?: number;
  /** Time allowed for one JWKS fetch. */
  jwksTimeoutMs?: number;
}

/** Why a token was refused; logged, never sent. */
class Rejection extends Error {}

function unauthorized(): HttpError {
  return new HttpError({ code: 'unauthorized' });
}

/** Compares URLs the way S-8 asks: exact text, a trailing slash either way tolerated. */
function sameUrl(a: string, b: string): boolean {
  return a.replace(/\/+$/, '') === b.replace(/\/+$/, '');
}

function normalizeUrl(u: string): string | undefined {
  try {
    return new URL(u).href;
  } catch {
    return undefined;
  }
}

/**
 * Builds the authenticator: one key set per trusted issuer, created once (remote ones cached and refetched on an
 * unknown `kid` by jose).
 * @param options - configuration, store for the replay cache, logger
 */
export function createAuthenticator(options: AuthOptions): Authenticator {
  const { config, store, logger } = options;
  const now = options.now ?? Date.now;
  const issuers = new Map<string, { issuer: TrustedIssuer; keys: JWTVerifyGetKey }>();
  for (const issuer of config.trustedIssuers) {
    const keys: JWTVerifyGetKey = issuer.jwksUri
      ? createRemoteJWKSet(new URL(issuer.jwksUri), {
          cooldownDuration: options.jwksCooldownMs ?? 30000,
          cacheMaxAge: options.jwksCacheMaxAgeMs ?? 10 * 60 * 1000,
          timeoutDuration: options.jwksTimeoutMs ?? 3000,
        })
      : createLocalJWKSet(issuer.jwks ?? { keys: [] });
    issuers.set(issuer.iss, { issuer, keys });
  }

  /** Development lets a call through anonymously; production refuses it. */
  function anonymous(reason: string, authorizationGiven: boolean, iss?: string): null {
    if (config.production) {
      logger.info({ reason, ...(iss ? { iss: clip(iss) } : {}) }, 'authentication refused');
      throw unauthorized();
    }
    // A missing header is the normal development case (warned about once at start-up); anything else is worth a line.
    const level = authorizationGiven ? 'info' : 'debug';
    logger[level]({ reason, ...(iss ? { iss: clip(iss) } : {}) }, 'authorization ignored in development');
    return null;
  }

  async function verify(
    token: string,
    path: string,
    found: { issuer: TrustedIssuer; keys: JWTVerifyGetKey }
  ): Promise<AuthResult> {
    const { issuer, keys } = found;
    let header: ProtectedHeaderParameters;
    let claims: JWTPayload;
    try {
      header = decodeProtectedHeader(token);
      claims = decodeJwt(token);
    } catch {
      throw new Rejection('unreadable token');
    }
    // https://cds-hooks.hl7.org/2.0/#jwt-signing-algorithm: never none, never HMAC; only what the issuer opted in to.
    if (typeof header.alg !== 'string' || !issuer.algorithms.some((a) => a === header.alg)) {
      throw new Rejection(`algorithm ${String(header.alg)} not allowed`);
    }
    // A jku that is not the configured JWKS URL is never fetched (S-4); with inline keys jku is ignored.
    if (issuer.jwksUri && header.jku !== undefined) {
      if (typeof header.jku !== 'string' || normalizeUrl(header.jku) !== issuer.jwksUri) {
        throw new Rejection('jku differs from the configured jwks_uri');
      }
    }
    const expectedAud = config.publicBaseUrl + path;
    const aud = claims.aud;
    const auds = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud : [];
    if (!auds.some((a) => typeof a === 'string' && sameUrl(a, expectedAud))) {
      throw new Rejection('aud is not this endpoint');
    }
    const nowS = now() / 1000;
    const skew = config.jwtSkewS;
    const { exp, iat, jti } = claims;
    if (typeof exp !== 'number' || !Number.isFinite(exp)) {
      throw new Rejection('exp missing');
    }
    if (typeof iat !== 'number' || !Number.isFinite(iat)) {
      throw new Rejection('iat missing');
    }
    if (exp + skew <= nowS) {
      throw new Rejection('expired');
    }
    if (iat > nowS + skew) {
      throw new Rejection('iat in the future');
    }
    if (exp - iat > (issuer.maxLifetimeS ?? config.jwtMaxLifetimeS)) {
      throw new Rejection('lifetime over the maximum');
    }
    if (typeof jti !== 'string' || jti === '') {
      throw new Rejection('jti missing');
    }
    try {
      await jwtVerify(token, keys, {
        algorithms: [...issuer.algorithms],
        issuer: issuer.iss,
        clockTolerance: skew,
        currentDate: new Date(now()),
        requiredClaims: ['exp', 'iat', 'jti'],
      });
    } catch (e) {
      const code = (e as { code?: unknown }).code;
      throw new Rejection(`signature or claims rejected (${typeof code === 'string' ? code : 'error'})`);
    }
    // Replay: remembered until the token could no longer be accepted (exp plus the skew). A token whose id the store
    // cannot keep is not accepted either (it could be replayed after a restart): 503, never a 401 or a 500.
    let fresh: boolean;
    try {
      fresh = await store.rememberJti(issuer.iss, jti, (exp + skew) * 1000);
    } catch (e) {
      logger.error({ err: { message: e instanceof Error ? e.message : String(e) } }, 'replay cache write failed');
      throw new HttpError({
        code: 'audit-unavailable',
        message: 'The call could not be recorded, so it is not answered; try again.',
      });
    }
    if (!fresh) {
      throw new Rejection('jti replayed');
    }
    return { iss: issuer.iss, jti };
  }

  return {
    async authenticate(authorization, path) {
      if (authorization === undefined || authorization.trim() === '') {
        return anonymous('no Authorization header', false);
      }
      const match = /^Bearer +([A-Za-z0-9\-._~+/]+=*)$/i.exec(authorization.trim());
      const token = match?.[1];
      if (!token) {
        return anonymous('Authorization is not a bearer token', true);
      }
      let iss: unknown;
      try {
        iss = decodeJwt(token).iss;
      } catch {
        return anonymous('bearer token is not a readable JWT', true);
      }
      const found = typeof iss === 'string' ? issuers.get(iss) : undefined;
      if (!found) {
        return anonymous('issuer not configured', true, typeof iss === 'string' ? iss : undefined);
      }
      try {
        return await verify(token, path, found);
      } catch (e) {
        if (e instanceof Rejection) {
          logger.info({ reason: e.message, iss: clip(found.issuer.iss) }, 'authentication refused');
          throw unauthorized();
        }
        throw e;
      }
    },
  };
}
