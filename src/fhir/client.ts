// A FHIR session bound to one hook call (contract section 3, "Fetching"): reads and searches against the request's
// `fhirServer` with Node's global fetch. Every URL is checked against the allowlist before any connection; each
// request has its own timeout and never runs past the call's deadline; redirects are not followed; failures come
// back as values (FhirFailure), never as exceptions. The access token is sent as a bearer token and never logged or
// placed in a message.
import type { Bundle, BundleEntry, FhirResource } from 'fhir/r4';
import { CallAbandoned } from '../errors';
import type { HookEnvelope } from '../hooks/types';
import { isUsableUrl, type AllowlistEntry } from './allowlist';

export type FhirFailureReason =
  | 'no-fhir-server'
  | 'not-allowlisted'
  | 'invalid-reference'
  | 'timeout'
  | 'deadline'
  | 'network'
  | 'redirect'
  | 'http-status'
  | 'unreadable-body'
  | 'operation-outcome'
  | 'unexpected-resource'
  | 'too-many-pages';

/** Why a read or search gave nothing usable. `message` is safe to return to the client and to log. */
export interface FhirFailure {
  ok: false;
  reason: FhirFailureReason;
  /** The HTTP status, when the server answered one. */
  status?: number;
  message: string;
}

export interface FhirSuccess<T> {
  ok: true;
  value: T;
  /** Pages fetched (searches); 0 when nothing had to be fetched. */
  pages?: number;
}

export type FhirResult<T> = FhirSuccess<T> | FhirFailure;

export interface FhirSessionOptions {
  allowlist: readonly AllowlistEntry[];
  /** Per HTTP request (CDS_FHIR_TIMEOUT_MS). */
  timeoutMs: number;
  /** Pages per search, the first included (CDS_FHIR_MAX_PAGES). */
  maxPages: number;
  /** Epoch milliseconds after which no request runs (CDS_DEADLINE_MS from the call's start). */
  deadline: number;
  /**
   * Aborted when the call's client has gone (contract section 2): no request is sent after that, the ones in flight
   * are cancelled, and every session method then rejects with the signal's reason (a `CallAbandoned`).
   */
  signal?: AbortSignal;
  /** Largest response body read, in bytes (default 16 MiB); a larger one is unreadable. */
  maxBodyBytes?: number;
  /**
   * Told about every HTTP request sent (not those refused before sending): its outcome and seconds taken (metrics).
   */
  observe?: (outcome: FhirRequestOutcome, seconds: number) => void;
}

/** What one HTTP request gave: `ok` (a 200 with a JSON body), `not-found` (a read's 404 or 410), else the failure. */
export type FhirRequestOutcome = 'ok' | 'not-found' | Extract<FhirFailureReason, SentFailure>;
type SentFailure = 'http-status' | 'redirect' | 'unreadable-body' | 'timeout' | 'deadline' | 'network';

export interface FhirSession {
  /** The `fhirServer` base URL, without a trailing slash. */
  readonly baseUrl: string;
  /**
   * Reads `Type/id`. A 404 or 410 answer is `null`; any other non-200, an unreadable body, a resource of another
   * type or a timeout is a failure.
   */
  read(ref: string): Promise<FhirResult<FhirResource | null>>;
  /**
   * Runs a search relative to the base (`Coverage?patient=1&status=active`) and follows `next` links up to
   * `maxPages` pages, each link re-checked against the allowlist. Returns one Bundle with every page's entries.
   */
  search(relativeUrl: string): Promise<FhirResult<Bundle>>;
  /**
   * Follows the `next` links of a Bundle already in hand (a prefetched first page, which counts as one page).
   * A Bundle without a `next` link comes back as it is.
   */
  continueSearch(firstPage: Bundle): Promise<FhirResult<Bundle>>;
}

const DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024;
const REFERENCE = /^([A-Z][A-Za-z]{1,63})\/([A-Za-z0-9\-.]{1,64})$/;

/** Whether a request names a `fhirServer` the service may call. */
export type FhirServerStatus = 'absent' | 'not-allowlisted' | 'usable';

type BaseCheck = { status: 'absent' | 'not-allowlisted' } | { status: 'usable'; base: string };

/** The base URL to call, or why there is none. */
function usableBase(fhirServer: unknown, allowlist: readonly AllowlistEntry[]): BaseCheck {
  if (typeof fhirServer !== 'string' || fhirServer.trim() === '') {
    return { status: 'absent' };
  }
  let parsed: URL;
  try {
    parsed = new URL(fhirServer);
  } catch {
    return { status: 'not-allowlisted' };
  }
  // A base with a query or a fragment cannot have paths appended to it.
  if (parsed.search !== '' || parsed.hash !== '' || !isUsableUrl(fhirServer, allowlist)) {
    return { status: 'not-allowlisted' };
  }
  return { status: 'usable', base: parsed.href.replace(/\/+$/, '') };
}

/** Classifies the request's `fhirServer` (for diagnostics: "no fhirServer" versus "not allowlisted"). */
export function fhirServerStatus(request: HookEnvelope, allowlist: readonly AllowlistEntry[]): FhirServerStatus {
  return usableBase(request.fhirServer, allowlist).status;
}

/**
 * Opens a session on the request's `fhirServer`, or returns undefined when there is no usable one (absent, not a
 * URL, or not allowed by the allowlist).
 *
 * @param request - the validated hook request (only `fhirServer` and `fhirAuthorization.access_token` are read).
 * @param opts - allowlist, per-request timeout, page cap and the call's deadline.
 */
export function openFhirSession(request: HookEnvelope, opts: FhirSessionOptions): FhirSession | undefined {
  const check = usableBase(request.fhirServer, opts.allowlist);
  if (check.status !== 'usable') {
    return undefined;
  }
  const token = request.fhirAuthorization?.access_token;
  return new FetchFhirSession(check.base, typeof token === 'string' && token !== '' ? token : undefined, opts);
}

/** Rejects with the reason of an aborted call signal (the client has gone), so that nothing more is fetched. */
function throwIfAbandoned(signal: AbortSignal | undefined): void {
  if (signal?.aborted) {
    throw signal.reason instanceof CallAbandoned ? signal.reason : new CallAbandoned();
  }
}

function failure(reason: FhirFailureReason, message: string, status?: number): FhirFailure {
  return status === undefined ? { ok: false, reason, message } : { ok: false, reason, message, status };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function resourceTypeOf(value: unknown): string | undefined {
  return isObject(value) && typeof value.resourceType === 'string' ? value.resourceType : undefined;
}

/** The `next` link of a Bundle, absolute (resolved against the page's own URL), or undefined. */
function nextLinkOf(bundle: Bundle, pageUrl: string): string | undefined {
  const links: unknown = bundle.link;
  if (!Array.isArray(links)) {
    return undefined;
  }
  for (const link of links) {
    if (isObject(link) && link.relation === 'next' && typeof link.url === 'string' && link.url !== '') {
      try {
        return new URL(link.url, pageUrl).href;
      } catch {
        return link.url;
      }
    }
  }
  return undefined;
}

function entriesOf(bundle: Bundle): BundleEntry[] {
  const entries: unknown = bundle.entry;
  return Array.isArray(entries) ? entries.filter((e): e is BundleEntry => isObject(e)) : [];
}

/** Reads a response body as text, giving up past `limit` bytes. */
async function readBody(response: Response, limit: number): Promise<string | undefined> {
  const declared = Number(response.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > limit) {
    await response.body?.cancel().catch(() => undefined);
    return undefined;
  }
  if (!response.body) {
    return '';
  }
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) {
      break;
    }
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => undefined);
      return undefined;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function networkMessage(error: unknown): string {
  const cause: unknown = isObject(error) ? error.cause : undefined;
  const code = isObject(cause) && typeof cause.code === 'string' ? cause.code : undefined;
  return code ? `could not reach the FHIR server (${code})` : 'could not reach the FHIR server';
}

type Fetched = { ok: true; status: number; body?: unknown } | FhirFailure;

class FetchFhirSession implements FhirSession {
  private readonly origin: string;
  private readonly maxBodyBytes: number;

  constructor(
    readonly baseUrl: string,
    private readonly token: string | undefined,
    private readonly opts: FhirSessionOptions
  ) {
    this.origin = new URL(baseUrl).origin;
    this.maxBodyBytes = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  }

  async read(ref: string): Promise<FhirResult<FhirResource | null>> {
    const match = typeof ref === 'string' ? REFERENCE.exec(ref) : null;
    if (!match) {
      return failure('invalid-reference', 'not a relative reference of the form Type/id');
    }
    const type = match[1] as string;
    const fetched = await this.get(`${this.baseUrl}/${type}/${match[2] as string}`, true);
    if (!fetched.ok) {
      return fetched;
    }
    if (fetched.status === 404 || fetched.status === 410) {
      return { ok: true, value: null };
    }
    const actual = resourceTypeOf(fetched.body);
    if (actual === type) {
      return { ok: true, value: fetched.body as FhirResource };
    }
    if (actual === 'OperationOutcome') {
      return failure('operation-outcome', 'the FHIR server answered the read with an OperationOutcome');
    }
    return failure('unexpected-resource', `the FHIR server answered the read with something other than a ${type}`);
  }

  async search(relativeUrl: string): Promise<FhirResult<Bundle>> {
    if (typeof relativeUrl !== 'string' || relativeUrl.trim() === '') {
      return failure('invalid-reference', 'empty search URL');
    }
    const url = /^[A-Za-z][A-Za-z0-9+.-]*:/.test(relativeUrl)
      ? relativeUrl
      : `${this.baseUrl}/${relativeUrl.replace(/^\/+/, '')}`;
    const first = await this.getBundle(url);
    if (!first.ok) {
      return first;
    }
    return this.collect(first.value, url, 1);
  }

  async continueSearch(firstPage: Bundle): Promise<FhirResult<Bundle>> {
    return this.collect(firstPage, `${this.baseUrl}/`, 1);
  }

  /** Follows `next` links from `first` (fetched from `firstUrl`, `pagesSoFar` pages already counted). */
  private async collect(first: Bundle, firstUrl: string, pagesSoFar: number): Promise<FhirResult<Bundle>> {
    let next = nextLinkOf(first, firstUrl);
    if (next === undefined) {
      return { ok: true, value: first, pages: pagesSoFar };
    }
    const entries: BundleEntry[] = [...entriesOf(first)];
    let pages = pagesSoFar;
    while (next !== undefined) {
      if (pages >= this.opts.maxPages) {
        return failure('too-many-pages', `more than ${this.opts.maxPages} pages of results (a next link was left)`);
      }
      const page = await this.getBundle(next);
      if (!page.ok) {
        return page;
      }
      pages += 1;
      entries.push(...entriesOf(page.value));
      next = nextLinkOf(page.value, next);
    }
    return { ok: true, value: mergeEntries(first, entries), pages };
  }

  private async getBundle(url: string): Promise<FhirResult<Bundle>> {
    const fetched = await this.get(url, false);
    if (!fetched.ok) {
      return fetched;
    }
    const type = resourceTypeOf(fetched.body);
    if (type === 'Bundle') {
      return { ok: true, value: fetched.body as Bundle };
    }
    if (type === 'OperationOutcome') {
      return failure('operation-outcome', 'the FHIR server answered the search with an OperationOutcome');
    }
    return failure('unexpected-resource', 'the FHIR server answered the search with something other than a Bundle');
  }

  /** One GET. 200 gives the parsed body; 404 and 410 are passed through when `allowGone`; anything else fails. */
  private async get(url: string, allowGone: boolean): Promise<Fetched> {
    const gone = this.opts.signal;
    throwIfAbandoned(gone);
    if (!isUsableUrl(url, this.opts.allowlist)) {
      return failure('not-allowlisted', 'the URL is not allowed by CDS_FHIR_ALLOWLIST');
    }
    const remaining = this.opts.deadline - Date.now();
    if (remaining <= 0) {
      return failure('deadline', 'the call deadline was reached before the request');
    }
    const byDeadline = remaining < this.opts.timeoutMs;
    const limit = Math.max(1, Math.min(this.opts.timeoutMs, remaining));
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), limit);
    const headers: Record<string, string> = { accept: 'application/fhir+json, application/json;q=0.9' };
    // The token goes only to the fhirServer's own origin, never to another allowlisted host a link points at.
    if (this.token !== undefined && new URL(url).origin === this.origin) {
      headers.authorization = `Bearer ${this.token}`;
    }
    const timedOut = (): FhirFailure =>
      byDeadline
        ? failure('deadline', `no answer before the call deadline (${limit} ms left)`)
        : failure('timeout', `no answer within ${limit} ms`);
    const started = performance.now();
    const cancel = (): void => controller.abort();
    gone?.addEventListener('abort', cancel, { once: true });
    const result = await this.send(url, headers, controller, allowGone, timedOut).finally(() => {
      clearTimeout(timer);
      gone?.removeEventListener('abort', cancel);
    });
    throwIfAbandoned(gone);
    this.opts.observe?.(
      result.ok ? (result.status === 200 ? 'ok' : 'not-found') : (result.reason as SentFailure),
      (performance.now() - started) / 1000
    );
    return result;
  }

  private async send(
    url: string,
    headers: Record<string, string>,
    controller: AbortController,
    allowGone: boolean,
    timedOut: () => FhirFailure
  ): Promise<Fetched> {
    try {
      const response = await fetch(url, { method: 'GET', headers, redirect: 'manual', signal: controller.signal });
      const status = response.status;
      if (status !== 200) {
        await response.body?.cancel().catch(() => undefined);
        if (allowGone && (status === 404 || status === 410)) {
          return { ok: true, status };
        }
        if (status >= 300 && status < 400) {
          return failure('redirect', `the FHIR server answered HTTP ${status} (redirects are not followed)`, status);
        }
        return failure('http-status', `the FHIR server answered HTTP ${status}`, status);
      }
      const text = await readBody(response, this.maxBodyBytes);
      if (text === undefined) {
        return failure('unreadable-body', `the response body is larger than ${this.maxBodyBytes} bytes`, status);
      }
      try {
        return { ok: true, status, body: JSON.parse(text) as unknown };
      } catch {
        return failure('unreadable-body', 'the response body is not JSON', status);
      }
    } catch (error) {
      if (controller.signal.aborted) {
        return timedOut();
      }
      return failure('network', networkMessage(error));
    }
  }
}

/** One searchset Bundle holding `entries`, with duplicates (same type and id, e.g. an include on two pages) dropped. */
function mergeEntries(first: Bundle, entries: BundleEntry[]): Bundle {
  const seen = new Set<string>();
  const kept: BundleEntry[] = [];
  for (const entry of entries) {
    const resource: unknown = entry.resource;
    const type = resourceTypeOf(resource);
    const id = isObject(resource) && typeof resource.id === 'string' ? resource.id : undefined;
    if (type !== undefined && id !== undefined) {
      const key = `${type}/${id}`;
      if (seen.has(key)) {
        continue;
      }
      seen.add(key);
    }
    kept.push(entry);
  }
  const merged: Bundle = { resourceType: 'Bundle', type: first.type ?? 'searchset' };
  if (typeof first.total === 'number') {
    merged.total = first.total;
  }
  if (kept.length > 0) {
    merged.entry = kept;
  }
  return merged;
}
