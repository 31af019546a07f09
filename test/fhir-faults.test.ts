// A misbehaving FHIR server (slow, 500, 404, 401, malformed JSON, OperationOutcome, next links, connection reset,
// redirect): each fault gives the contract's result (a value, null, or 412 for the key) and nothing hangs.
import { HttpError } from '../src/errors';
import { parseAllowlist, type AllowlistEntry } from '../src/fhir/allowlist';
import { openFhirSession, type FhirSessionOptions } from '../src/fhir/client';
import { gatherData } from '../src/hooks/prefetch';
import type { PrefetchData } from '../src/hooks/types';
import {
  buildRequest,
  buildTestService,
  makeCallContext,
  pathOf,
  searchset,
  startScriptedServer,
  type Behavior,
  type ScriptedServer,
} from './helpers/fhir-servers';

const TOKEN = 'tok-never-logged-7f3a';
const service = buildTestService({
  patient: 'Patient/{{context.patientId}}',
  coverage: 'Coverage?patient={{context.patientId}}&status=active',
});

const outcomeBody = { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'exception' }] };
const coverage = {
  resourceType: 'Coverage',
  id: 'cov-1',
  status: 'active',
  beneficiary: { reference: 'Patient/pat-fb' },
  payor: [{ display: 'P' }],
};

/** Per-path behaviours for the main server; anything else is a 404. */
let routes: Record<string, Behavior | ((query: URLSearchParams) => Behavior)> = {};
let main: ScriptedServer;
/** A second loopback server: allowlisted or not depending on the test. */
let other: ScriptedServer;

beforeAll(async () => {
  main = await startScriptedServer((req) => {
    const route = routes[pathOf(req)];
    const query = new URL(req.url, 'http://x').searchParams;
    if (typeof route === 'function') {
      return route(query);
    }
    return route ?? { kind: 'json', status: 404, body: outcomeBody };
  });
  other = await startScriptedServer(() => ({
    kind: 'json',
    body: searchset([{ ...coverage, id: 'cov-other' } as never]),
  }));
});

afterAll(async () => {
  await main.close();
  await other.close();
});

beforeEach(() => {
  routes = {
    '/Patient/pat-fb': { kind: 'json', body: { resourceType: 'Patient', id: 'pat-fb' } },
    '/Coverage': { kind: 'json', body: searchset([coverage as never]) },
  };
  main.requests.length = 0;
  other.requests.length = 0;
});

/** Only the main server (its exact port) is allowlisted unless a test says otherwise. */
function mainOnly(): AllowlistEntry[] {
  return parseAllowlist(main.origin);
}

interface RunOptions extends Partial<FhirSessionOptions> {
  deadlineMs?: number;
  prefetch?: Record<string, unknown>;
}

async function run(opts: RunOptions = {}): Promise<{ data?: PrefetchData; error?: HttpError; elapsed: number }> {
  const deadlineMs = opts.deadlineMs ?? 4000;
  const ctx = makeCallContext(deadlineMs);
  const request = buildRequest({ fhirServer: main.base, token: TOKEN, prefetch: opts.prefetch });
  const session = openFhirSession(request, {
    allowlist: opts.allowlist ?? mainOnly(),
    timeoutMs: opts.timeoutMs ?? 1500,
    maxPages: opts.maxPages ?? 5,
    deadline: ctx.deadline,
    ...(opts.maxBodyBytes !== undefined ? { maxBodyBytes: opts.maxBodyBytes } : {}),
  });
  const started = Date.now();
  try {
    const data = await gatherData(service.definition.prefetch, request, session, ctx);
    return { data, elapsed: Date.now() - started };
  } catch (error) {
    if (!(error instanceof HttpError)) {
      throw error;
    }
    expect(JSON.stringify(error.toOperationOutcome())).not.toContain(TOKEN);
    return { error, elapsed: Date.now() - started };
  }
}

function coverageIssue(result: { error?: HttpError }): string {
  expect(result.error?.status).toBe(412);
  const issue = result.error?.issues.find((i) => i.expression === 'prefetch.coverage');
  expect(issue?.code).toBe('prefetch-unavailable');
  return issue?.message ?? '';
}

describe('answers the contract expects', () => {
  it('baseline: a healthy server gives the data, with the bearer token', async () => {
    const { data } = await run();
    expect(data?.patient).toEqual({ resourceType: 'Patient', id: 'pat-fb' });
    expect(data?.coverage).toMatchObject({ resourceType: 'Bundle', entry: [{ resource: { id: 'cov-1' } }] });
    expect(main.requests.map((r) => r.authorization)).toEqual([`Bearer ${TOKEN}`, `Bearer ${TOKEN}`]);
    expect(main.requests.find((r) => pathOf(r) === '/Coverage')?.url).toBe(
      '/fhir/Coverage?patient=pat-fb&status=active'
    );
  });

  it('a read answered 404 or 410 is null', async () => {
    routes['/Patient/pat-fb'] = { kind: 'json', status: 404, body: outcomeBody };
    expect((await run()).data?.patient).toBeNull();
    routes['/Patient/pat-fb'] = { kind: 'json', status: 410, body: outcomeBody };
    expect((await run()).data?.patient).toBeNull();
  });

  it.each([
    [500, /HTTP 500/],
    [401, /HTTP 401/],
    [403, /HTTP 403/],
    [404, /HTTP 404/],
    [201, /HTTP 201/],
  ])('a search answered %i is a failure', async (status, message) => {
    routes['/Coverage'] = { kind: 'json', status, body: searchset([]) };
    const result = await run();
    expect(coverageIssue(result)).toMatch(message);
    expect(result.error?.issues).toHaveLength(1);
  });

  it('a read answered 500 or 401 is a failure', async () => {
    routes['/Patient/pat-fb'] = { kind: 'json', status: 401, body: outcomeBody };
    const result = await run();
    expect(result.error?.issues.map((i) => i.expression)).toEqual(['prefetch.patient']);
    expect(result.error?.issues[0]?.message).toMatch(/HTTP 401/);
  });

  it('malformed JSON is unreadable', async () => {
    routes['/Coverage'] = { kind: 'raw', body: '{"resourceType":"Bundle", "entry": [' };
    expect(coverageIssue(await run())).toMatch(/not JSON/);
  });

  it('an HTML error page with 200 is unreadable', async () => {
    routes['/Coverage'] = { kind: 'raw', body: '<html>oops</html>', contentType: 'text/html' };
    expect(coverageIssue(await run())).toMatch(/not JSON/);
  });

  it('an OperationOutcome answering a search is a failure', async () => {
    routes['/Coverage'] = { kind: 'json', body: outcomeBody };
    expect(coverageIssue(await run())).toMatch(/OperationOutcome/);
  });

  it('a read answered with another resource type is a failure', async () => {
    routes['/Patient/pat-fb'] = { kind: 'json', body: { resourceType: 'Observation', id: 'x' } };
    const result = await run();
    expect(result.error?.issues.map((i) => i.expression)).toEqual(['prefetch.patient']);
  });

  it('a body larger than the limit is unreadable', async () => {
    routes['/Coverage'] = {
      kind: 'json',
      body: searchset(Array.from({ length: 50 }, (_, i) => ({ ...coverage, id: `c${i}` }) as never)),
    };
    expect(coverageIssue(await run({ maxBodyBytes: 1000 }))).toMatch(/larger than 1000 bytes/);
  });

  it('a connection reset is a failure', async () => {
    routes['/Coverage'] = { kind: 'reset' };
    expect(coverageIssue(await run())).toMatch(/could not reach the FHIR server/);
  });

  it('a redirect is not followed', async () => {
    routes['/Coverage'] = { kind: 'redirect', status: 302, location: `${other.base}/Coverage` };
    const result = await run({ allowlist: parseAllowlist(`${main.origin},${other.origin}`) });
    expect(coverageIssue(result)).toMatch(/HTTP 302.*redirects are not followed/);
    expect(other.requests).toHaveLength(0);
  });
});

describe('timeouts and the deadline', () => {
  it('a server that never answers times out after the per-request timeout', async () => {
    routes['/Coverage'] = { kind: 'stall-headers' };
    const result = await run({ timeoutMs: 300 });
    expect(coverageIssue(result)).toMatch(/no answer within 300 ms/);
    expect(result.elapsed).toBeLessThan(300 + 500);
    expect(result.error?.issues).toHaveLength(1);
  });

  it('a body that stops half way times out too', async () => {
    routes['/Coverage'] = { kind: 'stall-body' };
    const result = await run({ timeoutMs: 300 });
    expect(coverageIssue(result)).toMatch(/no answer within 300 ms/);
    expect(result.elapsed).toBeLessThan(300 + 500);
  });

  it('a slow answer is cut at the call deadline when it comes before the timeout', async () => {
    routes['/Coverage'] = { kind: 'json', body: searchset([]), delayMs: 3000 };
    routes['/Patient/pat-fb'] = { kind: 'json', body: { resourceType: 'Patient', id: 'pat-fb' }, delayMs: 3000 };
    const result = await run({ timeoutMs: 1500, deadlineMs: 400 });
    expect(coverageIssue(result)).toMatch(/call deadline/);
    expect(result.error?.issues).toHaveLength(2);
    expect(result.elapsed).toBeLessThan(400 + 500);
  });

  it('keys are fetched in parallel: two stalled keys cost one timeout, not two', async () => {
    routes['/Coverage'] = { kind: 'stall-headers' };
    routes['/Patient/pat-fb'] = { kind: 'stall-headers' };
    const result = await run({ timeoutMs: 400 });
    expect(result.error?.issues).toHaveLength(2);
    expect(result.elapsed).toBeLessThan(400 + 300);
  });

  it('no request starts after the deadline has passed', async () => {
    const result = await run({ deadlineMs: -1 });
    expect(coverageIssue(result)).toMatch(/deadline/);
    expect(main.requests).toHaveLength(0);
  });

  it('a next page that stalls times out within the deadline', async () => {
    routes['/Coverage'] = (query) =>
      query.get('page') === '2'
        ? { kind: 'stall-headers' }
        : { kind: 'json', body: searchset([coverage as never], 'Coverage?page=2') };
    const result = await run({ timeoutMs: 1500, deadlineMs: 500 });
    expect(coverageIssue(result)).toMatch(/call deadline/);
    expect(result.elapsed).toBeLessThan(500 + 500);
  });
});

describe('next links', () => {
  it('follows relative and absolute next links and merges the pages, sending the token on each', async () => {
    routes['/Coverage'] = (query) => {
      const page = query.get('page') ?? '1';
      const entry = { ...coverage, id: `cov-p${page}` } as never;
      if (page === '1') {
        return { kind: 'json', body: searchset([entry], 'Coverage?patient=pat-fb&page=2') };
      }
      if (page === '2') {
        return { kind: 'json', body: searchset([entry], `${main.base}/Coverage?page=3`) };
      }
      return { kind: 'json', body: searchset([entry]) };
    };
    const { data } = await run();
    const bundle = data?.coverage as { entry: Array<{ resource: { id: string } }>; link?: unknown };
    expect(bundle.entry.map((e) => e.resource.id)).toEqual(['cov-p1', 'cov-p2', 'cov-p3']);
    expect(bundle.link).toBeUndefined();
    const coverageRequests = main.requests.filter((r) => pathOf(r) === '/Coverage');
    expect(coverageRequests).toHaveLength(3);
    expect(coverageRequests.every((r) => r.authorization === `Bearer ${TOKEN}`)).toBe(true);
  });

  it('a next link that loops forever stops at the page cap with 412', async () => {
    routes['/Coverage'] = { kind: 'json', body: searchset([coverage as never], 'Coverage?again=1') };
    const result = await run({ maxPages: 3 });
    expect(coverageIssue(result)).toMatch(/more than 3 pages/);
    expect(main.requests.filter((r) => pathOf(r) === '/Coverage')).toHaveLength(3);
  });

  it('a next link to a server off the allowlist gets no connection and gives 412', async () => {
    routes['/Coverage'] = { kind: 'json', body: searchset([coverage as never], `${other.base}/Coverage?page=2`) };
    const connections = other.connections;
    const result = await run();
    expect(coverageIssue(result)).toMatch(/not allowed by CDS_FHIR_ALLOWLIST/);
    expect(other.connections).toBe(connections);
  });

  it('a next link with userinfo is not usable', async () => {
    routes['/Coverage'] = {
      kind: 'json',
      body: searchset([coverage as never], `http://user:pw@${main.origin.slice(7)}/fhir/Coverage?page=2`),
    };
    expect(coverageIssue(await run())).toMatch(/not allowed/);
    expect(main.requests.filter((r) => pathOf(r) === '/Coverage')).toHaveLength(1);
  });

  it('the token goes only to the fhirServer origin, not to another allowlisted host', async () => {
    routes['/Coverage'] = { kind: 'json', body: searchset([coverage as never], `${other.base}/Coverage?page=2`) };
    const { data } = await run({ allowlist: parseAllowlist(`${main.origin},${other.origin}`) });
    expect((data?.coverage as { entry: unknown[] }).entry).toHaveLength(2);
    expect(other.requests).toHaveLength(1);
    expect(other.requests[0]?.authorization).toBeUndefined();
  });

  it('follows the next link of a prefetched Bundle against the same server', async () => {
    routes['/Coverage'] = { kind: 'json', body: searchset([{ ...coverage, id: 'cov-page-2' } as never]) };
    const prefetched = searchset([coverage as never], `${main.base}/Coverage?page=2`);
    const { data } = await run({ prefetch: { coverage: prefetched, patient: null } });
    expect((data?.coverage as { entry: Array<{ resource: { id: string } }> }).entry.map((e) => e.resource.id)).toEqual([
      'cov-1',
      'cov-page-2',
    ]);
    expect(main.requests.map((r) => r.url)).toEqual(['/fhir/Coverage?page=2']);
  });
});
