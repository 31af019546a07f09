// JWT helpers for tests: key pairs, signed tokens, JWKS documents, a local JWKS server and issuer files.
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import express from 'express';
import { exportJWK, generateKeyPair, SignJWT, type JWK, type JWTPayload, type KeyLike } from 'jose';

export type TestAlg = 'ES384' | 'RS384' | 'ES256' | 'RS256' | 'PS256' | 'PS384';

export interface TestKey {
  alg: TestAlg;
  kid: string;
  privateKey: KeyLike;
  publicKey: KeyLike;
  publicJwk: JWK;
}

/** A fresh key pair with its public JWK (kid, alg and use set). */
export async function makeKey(alg: TestAlg, kid: string = randomUUID()): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { alg, kid, privateKey, publicKey, publicJwk };
}

export function jwksOf(...keys: TestKey[]): { keys: JWK[] } {
  return { keys: keys.map((k) => k.publicJwk) };
}

export interface TokenOptions {
  iss: string;
  aud: string | string[];
  /** Seconds since the epoch; default now. */
  iat?: number;
  /** Default iat + 300. */
  exp?: number;
  /** Default a new UUID; `null` leaves it out. */
  jti?: string | null;
  /** Extra protected header members (`jku`, a different `kid`, ...). */
  header?: Record<string, unknown>;
  claims?: JWTPayload;
}

/** Signs a token the way the CDS Hooks sandbox does (header alg/typ/kid, claims iss/aud/iat/exp/jti). */
export async function signToken(key: TestKey, o: TokenOptions): Promise<string> {
  const iat = o.iat ?? Math.floor(Date.now() / 1000);
  const payload: JWTPayload = { ...o.claims, iss: o.iss, aud: o.aud, iat, exp: o.exp ?? iat + 300 };
  if (o.jti !== null) {
    payload.jti = o.jti ?? randomUUID();
  }
  return new SignJWT(payload)
    .setProtectedHeader({ alg: key.alg, typ: 'JWT', kid: key.kid, ...o.header })
    .sign(key.privateKey);
}

/** An unsigned (`alg: none`) token. */
export function unsignedToken(payload: JWTPayload): string {
  const enc = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');
  return `${enc({ alg: 'none', typ: 'JWT' })}.${enc(payload)}.`;
}

/** An HS256 token whose HMAC secret is the given bytes (the "public key as secret" confusion attack). */
export async function hmacToken(secret: Uint8Array, payload: JWTPayload, kid?: string): Promise<string> {
  return new SignJWT(payload).setProtectedHeader({ alg: 'HS256', typ: 'JWT', ...(kid ? { kid } : {}) }).sign(secret);
}

export interface JwksServer {
  url: string;
  /** How many times the JWKS was fetched. */
  hits: () => number;
  close: () => Promise<void>;
}

/** Serves `getJwks()` at http://127.0.0.1:<port>/jwks.json. */
export async function startJwksServer(getJwks: () => unknown): Promise<JwksServer> {
  let hits = 0;
  const app = express();
  app.get('/jwks.json', (_req, res) => {
    hits += 1;
    res.json(getJwks());
  });
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/jwks.json`,
    hits: () => hits,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Writes a CDS_TRUSTED_ISSUERS file in a new temporary folder and returns its path. */
export function writeIssuersFile(entries: unknown): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cds-issuers-'));
  const file = path.join(dir, 'issuers.json');
  fs.writeFileSync(file, JSON.stringify(entries));
  return file;
}
