// The fixture requests (fixtures/fhir/requests) as the demo replay and the end-to-end tests use them: listed and
// named, matched against manifest.json's expectations, and pointed at a running FHIR server.
// Development only (src/dev is excluded from the production build).
import fs from 'node:fs';
import path from 'node:path';

export const FIXTURES_ROOT = path.resolve(__dirname, '..', '..', 'fixtures', 'fhir');
export const REQUESTS_DIR = path.join(FIXTURES_ROOT, 'requests');
export const BUNDLES_DIR = path.join(FIXTURES_ROOT, 'bundles');
export const MANIFEST_FILE = path.join(FIXTURES_ROOT, 'manifest.json');
export const FIXTURES_README = path.join(FIXTURES_ROOT, 'README.md');

type Json = Record<string, unknown>;

/** What manifest.json expects of one service for one story or request. */
export interface ManifestExpectation {
  likelihood: 'likely' | 'needs-documentation' | 'unlikely' | 'not-covered';
  /** The pathway as the fixtures name it (e.g. `000 A.i+ii+iii.A`, `001 relapsed/refractory`); absent when none. */
  pathway?: string;
  why?: string;
}

export interface ManifestStory {
  name: string;
  patientId: string;
  draftOrderId: string;
  cycle: number;
  expected: Record<string, ManifestExpectation>;
  dose: { finding: string; why?: string };
}

export interface ManifestRequest {
  /** Relative to fixtures/fhir, e.g. `requests/adult-dlbcl--full.json`. */
  file: string;
  story: string;
  /** The bundles (relative to fixtures/fhir) the FHIR server must hold for it. */
  bundles?: string[];
  variant: string;
  case?: string;
  draftOrderIds: Array<string | null>;
  governedOrders: number;
  expected: Record<string, ManifestExpectation>;
  absentKeys?: string[];
  operationOutcomeKey?: string;
  medicationReads?: string[];
  note?: string;
}

export interface Manifest {
  services: string[];
  stories: ManifestStory[];
  requests: ManifestRequest[];
}

/** A request file's name split into its parts: `<story>--<variant>.json` or `<patient>--<case>--<variant>.json`. */
export interface RequestName {
  /** The file name, e.g. `adult-dlbcl--none.json`. */
  file: string;
  /** The story the name starts with (for case files, a short patient name: the manifest gives the full story). */
  story: string;
  variant: string;
  case?: string;
}

/** One fixture request, read and parsed. */
export interface FixtureRequest {
  name: RequestName;
  /** The story, from the manifest when it lists the file, else from the name. */
  story: string;
  /** Absolute path. */
  path: string;
  body: Json;
  manifest?: ManifestRequest;
}

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Splits a request file name into story, case and variant.
 * @param file - a file name such as `adult-relapsed--two-orders--full.json`
 */
export function parseRequestFileName(file: string): RequestName {
  const base = path.basename(file).replace(/\.json$/i, '');
  const parts = base.split('--');
  if (parts.length >= 3) {
    return {
      file: path.basename(file),
      story: parts[0] ?? base,
      case: parts.slice(1, -1).join('--'),
      variant: parts[parts.length - 1] ?? '',
    };
  }
  if (parts.length === 2) {
    return { file: path.basename(file), story: parts[0] ?? base, variant: parts[1] ?? '' };
  }
  return { file: path.basename(file), story: base, variant: '' };
}

/**
 * Reads manifest.json; undefined when it is absent or not shaped like a manifest (the demo then runs without
 * expectations).
 * @param file - the manifest (default fixtures/fhir/manifest.json)
 */
export function readManifest(file: string = MANIFEST_FILE): Manifest | undefined {
  let value: unknown;
  try {
    value = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
  if (!isObject(value) || !Array.isArray(value.requests) || !Array.isArray(value.stories)) {
    return undefined;
  }
  const services = Array.isArray(value.services)
    ? value.services.filter((s): s is string => typeof s === 'string')
    : [];
  const requests = value.requests.filter(
    (r): r is ManifestRequest => isObject(r) && typeof r.file === 'string' && isObject(r.expected)
  );
  const stories = value.stories.filter(
    (s): s is ManifestStory => isObject(s) && typeof s.name === 'string' && isObject(s.expected)
  );
  return { services, stories, requests };
}

/**
 * Lists the request files (`*.json`) of a directory, in name order, keeping those whose name contains any of
 * `filters` (all of them when there is none).
 * @param dir - the requests directory
 * @param filters - substrings of file names
 */
export function listRequestFiles(dir: string = REQUESTS_DIR, filters: readonly string[] = []): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith('.json'))
    .map((e) => e.name)
    .filter((name) => filters.length === 0 || filters.some((f) => name.includes(f)))
    .sort();
}

/**
 * Reads the fixture requests.
 * @param opts - directory, file-name filters, and the manifest to attach expectations from
 * @throws Error naming the file when one is not a JSON object
 */
export function loadFixtureRequests(
  opts: { dir?: string; filters?: readonly string[]; manifest?: Manifest } = {}
): FixtureRequest[] {
  const dir = opts.dir ?? REQUESTS_DIR;
  const byFile = new Map((opts.manifest?.requests ?? []).map((r) => [path.basename(r.file), r]));
  return listRequestFiles(dir, opts.filters).map((file) => {
    const full = path.join(dir, file);
    let body: unknown;
    try {
      body = JSON.parse(fs.readFileSync(full, 'utf8'));
    } catch (e) {
      throw new Error(`${full} is not valid JSON: ${e instanceof Error ? e.message : String(e)}`);
    }
    if (!isObject(body)) {
      throw new Error(`${full} is not a JSON object`);
    }
    const name = parseRequestFileName(file);
    const manifest = byFile.get(file);
    const request: FixtureRequest = { name, story: manifest?.story ?? name.story, path: full, body };
    if (manifest) {
      request.manifest = manifest;
    }
    return request;
  });
}

/**
 * A deep copy of a request whose `fhirServer`, when it has one, is `fhirUrl` (the fixtures name a placeholder
 * server); a request without `fhirServer` keeps none.
 * @param body - the request as stored
 * @param fhirUrl - the running FHIR server's base URL
 */
export function pointAtFhirServer<T extends Json>(body: T, fhirUrl: string): T {
  const copy = structuredClone(body);
  if (typeof copy.fhirServer === 'string') {
    (copy as Json).fhirServer = fhirUrl;
  }
  return copy;
}

/**
 * Whether the contract expects 412 for this request even with a working FHIR server elsewhere: the request has no
 * `fhirServer` and some declared prefetch key is absent or an OperationOutcome, or a draft order names a
 * `Medication/{id}` that no prefetch holds. (Whether an order is governed is not predicted: a 200 is accepted too.)
 * @param body - the request as sent
 * @param prefetchTemplates - the service's declared prefetch (discovery)
 */
export function expectsPreconditionFailed(body: Json, prefetchTemplates: Readonly<Record<string, unknown>>): boolean {
  const server = body.fhirServer;
  if (typeof server === 'string' && server.trim() !== '') {
    return false;
  }
  const prefetch = isObject(body.prefetch) ? body.prefetch : {};
  const keyMissing = Object.keys(prefetchTemplates).some((key) => {
    if (!(key in prefetch)) {
      return true;
    }
    const value = prefetch[key];
    return isObject(value) && value.resourceType === 'OperationOutcome';
  });
  if (keyMissing) {
    return true;
  }
  const prefetched = new Set<string>();
  for (const value of Object.values(prefetch)) {
    const entries = isObject(value) && Array.isArray(value.entry) ? value.entry : [];
    for (const entry of entries) {
      const resource = isObject(entry) ? entry.resource : undefined;
      if (isObject(resource) && resource.resourceType === 'Medication' && typeof resource.id === 'string') {
        prefetched.add(`Medication/${resource.id}`);
      }
    }
  }
  const context = isObject(body.context) ? body.context : {};
  const draftOrders = isObject(context.draftOrders) ? context.draftOrders : {};
  const entries = Array.isArray(draftOrders.entry) ? draftOrders.entry : [];
  return entries.some((entry) => {
    const resource = isObject(entry) ? entry.resource : undefined;
    const reference = isObject(resource) && isObject(resource.medicationReference) ? resource.medicationReference : {};
    const ref = reference.reference;
    return typeof ref === 'string' && /^Medication\/[^/]+$/.test(ref) && !prefetched.has(ref);
  });
}
