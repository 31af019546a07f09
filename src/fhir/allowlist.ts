// Which URLs the service may call (contract section 3, "Allowlist"): a `fhirServer`, or any `next` link.
// The rule compares parsed WHATWG URLs and never resolves a name through DNS: an unusable URL gets no lookup and no
// connection, because callers check it before `fetch` is ever reached.

/**
 * One allowlist entry. `protocol` is in WHATWG form (`http:`), `hostname` as WHATWG serialises it (lower case,
 * IPv6 in brackets: `[::1]`), `port` the effective port when the entry states one (absent: any port), and `path`
 * without a trailing slash (`''` for the root, which every path continues).
 */
export interface AllowlistEntry {
  protocol: string;
  hostname: string;
  port?: string;
  path: string;
}

/** The default of `CDS_FHIR_ALLOWLIST` (contract section 1): loopback names on any port. */
export const DEFAULT_FHIR_ALLOWLIST = 'http://localhost,http://127.0.0.1,http://[::1]';

const DEFAULT_PORTS: Record<string, string> = { 'http:': '80', 'https:': '443' };

/**
 * The authority of an absolute URL as written (between `//` and the first `/`, `\`, `?` or `#`), or undefined
 * when there is none. WHATWG treats `\` like `/` in http(s) URLs, so it ends the authority too.
 */
function rawAuthority(text: string): string | undefined {
  const match = /^[A-Za-z][A-Za-z0-9+.-]*:[/\\]{2}([^/\\?#]*)/.exec(text.trim());
  return match ? match[1] : undefined;
}

/** True when the authority as written states a port (`host:8080`, `[::1]:80`); `host:` states none. */
function statesPort(authority: string): boolean {
  const hostPort = authority.slice(authority.lastIndexOf('@') + 1);
  const colon = hostPort.startsWith('[') ? hostPort.indexOf(':', hostPort.indexOf(']')) : hostPort.lastIndexOf(':');
  return colon >= 0 && colon < hostPort.length - 1;
}

function effectivePort(url: URL): string {
  return url.port || DEFAULT_PORTS[url.protocol] || '';
}

function trimTrailingSlashes(path: string): string {
  return path.replace(/\/+$/, '');
}

function parseUrl(text: string): URL | undefined {
  try {
    return new URL(text);
  } catch {
    return undefined;
  }
}

/**
 * Parses a comma-separated list of absolute http(s) URLs into allowlist entries. A blank or missing list gives the
 * default (`http://localhost`, `http://127.0.0.1`, `http://[::1]`, any port). An entry with userinfo, a query, a
 * fragment or another scheme is a configuration error.
 *
 * @param csv - the value of `CDS_FHIR_ALLOWLIST`.
 * @throws Error naming the first invalid entry.
 */
export function parseAllowlist(csv?: string): AllowlistEntry[] {
  const text = csv === undefined || csv.trim() === '' ? DEFAULT_FHIR_ALLOWLIST : csv;
  const entries: AllowlistEntry[] = [];
  for (const raw of text.split(',')) {
    const item = raw.trim();
    if (item === '') {
      continue;
    }
    const url = parseUrl(item);
    const authority = rawAuthority(item);
    if (!url || authority === undefined || !(url.protocol in DEFAULT_PORTS)) {
      throw new Error(`CDS_FHIR_ALLOWLIST: "${item}" is not an absolute http or https URL`);
    }
    if (authority.includes('@') || url.username !== '' || url.password !== '') {
      throw new Error(`CDS_FHIR_ALLOWLIST: "${item}" must not contain userinfo`);
    }
    if (url.search !== '' || url.hash !== '' || item.includes('?') || item.includes('#')) {
      throw new Error(`CDS_FHIR_ALLOWLIST: "${item}" must not contain a query or a fragment`);
    }
    const entry: AllowlistEntry = {
      protocol: url.protocol,
      hostname: url.hostname,
      path: trimTrailingSlashes(url.pathname),
    };
    if (statesPort(authority)) {
      entry.port = effectivePort(url);
    }
    entries.push(entry);
  }
  return entries;
}

/** True when `path` equals `prefix` or continues it after a `/` (`/fhir` allows `/fhir/x`, never `/fhirx`). */
function pathContinues(path: string, prefix: string): boolean {
  return path === prefix || path.startsWith(`${prefix}/`);
}

/**
 * Contract section 3: a URL is usable when, parsed as a WHATWG URL, it has no userinfo, its scheme and host equal
 * an entry's (compared as text, never resolved), its port equals the entry's when the entry states one, and its
 * path equals the entry's or continues it after a `/`.
 *
 * @param url - a `fhirServer` value or a `next` link, absolute.
 * @param allowlist - entries from {@link parseAllowlist}.
 */
export function isUsableUrl(url: string, allowlist: readonly AllowlistEntry[]): boolean {
  if (typeof url !== 'string') {
    return false;
  }
  const parsed = parseUrl(url);
  if (!parsed) {
    return false;
  }
  // WHATWG drops an empty userinfo (`http://@host`); the text as written still counts.
  const authority = rawAuthority(url) ?? '';
  if (authority.includes('@') || parsed.username !== '' || parsed.password !== '') {
    return false;
  }
  const port = effectivePort(parsed);
  const path = parsed.pathname;
  return allowlist.some(
    (entry) =>
      parsed.protocol === entry.protocol &&
      parsed.hostname === entry.hostname &&
      (entry.port === undefined || entry.port === port) &&
      pathContinues(path, entry.path)
  );
}
