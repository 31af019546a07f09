// Environment -> typed, validated, frozen configuration (contract section 1). Nothing else reads process.env.
// A bad value throws an Error naming the variable, so start-up stops with a message a person can act on.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseAllowlist, type AllowlistEntry } from './fhir/allowlist';

export type Mode = 'production' | 'development';

/**
 * JWT algorithms an issuer may use (contract section 8; https://cds-hooks.hl7.org/2.0/#jwt-signing-algorithm):
 * asymmetric only, never `none` or an HMAC. ES384 and RS384 unless the issuer's `algorithms` opts in to others.
 */
export const JWT_ALGORITHMS = ['ES384', 'RS384', 'ES256', 'RS256', 'PS256', 'PS384'] as const;
export type JwtAlgorithm = (typeof JWT_ALGORITHMS)[number];
export const DEFAULT_JWT_ALGORITHMS: readonly JwtAlgorithm[] = ['ES384', 'RS384'];
/**
 * Bounds of an issuer's own `maxLifetimeS` (and of CDS_JWT_MAX_LIFETIME_S): at least 1 s, at most 24 h, the
 * lifetime the Da Vinci CRD request generator gives its tokens. Longer-lived tokens would keep the replay cache
 * remembering each `jti` for longer than a day for little gain.
 */
export const MAX_JWT_LIFETIME_S = 86400;

/** A public JSON Web Key as found in a JWKS (members are checked loosely; jose checks the rest). */
export interface PublicJwk {
  kty: string;
  kid?: string;
  alg?: string;
  [member: string]: unknown;
}

/** One trusted CDS client: keys from exactly one of `jwksUri` (fetched, cached) or `jwks` (inline). */
export interface TrustedIssuer {
  iss: string;
  jwksUri?: string;
  jwks?: { keys: PublicJwk[] };
  algorithms: readonly JwtAlgorithm[];
  /** The issuer's own largest `exp − iat` (seconds), instead of CDS_JWT_MAX_LIFETIME_S; absent: that one. */
  maxLifetimeS?: number;
}

/**
 * `CDS_FHIR_ALLOWLIST` entries are parsed by src/fhir/allowlist.ts, which also applies the rule (contract section 3),
 * so that the parsed form and the rule can never disagree. Re-exported here as part of Config.
 */
export type { AllowlistEntry };

/** One allowed CORS origin; `port` `'*'` means any port, `''` the scheme's default port. */
export interface CorsOriginRule {
  protocol: string;
  hostname: string;
  port: string;
}

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface Config {
  port: number;
  /** The listening address (CDS_HOST); undefined: every interface. */
  host: string | undefined;
  nodeEnv: string;
  mode: Mode;
  production: boolean;
  /** Without a trailing slash. */
  publicBaseUrl: string;
  /** The `CDS_TRUSTED_ISSUERS` file, as given (absent when none is configured). */
  trustedIssuersFile?: string;
  trustedIssuers: readonly TrustedIssuer[];
  jwtSkewS: number;
  jwtMaxLifetimeS: number;
  fhirAllowlist: readonly AllowlistEntry[];
  fhirTimeoutMs: number;
  deadlineMs: number;
  fhirMaxPages: number;
  /** Most `context.draftOrders` entries in one call (CDS_MAX_DRAFT_ORDERS). */
  maxDraftOrders: number;
  /** Time to receive a whole request, headers and body (CDS_REQUEST_TIMEOUT_MS); headers within HEADERS_TIMEOUT_MS. */
  requestTimeoutMs: number;
  corsOrigins: readonly CorsOriginRule[];
  /** Largest request body, in bytes. */
  bodyLimit: number;
  /** Absolute path. */
  dataDir: string;
  /** CDS_DATABASE_URL: the PostgreSQL store instead of files (it may hold a password: never log it). */
  databaseUrl?: string;
  audit: boolean;
  auditRetentionDays: number;
  workers: number;
  /** Serve GET /metrics (CDS_METRICS); off: 404, and nothing is collected. */
  metrics: boolean;
  /** Absolute path. */
  servicesDir: string;
  logLevel: LogLevel;
}

export const DEFAULT_CORS_ORIGINS = [
  'https://sandbox.cds-hooks.org',
  ...['localhost', '127.0.0.1', '[::1]'].flatMap((h) => [`http://${h}:*`, `https://${h}:*`]),
].join(',');

const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

class ConfigError extends Error {
  constructor(variable: string, problem: string) {
    super(`Configuration error in ${variable}: ${problem}`);
    this.name = 'ConfigError';
  }
}

/**
 * Reads and validates the configuration.
 * @param env - the environment to read (process.env in production, a literal in tests)
 * @returns a deeply frozen Config
 */
export function loadConfig(env: NodeJS.ProcessEnv): Config {
  const nodeEnv = value(env, 'NODE_ENV') ?? 'development';
  const production = nodeEnv === 'production';
  const port = integer(env, 'PORT', 3000, 0, 65535);
  if (production) {
    // Contract section 8: the development defaults would let a caller reach every loopback port of the payer's host
    // (and would make `aud` name localhost).
    for (const name of ['CDS_PUBLIC_BASE_URL', 'CDS_FHIR_ALLOWLIST']) {
      if (value(env, name) === undefined) {
        throw new ConfigError(name, 'production (NODE_ENV=production) requires it to be set; it has no default there');
      }
    }
  }
  const publicBaseUrl = parseBaseUrl(value(env, 'CDS_PUBLIC_BASE_URL') ?? `http://localhost:${port}`);
  const trustedIssuersFile = value(env, 'CDS_TRUSTED_ISSUERS');
  const trustedIssuers = trustedIssuersFile ? readTrustedIssuers(trustedIssuersFile, production) : [];
  if (production && trustedIssuers.length === 0) {
    throw new ConfigError(
      'CDS_TRUSTED_ISSUERS',
      'production (NODE_ENV=production) requires at least one trusted issuer; none is configured'
    );
  }
  const config: Config = {
    port,
    host: parseHost(value(env, 'CDS_HOST'), production),
    nodeEnv,
    mode: production ? 'production' : 'development',
    production,
    publicBaseUrl,
    trustedIssuersFile,
    trustedIssuers,
    jwtSkewS: integer(env, 'CDS_JWT_SKEW_S', 60, 0, 3600),
    jwtMaxLifetimeS: integer(env, 'CDS_JWT_MAX_LIFETIME_S', 300, 1, MAX_JWT_LIFETIME_S),
    fhirAllowlist: parseFhirAllowlist(value(env, 'CDS_FHIR_ALLOWLIST')),
    fhirTimeoutMs: integer(env, 'CDS_FHIR_TIMEOUT_MS', 1500, 1, 600000),
    deadlineMs: integer(env, 'CDS_DEADLINE_MS', 4000, 1, 600000),
    fhirMaxPages: integer(env, 'CDS_FHIR_MAX_PAGES', 5, 1, 1000),
    maxDraftOrders: integer(env, 'CDS_MAX_DRAFT_ORDERS', 100, 1, 10000),
    requestTimeoutMs: integer(env, 'CDS_REQUEST_TIMEOUT_MS', 30000, 100, 3600000),
    corsOrigins: parseCorsOrigins(value(env, 'CDS_CORS_ORIGINS') ?? DEFAULT_CORS_ORIGINS),
    bodyLimit: parseByteSize('CDS_BODY_LIMIT', value(env, 'CDS_BODY_LIMIT') ?? '5mb'),
    dataDir: path.resolve(value(env, 'CDS_DATA_DIR') ?? './data'),
    databaseUrl: parseDatabaseUrl(value(env, 'CDS_DATABASE_URL')),
    audit: boolean(env, 'CDS_AUDIT', production),
    auditRetentionDays: integer(env, 'CDS_AUDIT_RETENTION_DAYS', 2190, 1, 100000),
    workers: integer(env, 'CDS_WORKERS', production ? os.availableParallelism() : 1, 1, 1024),
    metrics: boolean(env, 'CDS_METRICS', true),
    servicesDir: path.resolve(value(env, 'CDS_SERVICES_DIR') ?? 'cds-services'),
    logLevel: parseLogLevel(value(env, 'CDS_LOG_LEVEL') ?? 'info'),
  };
  return deepFreeze(config);
}

/**
 * `CDS_HOST`: an IP address or a host name to listen on (`0.0.0.0`: every IPv4 interface; `*` or `::`: every
 * interface, IPv6 and IPv4). Default
 * `127.0.0.1` in development (contract section 8: an unconfigured instance is not reachable from other machines),
 * every interface in production.
 */
function parseHost(v: string | undefined, production: boolean): string | undefined {
  if (v === undefined) {
    return production ? undefined : '127.0.0.1';
  }
  if (v === '*' || v === '::' || v === '[::]') {
    return undefined;
  }
  const bare = v.startsWith('[') && v.endsWith(']') ? v.slice(1, -1) : v;
  if (net.isIP(bare) !== 0) {
    return bare;
  }
  if (!/^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/.test(bare)) {
    throw new ConfigError('CDS_HOST', `"${v}" is neither an IP address nor a host name`);
  }
  return bare;
}

/** A set, non-blank variable, trimmed; undefined otherwise. */
function value(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const v = env[name];
  if (v === undefined) {
    return undefined;
  }
  const t = v.trim();
  return t === '' ? undefined : t;
}

function integer(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const v = value(env, name);
  if (v === undefined) {
    return fallback;
  }
  if (!/^\d+$/.test(v)) {
    throw new ConfigError(name, `"${v}" is not a whole number`);
  }
  const n = Number(v);
  if (n < min || n > max) {
    throw new ConfigError(name, `${n} is outside ${min}..${max}`);
  }
  return n;
}

function boolean(env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const v = value(env, name)?.toLowerCase();
  if (v === undefined) {
    return fallback;
  }
  if (['1', 'true', 'on', 'yes'].includes(v)) {
    return true;
  }
  if (['0', 'false', 'off', 'no'].includes(v)) {
    return false;
  }
  throw new ConfigError(name, `"${v}" is not one of on, off, true, false, yes, no, 1, 0`);
}

function parseLogLevel(v: string): LogLevel {
  const level = LOG_LEVELS.find((l) => l === v.toLowerCase());
  if (!level) {
    throw new ConfigError('CDS_LOG_LEVEL', `"${v}" is not one of ${LOG_LEVELS.join(', ')}`);
  }
  return level;
}

function parseBaseUrl(v: string): string {
  const url = parseUrl('CDS_PUBLIC_BASE_URL', v);
  if (url.username || url.password || url.search || url.hash) {
    throw new ConfigError('CDS_PUBLIC_BASE_URL', 'must have no user info, query or fragment');
  }
  return url.href.replace(/\/+$/, '');
}

function parseUrl(variable: string, v: string): URL {
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    throw new ConfigError(variable, `"${v}" is not an absolute URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError(variable, `"${v}" is not an http or https URL`);
  }
  return url;
}

/**
 * CDS_DATABASE_URL: a postgres:// or postgresql:// URL (libpq's form, as `pg` reads it). The error never repeats the
 * value, which may hold a password.
 */
function parseDatabaseUrl(v: string | undefined): string | undefined {
  if (v === undefined) {
    return undefined;
  }
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    throw new ConfigError('CDS_DATABASE_URL', 'is not a URL (postgresql://user:password@host:5432/database)');
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new ConfigError('CDS_DATABASE_URL', `must be a postgresql:// URL, not ${url.protocol}//`);
  }
  return v;
}

function parseFhirAllowlist(v: string | undefined): AllowlistEntry[] {
  try {
    return parseAllowlist(v);
  } catch (e) {
    const message = e instanceof Error ? e.message.replace(/^CDS_FHIR_ALLOWLIST:\s*/, '') : String(e);
    throw new ConfigError('CDS_FHIR_ALLOWLIST', message);
  }
}

/**
 * Parses `CDS_CORS_ORIGINS` (comma-separated origins; `scheme://host:*` allows any port).
 * @param v - the variable's value
 */
export function parseCorsOrigins(v: string): CorsOriginRule[] {
  return v
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map((raw) => {
      const anyPort = /:\*$/.test(raw);
      const url = parseUrl('CDS_CORS_ORIGINS', anyPort ? raw.slice(0, -2) : raw);
      if (url.username || url.password || url.search || url.hash || (url.pathname !== '/' && url.pathname !== '')) {
        throw new ConfigError('CDS_CORS_ORIGINS', `"${raw}" is not an origin (scheme://host[:port|:*])`);
      }
      return { protocol: url.protocol, hostname: url.hostname, port: anyPort ? '*' : url.port };
    });
}

/**
 * Parses a byte size such as `5mb`, `100kb` or `1048576` (units b, kb, mb, gb; 1 kb = 1024 bytes).
 * @param variable - the variable named in errors
 * @param v - the value
 */
export function parseByteSize(variable: string, v: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)?$/i.exec(v);
  if (!m?.[1]) {
    throw new ConfigError(variable, `"${v}" is not a size such as 5mb, 512kb or 1048576`);
  }
  const unit = (m[2] ?? 'b').toLowerCase();
  const factor = unit === 'gb' ? 1024 ** 3 : unit === 'mb' ? 1024 ** 2 : unit === 'kb' ? 1024 : 1;
  const bytes = Math.floor(Number(m[1]) * factor);
  if (bytes < 1) {
    throw new ConfigError(variable, `"${v}" is smaller than one byte`);
  }
  return bytes;
}

function readTrustedIssuers(file: string, production: boolean): TrustedIssuer[] {
  const name = 'CDS_TRUSTED_ISSUERS';
  let text: string;
  try {
    text = fs.readFileSync(path.resolve(file), 'utf8');
  } catch (e) {
    throw new ConfigError(name, `cannot read "${file}" (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new ConfigError(name, `"${file}" is not valid JSON`);
  }
  if (!Array.isArray(data)) {
    throw new ConfigError(name, `"${file}" must hold a JSON array of issuers`);
  }
  const seen = new Set<string>();
  return data.map((item: unknown, i): TrustedIssuer => {
    const where = `${file} [${i}]`;
    if (!isObject(item)) {
      throw new ConfigError(name, `${where} is not an object`);
    }
    const known = new Set(['iss', 'jwks_uri', 'jwks', 'algorithms', 'maxLifetimeS']);
    const unknownKey = Object.keys(item).find((k) => !known.has(k));
    if (unknownKey) {
      throw new ConfigError(name, `${where} has an unknown member "${unknownKey}"`);
    }
    const iss = item['iss'];
    if (typeof iss !== 'string' || iss.trim() === '') {
      throw new ConfigError(name, `${where}.iss must be a non-empty string`);
    }
    if (seen.has(iss)) {
      throw new ConfigError(name, `${where}: issuer "${iss}" is listed twice`);
    }
    seen.add(iss);
    const hasUri = item['jwks_uri'] !== undefined;
    const hasJwks = item['jwks'] !== undefined;
    if (hasUri === hasJwks) {
      throw new ConfigError(name, `${where} (${iss}) must have exactly one of "jwks_uri" and "jwks"`);
    }
    const issuer: TrustedIssuer = { iss, algorithms: parseAlgorithms(item['algorithms'], `${where} (${iss})`) };
    if (item['maxLifetimeS'] !== undefined) {
      issuer.maxLifetimeS = parseMaxLifetime(item['maxLifetimeS'], `${where} (${iss})`);
    }
    if (hasUri) {
      issuer.jwksUri = parseJwksUri(item['jwks_uri'], `${where} (${iss})`, production);
    } else {
      issuer.jwks = parseJwks(item['jwks'], `${where} (${iss})`);
    }
    return issuer;
  });
}

function parseAlgorithms(v: unknown, where: string): JwtAlgorithm[] {
  if (v === undefined) {
    return [...DEFAULT_JWT_ALGORITHMS];
  }
  if (!Array.isArray(v) || v.length === 0) {
    throw new ConfigError('CDS_TRUSTED_ISSUERS', `${where}.algorithms must be a non-empty array`);
  }
  const out: JwtAlgorithm[] = [];
  for (const a of v as unknown[]) {
    const alg = JWT_ALGORITHMS.find((x) => x === a);
    if (!alg) {
      const why =
        typeof a === 'string' && (a.toLowerCase() === 'none' || /^HS\d+$/i.test(a))
          ? 'unsigned and HMAC tokens are never accepted'
          : `only ${JWT_ALGORITHMS.join(', ')} are`;
      throw new ConfigError('CDS_TRUSTED_ISSUERS', `${where}.algorithms: ${JSON.stringify(a)} is not allowed (${why})`);
    }
    if (!out.includes(alg)) {
      out.push(alg);
    }
  }
  return out;
}

function parseMaxLifetime(v: unknown, where: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > MAX_JWT_LIFETIME_S) {
    throw new ConfigError(
      'CDS_TRUSTED_ISSUERS',
      `${where}.maxLifetimeS must be a whole number of seconds from 1 to ${MAX_JWT_LIFETIME_S} (24 h)`
    );
  }
  return v;
}

function parseJwksUri(v: unknown, where: string, production: boolean): string {
  if (typeof v !== 'string') {
    throw new ConfigError('CDS_TRUSTED_ISSUERS', `${where}.jwks_uri must be a string`);
  }
  const url = parseUrl('CDS_TRUSTED_ISSUERS', v);
  const loopback = ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
  if (production && url.protocol !== 'https:' && !loopback) {
    throw new ConfigError('CDS_TRUSTED_ISSUERS', `${where}.jwks_uri must use https in production`);
  }
  return url.href;
}

function parseJwks(v: unknown, where: string): { keys: PublicJwk[] } {
  if (!isObject(v) || !Array.isArray(v['keys']) || v['keys'].length === 0) {
    throw new ConfigError('CDS_TRUSTED_ISSUERS', `${where}.jwks must be an object with a non-empty "keys" array`);
  }
  const keys = (v['keys'] as unknown[]).map((k, j): PublicJwk => {
    if (!isObject(k) || typeof k['kty'] !== 'string') {
      throw new ConfigError('CDS_TRUSTED_ISSUERS', `${where}.jwks.keys[${j}] is not a JWK`);
    }
    if (k['d'] !== undefined || k['kty'] === 'oct') {
      throw new ConfigError('CDS_TRUSTED_ISSUERS', `${where}.jwks.keys[${j}] must be a public key`);
    }
    return { ...k, kty: k['kty'] };
  });
  return { keys };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function deepFreeze<T>(v: T): T {
  if (v && typeof v === 'object' && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const child of Object.values(v)) {
      deepFreeze(child);
    }
  }
  return v;
}
