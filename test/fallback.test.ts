// gatherData against the embedded Medplum FHIR server over real HTTP (contract section 3, "Fetching"): every state of
// a prefetch key, paging, the page cap, the allowlist, and governance through a fetched Medication.
import path from 'node:path';
import type { Bundle, FhirResource } from 'fhir/r4';
import { startFhirServer, type RunningFhirServer } from '../src/dev/fhir-server';
import { HttpError } from '../src/errors';
import { openFhirSession, type FhirSession } from '../src/fhir/client';
import { parseAllowlist } from '../src/fhir/allowlist';
import { findGovernedOrders } from '../src/hooks/governance';
import { gatherData } from '../src/hooks/prefetch';
import type { HookRequest, PrefetchData } from '../src/hooks/types';
import {
  LOOPBACK_ALLOWLIST,
  PREFETCH_TEMPLATES,
  buildRequest,
  buildTestService,
  makeCallContext,
  referenceOrder,
  searchset,
} from './helpers/fhir-servers';

const FIXTURES = path.join(__dirname, 'fixtures', 'embedded-fhir');
const service = buildTestService();
let fhir: RunningFhirServer;

beforeAll(async () => {
  // Three entries per page: the 8 matching Observations take three pages.
  fhir = await startFhirServer({ fixturesDir: FIXTURES, pageSize: 3 });
});

afterAll(async () => {
  await fhir.close();
});

beforeEach(() => {
  fhir.requests.length = 0;
});

function sessionFor(request: HookRequest, maxPages = 5): FhirSession | undefined {
  return openFhirSession(request, {
    allowlist: LOOPBACK_ALLOWLIST,
    timeoutMs: 1500,
    maxPages,
    deadline: Date.now() + 4000,
  });
}

async function gather(request: HookRequest, maxPages = 5): Promise<PrefetchData> {
  return gatherData(service.definition.prefetch, request, sessionFor(request, maxPages), makeCallContext());
}

async function failure(request: HookRequest, maxPages = 5): Promise<HttpError> {
  const error = await gather(request, maxPages).then(
    () => undefined,
    (e: unknown) => e
  );
  if (!(error instanceof HttpError)) {
    throw new Error('expected an HttpError');
  }
  return error;
}

function ids(value: FhirResource | null | undefined): string[] {
  const bundle = value as Bundle | null | undefined;
  return (bundle?.entry ?? []).map((e) => `${e.resource?.resourceType}/${e.resource?.id}`).sort();
}

function requestsFor(resourceType: string): string[] {
  return fhir.requests.filter((r) => r.includes(`/fhir/${resourceType}`));
}

describe('fetching every absent key from the embedded FHIR server', () => {
  it('returns every declared key, reads and searches filled from context, next links followed', async () => {
    const ctx = makeCallContext();
    const request = buildRequest({ fhirServer: fhir.url });
    const data = await gatherData(service.definition.prefetch, request, sessionFor(request), ctx);

    expect(Object.keys(data).sort()).toEqual(Object.keys(PREFETCH_TEMPLATES).sort());
    expect(data.patient).toMatchObject({ resourceType: 'Patient', id: 'pat-fb' });
    expect(ids(data.coverage)).toEqual(['Coverage/cov-fb']);
    expect(ids(data.carePlans)).toEqual(['CarePlan/cp-active']);
    expect(ids(data.immunizations)).toEqual(['Immunization/imm-flu']);
    expect(ids(data.conditions)).toEqual(['Condition/cond-all']);
    // 7 weights + 1 height + CD19, never the glucose or the other patient's weight; three pages merged.
    expect(ids(data.observations)).toEqual([
      'Observation/obs-cd19',
      'Observation/obs-height',
      ...[1, 2, 3, 4, 5, 6, 7].map((i) => `Observation/obs-weight-${i}`),
    ]);
    expect(requestsFor('Observation')).toHaveLength(3);
    expect((data.observations as Bundle).link).toBeUndefined();
    // _include=MedicationRequest:medication: the history orders and their Medications.
    expect(ids(data.medicationRequests)).toEqual([
      'Medication/med-blin',
      'Medication/med-dex',
      'MedicationRequest/mr-hist-1',
      'MedicationRequest/mr-hist-2',
      'MedicationRequest/mr-hist-3',
    ]);
    const included = (data.medicationRequests as Bundle).entry?.filter((e) => e.search?.mode === 'include') ?? [];
    expect(included).toHaveLength(2);

    expect(ctx.timings['fhir.observations']).toEqual(expect.any(Number));
    expect(ctx.timings.fetchSlowestMs).toBeGreaterThanOrEqual(ctx.timings['fhir.observations']!);
    expect(ctx.timings.fetchSumMs).toBeGreaterThanOrEqual(ctx.timings.fetchSlowestMs!);
  });

  it('gives an empty Bundle (no data, no failure) when a search finds nothing', async () => {
    const data = await gather(buildRequest({ fhirServer: fhir.url, patientId: 'pat-other' }));
    expect(ids(data.carePlans)).toEqual([]);
    expect((data.carePlans as Bundle).resourceType).toBe('Bundle');
    expect(ids(data.coverage)).toEqual(['Coverage/cov-other']);
  });

  it('gives null for a read answered 404', async () => {
    const data = await gather(buildRequest({ fhirServer: fhir.url, patientId: 'nobody' }));
    expect(data.patient).toBeNull();
    expect(ids(data.observations)).toEqual([]);
  });
});

describe('prefetch states (contract section 3)', () => {
  it('uses a prefetch value without fetching it, and returns a copy', async () => {
    const coverage = searchset([
      {
        resourceType: 'Coverage',
        id: 'cov-pf',
        status: 'active',
        beneficiary: { reference: 'Patient/pat-fb' },
        payor: [{ display: 'P' }],
      },
    ]);
    const request = buildRequest({
      fhirServer: fhir.url,
      prefetch: { coverage, patient: { resourceType: 'Patient', id: 'pat-fb' } },
    });
    const before = JSON.stringify(request);
    const data = await gather(request);
    expect(ids(data.coverage)).toEqual(['Coverage/cov-pf']);
    expect(data.patient).toEqual({ resourceType: 'Patient', id: 'pat-fb' });
    expect(requestsFor('Coverage')).toHaveLength(0);
    expect(requestsFor('Patient')).toHaveLength(0);
    expect(requestsFor('Observation').length).toBeGreaterThan(0);
    (data.coverage as Bundle).entry!.length = 0;
    expect(JSON.stringify(request)).toBe(before);
  });

  it('keeps null and an empty search result as no data, without fetching', async () => {
    const request = buildRequest({
      fhirServer: fhir.url,
      prefetch: { patient: null, conditions: null, coverage: searchset([]) },
    });
    const data = await gather(request);
    expect(data.patient).toBeNull();
    expect(data.conditions).toBeNull();
    expect(ids(data.coverage)).toEqual([]);
    expect(requestsFor('Patient')).toHaveLength(0);
    expect(requestsFor('Condition')).toHaveLength(0);
    expect(requestsFor('Coverage')).toHaveLength(0);
  });

  it('fetches a key whose prefetch value is an OperationOutcome, or is not a resource', async () => {
    const request = buildRequest({
      fhirServer: fhir.url,
      prefetch: {
        coverage: { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'timeout' }] },
        conditions: 'garbage',
      },
    });
    const data = await gather(request);
    expect(ids(data.coverage)).toEqual(['Coverage/cov-fb']);
    expect(ids(data.conditions)).toEqual(['Condition/cond-all']);
    expect(requestsFor('Coverage')).toHaveLength(1);
  });

  it('follows the next link of a prefetched first page and merges the pages', async () => {
    const firstPage = (await (
      await fetch(
        `${fhir.url}/Observation?patient=pat-fb&code=${encodeURIComponent(PREFETCH_TEMPLATES.observations!.split('code=')[1]!)}`
      )
    ).json()) as Bundle;
    expect(firstPage.entry).toHaveLength(3);
    expect(firstPage.link?.some((l) => l.relation === 'next')).toBe(true);
    fhir.requests.length = 0;

    const data = await gather(buildRequest({ fhirServer: fhir.url, prefetch: { observations: firstPage } }));
    expect(ids(data.observations)).toHaveLength(9);
    expect(requestsFor('Observation')).toHaveLength(2);
  });

  it('uses a prefetched page as it is when there is no usable fhirServer', async () => {
    const page = searchset(
      [{ resourceType: 'Observation', id: 'o1', status: 'final', code: {} }],
      `${fhir.url}/Observation?_offset=3`
    );
    const prefetch: Record<string, unknown> = Object.fromEntries(Object.keys(PREFETCH_TEMPLATES).map((k) => [k, null]));
    prefetch.observations = page;
    const data = await gather(buildRequest({ prefetch }));
    expect(ids(data.observations)).toEqual(['Observation/o1']);
    expect((data.observations as Bundle).link?.[0]?.relation).toBe('next');
    expect(fhir.requests).toHaveLength(0);
  });

  it('answers 412 when a next link is left after CDS_FHIR_MAX_PAGES pages', async () => {
    const error = await failure(buildRequest({ fhirServer: fhir.url }), 2);
    expect(error.status).toBe(412);
    expect(error.issues.map((i) => i.expression)).toEqual(['prefetch.observations']);
    expect(error.issues[0]?.message).toMatch(/more than 2 pages/);
    expect(requestsFor('Observation')).toHaveLength(2);
  });

  it('counts a prefetched first page against the page cap', async () => {
    const firstPage = (await (await fetch(`${fhir.url}/Observation?patient=pat-fb`)).json()) as Bundle;
    const error = await failure(buildRequest({ fhirServer: fhir.url, prefetch: { observations: firstPage } }), 1);
    expect(error.issues.map((i) => i.expression)).toEqual(['prefetch.observations']);
  });
});

describe('412 prefetch-unavailable', () => {
  it('names every unobtainable key when there is no fhirServer', async () => {
    const error = await failure(buildRequest({ prefetch: { patient: null, coverage: searchset([]) } }));
    expect(error.status).toBe(412);
    expect(error.issues.map((i) => i.expression).sort()).toEqual(
      [
        'prefetch.carePlans',
        'prefetch.conditions',
        'prefetch.immunizations',
        'prefetch.medicationRequests',
        'prefetch.observations',
      ].sort()
    );
    for (const issue of error.issues) {
      expect(issue.code).toBe('prefetch-unavailable');
      expect(issue.message).toMatch(/no fhirServer/);
    }
    const outcome = error.toOperationOutcome();
    expect(outcome.issue[0]?.code).toBe('processing');
  });

  it('makes no connection to a fhirServer that is not allowlisted', async () => {
    const request = buildRequest({ fhirServer: fhir.url });
    const allowlist = parseAllowlist('http://127.0.0.1:1/fhir');
    const session = openFhirSession(request, { allowlist, timeoutMs: 1500, maxPages: 5, deadline: Date.now() + 4000 });
    expect(session).toBeUndefined();
    const error = await gatherData(service.definition.prefetch, request, session, makeCallContext()).then(
      () => undefined,
      (e: unknown) => e as HttpError
    );
    expect(error?.status).toBe(412);
    expect(error?.issues).toHaveLength(Object.keys(PREFETCH_TEMPLATES).length);
    expect(error?.issues[0]?.message).toMatch(/not allowed by CDS_FHIR_ALLOWLIST/);
    expect(fhir.requests).toHaveLength(0);
  });

  it('cannot fetch a template that still holds a token', async () => {
    const custom = buildTestService({ ...PREFETCH_TEMPLATES, encounter: 'Encounter/{{context.encounterId}}' });
    const request = buildRequest({ fhirServer: fhir.url });
    const error = await gatherData(custom.definition.prefetch, request, sessionFor(request), makeCallContext()).then(
      () => undefined,
      (e: unknown) => e as HttpError
    );
    expect(error?.issues).toEqual([
      expect.objectContaining({
        expression: 'prefetch.encounter',
        message: expect.stringMatching(/\{\{context\.encounterId\}\}/),
      }),
    ]);
  });
});

describe('governance then gathering, end to end', () => {
  it('governs an order through a Medication read from the server, then gathers its data', async () => {
    const request = buildRequest({
      fhirServer: fhir.url,
      orders: [referenceOrder('draft-1', 'Medication/med-blin'), referenceOrder('draft-2', 'Medication/med-dex')],
    });
    const ctx = makeCallContext();
    const session = sessionFor(request);
    const governed = await findGovernedOrders(service, request, session, ctx);
    expect(governed.orders.map((o) => o.order.id)).toEqual(['draft-1']);
    expect(Object.keys(governed.medications).sort()).toEqual(['Medication/med-blin', 'Medication/med-dex']);
    expect(fhir.requests.sort()).toEqual(['GET /fhir/Medication/med-blin', 'GET /fhir/Medication/med-dex']);

    const data = await gatherData(service.definition.prefetch, request, session, ctx);
    expect(ids(data.coverage)).toEqual(['Coverage/cov-fb']);
  });
});
