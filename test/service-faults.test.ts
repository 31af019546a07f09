// FHIR faults through the whole service (issue 5): a real local FHIR server that misbehaves (slower than the
// timeout, 500, 404, 401, malformed JSON, an OperationOutcome, next links, a connection reset) behind the real HTTP
// layer and pipeline. Every call returns within the deadline + 500 ms with the contract's status (412 naming each key
// that could not be fetched; a read answered 404 is no data), and the bearer token never reaches the log.
import { ERROR_SYSTEM } from '../src/errors';
import { searchset, startScriptedServer, pathOf, type Behavior, type ScriptedServer } from './helpers/fhir-servers';
import { fixtureRequest, fixtureResources, startLiveApp, type LiveAnswer, type LiveApp } from './helpers/live-app';

const TOKEN = 'fault-test-token-5c1e9b';
const SERVICE = 'blinatumomab-mmm';
const TIMEOUT_MS = 400;
const DEADLINE_MS = 1200;
/** The service's keys and the path each is fetched from. */
const KEYS: Record<string, string> = {
  patient: '/Patient/relapsed-patient',
  coverage: '/Coverage',
  medicationRequests: '/MedicationRequest',
  conditions: '/Condition',
  observations: '/Observation',
  carePlans: '/CarePlan',
};

const resources = fixtureResources('adult-relapsed-ph-neg-cycle1-stepup.json');
const ofType = (type: string): never[] => [...resources.values()].filter((r) => r['resourceType'] === type) as never[];

let fhir: ScriptedServer;
let live: LiveApp;
/** Per-path overrides for the current test; everything else answers like a healthy server. */
let faults: Record<string, Behavior | ((query: URLSearchParams) => Behavior)> = {};

function healthy(path: string): Behavior {
  const [type, id] = path.split('/').filter((s) => s !== '');
  if (type && id) {
    const r = resources.get(`${type}/${id}`);
    return r ? { kind: 'json', body: r } : { kind: 'json', status: 404, body: { resourceType: 'OperationOutcome' } };
  }
  return { kind: 'json', body: searchset(ofType(type ?? '')) };
}

beforeAll(async () => {
  fhir = await startScriptedServer((req) => {
    const path = pathOf(req);
    const fault = faults[path];
    if (typeof fault === 'function') {
      return fault(new URL(req.url, 'http://x').searchParams);
    }
    return fault ?? healthy(path);
  });
  live = await startLiveApp({
    CDS_FHIR_ALLOWLIST: fhir.base,
    CDS_FHIR_TIMEOUT_MS: String(TIMEOUT_MS),
    CDS_DEADLINE_MS: String(DEADLINE_MS),
    CDS_FHIR_MAX_PAGES: '3',
  });
}, 60000);

afterAll(async () => {
  await live?.close();
  await fhir?.close();
});

beforeEach(() => {
  faults = {};
  fhir.requests.length = 0;
});

/** The relapsed adult's request with no prefetch (every key fetched), or with a medication reference to read. */
function call(fixture = 'adult-relapsed-ph-neg-cycle1-stepup--none.json'): Promise<LiveAnswer> {
  const request = fixtureRequest(fixture);
  request['fhirServer'] = fhir.base;
  request['fhirAuthorization'] = { ...(request['fhirAuthorization'] as object), access_token: TOKEN };
  return live.request({
    path: `/cds-services/${SERVICE}`,
    body: JSON.stringify(request),
    headers: { 'content-type': 'application/json' },
  });
}

interface Issue {
  code: string;
  details: { coding: Array<{ system: string; code: string }> };
  expression?: string[];
  diagnostics?: string;
}

/** Asserts the answer is 412 naming exactly `keys` (prefetch-unavailable), and returns the issues. */
function expect412(answer: LiveAnswer, keys: string[], code = 'prefetch-unavailable'): Issue[] {
  expect(answer.status).toBe(412);
  const outcome = JSON.parse(answer.body) as { resourceType: string; issue: Issue[] };
  expect(outcome.resourceType).toBe('OperationOutcome');
  for (const issue of outcome.issue) {
    expect(issue.code).toBe('processing');
    expect(issue.details.coding).toEqual([{ system: ERROR_SYSTEM, code }]);
  }
  if (code === 'prefetch-unavailable') {
    expect(outcome.issue.map((i) => i.expression?.[0]).sort()).toEqual(keys.map((k) => `prefetch.${k}`).sort());
  }
  expect(answer.body).not.toContain(TOKEN);
  return outcome.issue;
}

function expectInTime(answer: LiveAnswer): void {
  expect(answer.elapsedMs).toBeLessThan(DEADLINE_MS + 500);
}

describe('a misbehaving FHIR server', () => {
  it('healthy baseline: 200 with a coverage card, every request carrying the bearer token', async () => {
    const answer = await call();
    expect(answer.status).toBe(200);
    const body = JSON.parse(answer.body) as { cards: unknown[] };
    expect(body.cards.length).toBeGreaterThan(0);
    expect(fhir.requests.length).toBe(Object.keys(KEYS).length);
    expect(fhir.requests.every((r) => r.authorization === `Bearer ${TOKEN}`)).toBe(true);
  });

  it('slower than the timeout: 412 for that key only, answered in time', async () => {
    faults[KEYS['observations']!] = { kind: 'json', delayMs: TIMEOUT_MS * 5, body: searchset([]) };
    const answer = await call();
    const [issue] = expect412(answer, ['observations']);
    expect(issue?.diagnostics).toMatch(/no answer within 400 ms/);
    expectInTime(answer);
  });

  it('never answering at all, on every key: 412 for every key, within the deadline + 500 ms', async () => {
    for (const path of Object.values(KEYS)) {
      faults[path] = { kind: 'stall-headers' };
    }
    const answer = await call();
    expect412(answer, Object.keys(KEYS));
    expectInTime(answer);
  });

  it('a body that stops half way: 412, in time', async () => {
    faults[KEYS['conditions']!] = { kind: 'stall-body' };
    const answer = await call();
    expect412(answer, ['conditions']);
    expectInTime(answer);
  });

  it.each([
    ['500', 'conditions', { kind: 'json', status: 500, body: { resourceType: 'OperationOutcome' } }, /HTTP 500/],
    ['401', 'coverage', { kind: 'json', status: 401, body: { resourceType: 'OperationOutcome' } }, /HTTP 401/],
    ['403', 'carePlans', { kind: 'json', status: 403, body: {} }, /HTTP 403/],
    ['404 on a search', 'observations', { kind: 'json', status: 404, body: {} }, /HTTP 404/],
    ['401 on the read', 'patient', { kind: 'json', status: 401, body: {} }, /HTTP 401/],
    ['malformed JSON', 'medicationRequests', { kind: 'raw', body: '{"resourceType":"Bundle","entry":[' }, /not JSON/],
    ['an HTML page', 'coverage', { kind: 'raw', body: '<html>login</html>', contentType: 'text/html' }, /not JSON/],
    [
      'an OperationOutcome',
      'carePlans',
      { kind: 'json', body: { resourceType: 'OperationOutcome', issue: [] } },
      /OperationOutcome/,
    ],
    [
      'another resource type',
      'patient',
      { kind: 'json', body: { resourceType: 'Observation', id: 'x' } },
      /other than a Patient/,
    ],
    ['a connection reset', 'observations', { kind: 'reset' }, /could not reach/],
    [
      'a redirect',
      'conditions',
      { kind: 'redirect', location: 'http://127.0.0.1:9/fhir/Condition' },
      /redirects are not followed/,
    ],
  ] as Array<[string, string, Behavior, RegExp]>)('%s: 412 naming %s', async (_name, key, behavior, message) => {
    faults[KEYS[key]!] = behavior;
    const answer = await call();
    const [issue] = expect412(answer, [key]);
    expect(issue?.diagnostics).toMatch(message);
    expectInTime(answer);
  });

  it('a read answered 404 is no data, not a failure: 200', async () => {
    faults[KEYS['patient']!] = { kind: 'json', status: 404, body: { resourceType: 'OperationOutcome', issue: [] } };
    const answer = await call();
    expect(answer.status).toBe(200);
    expect((JSON.parse(answer.body) as { cards: unknown[] }).cards.length).toBeGreaterThan(0);
  });

  it('a Bundle with next links: every page is fetched with the token, and the call succeeds', async () => {
    const observations = ofType('Observation');
    faults[KEYS['observations']!] = (query) => {
      const page = Number(query.get('page') ?? '1');
      const next = page < 3 ? `${fhir.base}/Observation?page=${page + 1}` : undefined;
      return {
        kind: 'json',
        body: searchset(
          observations.filter((_, i) => i % 3 === page - 1),
          next
        ),
      };
    };
    const answer = await call();
    expect(answer.status).toBe(200);
    const pages = fhir.requests.filter((r) => pathOf(r) === '/Observation');
    expect(pages).toHaveLength(3);
    expect(pages.every((r) => r.authorization === `Bearer ${TOKEN}`)).toBe(true);
    // The evidence found on the later pages is used (the relapse status is on page 2 or 3 or 1: all are merged).
    const card = (JSON.parse(answer.body) as { cards: Array<{ extension?: Record<string, { likelihood?: string }> }> })
      .cards[0];
    expect(card?.extension?.['coverage-assessment']?.likelihood).toBe('likely');
  });

  it('next links beyond CDS_FHIR_MAX_PAGES: 412 for that key', async () => {
    faults[KEYS['conditions']!] = (query) => {
      const page = Number(query.get('page') ?? '1');
      return { kind: 'json', body: searchset([], `${fhir.base}/Condition?page=${page + 1}`) };
    };
    const answer = await call();
    const [issue] = expect412(answer, ['conditions']);
    expect(issue?.diagnostics).toMatch(/more than 3 pages/);
  });

  it('a next link to a server outside the allowlist is never followed: 412, no connection made', async () => {
    const outside = await startScriptedServer(() => ({ kind: 'json', body: searchset([]) }));
    try {
      faults[KEYS['conditions']!] = { kind: 'json', body: searchset([], `${outside.base}/Condition?page=2`) };
      const answer = await call();
      expect412(answer, ['conditions']);
      expect(outside.connections).toBe(0);
    } finally {
      await outside.close();
    }
  });

  it('each request in time but the chain too long: the call deadline cuts it, 412 within the deadline + 500 ms', async () => {
    const slow = TIMEOUT_MS - 50;
    faults['/Medication/blincyto-35mcg'] = {
      kind: 'json',
      delayMs: slow,
      body: resources.get('Medication/blincyto-35mcg'),
    };
    faults[KEYS['observations']!] = (query) => {
      const page = Number(query.get('page') ?? '1');
      return {
        kind: 'json',
        delayMs: slow,
        body: searchset([], page < 3 ? `${fhir.base}/Observation?page=${page + 1}` : undefined),
      };
    };
    const answer = await call('adult-relapsed--medication-reference-fetch--none.json');
    const [issue] = expect412(answer, ['observations']);
    expect(issue?.diagnostics).toMatch(/deadline/);
    expect(answer.elapsedMs).toBeGreaterThanOrEqual(DEADLINE_MS - 100);
    expectInTime(answer);
  });

  it('every key failing a different way at once: one issue per key, in time', async () => {
    faults[KEYS['patient']!] = { kind: 'json', status: 500, body: {} };
    faults[KEYS['coverage']!] = { kind: 'json', status: 401, body: {} };
    faults[KEYS['medicationRequests']!] = { kind: 'raw', body: 'not json' };
    faults[KEYS['conditions']!] = { kind: 'reset' };
    faults[KEYS['observations']!] = { kind: 'stall-headers' };
    faults[KEYS['carePlans']!] = { kind: 'json', body: { resourceType: 'OperationOutcome', issue: [] } };
    const answer = await call();
    expect412(answer, Object.keys(KEYS));
    expectInTime(answer);
  });

  describe('the Medication read that decides governance', () => {
    const fixture = 'adult-relapsed--medication-reference-fetch--none.json';

    it.each([
      ['500', { kind: 'json', status: 500, body: {} }],
      ['slower than the timeout', { kind: 'json', delayMs: TIMEOUT_MS * 5, body: {} }],
      ['a connection reset', { kind: 'reset' }],
      ['malformed JSON', { kind: 'raw', body: '{' }],
    ] as Array<[string, Behavior]>)('%s: 412 medication-unavailable, in time', async (_name, behavior) => {
      faults['/Medication/blincyto-35mcg'] = behavior;
      const answer = await call(fixture);
      const [issue] = expect412(answer, [], 'medication-unavailable');
      expect(issue?.expression).toEqual(['context.draftOrders.entry[0].resource.medicationReference']);
      expectInTime(answer);
    });

    it('404: the order is not governed, {"cards": []}, and nothing else is fetched', async () => {
      faults['/Medication/blincyto-35mcg'] = { kind: 'json', status: 404, body: {} };
      const answer = await call(fixture);
      expect(answer.status).toBe(200);
      expect(answer.body).toBe('{"cards":[]}');
      expect(fhir.requests.map((r) => pathOf(r))).toEqual(['/Medication/blincyto-35mcg']);
    });

    it('healthy: the Medication is read, then the data, and the call succeeds', async () => {
      const answer = await call(fixture);
      expect(answer.status).toBe(200);
      expect(fhir.requests[0] && pathOf(fhir.requests[0])).toBe('/Medication/blincyto-35mcg');
    });
  });

  it('never wrote the bearer token to the log, though every FHIR request carried it', () => {
    const text = live.logText();
    expect(text.length).toBeGreaterThan(0);
    expect(text).not.toContain(TOKEN);
    // The 412 lines name the keys and the reasons, so the log is useful without the token.
    const lines = live.logs().filter((l) => l['msg'] === 'service call' && l['status'] === 412);
    expect(lines.length).toBeGreaterThan(10);
    expect(lines.every((l) => Array.isArray(l['errorCodes']))).toBe(true);
  });
});
