import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Bundle } from 'fhir/r4';
import { parseCorsOrigins } from '../config';
import { DEFAULT_FIXTURES_DIR, createFhirApp, startFhirServer, type RunningFhirServer } from './fhir-server';

const FIXTURES = path.join(__dirname, '..', '..', 'test', 'fixtures', 'embedded-fhir');
let fhir: RunningFhirServer;

beforeAll(async () => {
  fhir = await startFhirServer({ fixturesDir: FIXTURES, pageSize: 4 });
});

afterAll(async () => {
  await fhir.close();
});

async function get(relative: string): Promise<{ status: number; type: string | null; body: Bundle }> {
  const response = await fetch(`${fhir.url}/${relative}`);
  return {
    status: response.status,
    type: response.headers.get('content-type'),
    body: (await response.json()) as Bundle,
  };
}

function ids(bundle: Bundle): string[] {
  return (bundle.entry ?? []).map((e) => `${e.resource?.resourceType}/${e.resource?.id}`);
}

describe('embedded FHIR server', () => {
  it('reads fixtures/fhir/bundles by default', () => {
    expect(DEFAULT_FIXTURES_DIR).toBe(path.resolve(__dirname, '..', '..', 'fixtures', 'fhir', 'bundles'));
  });

  it('loads transaction and collection Bundles', () => {
    expect(fhir.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/fhir$/);
    expect(fhir.report.files).toEqual(['pat-fb-relapsed-all.json', 'pat-other-collection.json']);
    expect(fhir.report.resources).toBe(26);
    expect(fhir.report.warnings).toEqual([]);
  });

  it('reads a resource, and answers 404 with an OperationOutcome, as application/fhir+json', async () => {
    const found = await get('Patient/pat-fb');
    expect(found).toMatchObject({ status: 200, body: { resourceType: 'Patient', id: 'pat-fb' } });
    expect(found.type).toMatch(/^application\/fhir\+json/);
    const missing = await get('Patient/nobody');
    expect(missing.status).toBe(404);
    expect(missing.body.resourceType).toBe('OperationOutcome');
    expect(missing.type).toMatch(/^application\/fhir\+json/);
  });

  it('searches by a bare patient id exactly as by Patient/{id}', async () => {
    const bare = await get('Coverage?patient=pat-fb&status=active');
    const full = await get('Coverage?patient=Patient/pat-fb&status=active');
    expect(ids(bare.body)).toEqual(['Coverage/cov-fb']);
    expect(ids(full.body)).toEqual(['Coverage/cov-fb']);
    expect(bare.body.entry?.[0]).toMatchObject({ fullUrl: `${fhir.url}/Coverage/cov-fb`, search: { mode: 'match' } });
  });

  it('filters by a token list in code and by status', async () => {
    const codes = encodeURIComponent(
      'http://loinc.org|8302-2,http://example.org/fhir/CodeSystem/local-lab|CD19-BLASTS'
    );
    expect(ids((await get(`Observation?patient=pat-fb&code=${codes}`)).body).sort()).toEqual([
      'Observation/obs-cd19',
      'Observation/obs-height',
    ]);
    expect(ids((await get('CarePlan?patient=pat-fb&status=active')).body)).toEqual(['CarePlan/cp-active']);
    expect(ids((await get('Observation?patient=pat-other')).body)).toEqual(['Observation/obs-other-weight']);
  });

  it('pages with _count and next links until every match is served', async () => {
    const seen: string[] = [];
    let url: string | undefined = `${fhir.url}/Observation?patient=pat-fb&_count=3`;
    let pages = 0;
    while (url) {
      const page = (await (await fetch(url)).json()) as Bundle;
      pages += 1;
      expect(page.total).toBe(10);
      seen.push(...ids(page));
      url = page.link?.find((l) => l.relation === 'next')?.url;
    }
    expect(pages).toBe(4);
    expect(new Set(seen).size).toBe(10);
  });

  it('uses the page size when _count is absent', async () => {
    const page = (await get('Observation?patient=pat-fb')).body;
    expect(page.entry).toHaveLength(4);
    expect(page.link?.find((l) => l.relation === 'next')?.url).toContain('_offset=4');
  });

  it('adds the Medications of _include=MedicationRequest:medication with search mode include', async () => {
    const bundle = (await get('MedicationRequest?patient=pat-fb&_include=MedicationRequest:medication')).body;
    const included = (bundle.entry ?? []).filter((e) => e.search?.mode === 'include').map((e) => e.resource?.id);
    expect(included.sort()).toEqual(['med-blin', 'med-dex']);
    expect(bundle.total).toBe(3);
    const without = (await get('MedicationRequest?patient=pat-fb')).body;
    expect(ids(without).every((id) => id.startsWith('MedicationRequest/'))).toBe(true);
  });

  it('answers metadata with a CapabilityStatement', async () => {
    expect((await get('metadata')).body.resourceType).toBe('CapabilityStatement');
  });
});

describe('fixture loading', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fhir-fixtures-'));
  });
  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('warns when two files write the same resource, and loads nested folders', async () => {
    const patient = (given: string): object => ({
      resourceType: 'Bundle',
      type: 'collection',
      entry: [{ resource: { resourceType: 'Patient', id: 'same', name: [{ given: [given] }] } }],
    });
    fs.mkdirSync(path.join(dir, 'nested'));
    fs.writeFileSync(path.join(dir, 'a.json'), JSON.stringify(patient('A')));
    fs.writeFileSync(path.join(dir, 'nested', 'b.json'), JSON.stringify(patient('B')));
    const { report, repo } = await createFhirApp({ fixturesDir: dir });
    expect(report.files).toEqual(['a.json', path.join('nested', 'b.json')]);
    expect(report.warnings).toEqual([
      `Patient/same is written by a.json and ${path.join('nested', 'b.json')}: ${path.join('nested', 'b.json')} wins`,
    ]);
    expect((await repo.readResource('Patient', 'same')) as { name: Array<{ given: string[] }> }).toMatchObject({
      name: [{ given: ['B'] }],
    });
  });

  it('stops with the file name when a fixture is not JSON', async () => {
    fs.writeFileSync(path.join(dir, 'broken.json'), '{ nope');
    await expect(createFhirApp({ fixturesDir: dir })).rejects.toThrow(/broken\.json is not valid JSON/);
  });

  it('starts empty, with a warning, when the directory does not exist', async () => {
    const { report } = await createFhirApp({ fixturesDir: path.join(dir, 'missing') });
    expect(report.resources).toBe(0);
    expect(report.warnings[0]).toMatch(/does not exist/);
  });
});

// Deliverable 6 of issue 10: a browser EHR (the CDS Hooks sandbox) fills its prefetch with form-encoded
// `POST {type}/_search` and reads the server from its own origin.
describe('a browser EHR can use it', () => {
  const SANDBOX = 'http://localhost:8090';
  let fixtures: RunningFhirServer;

  beforeAll(async () => {
    fixtures = await startFhirServer({ corsOrigins: parseCorsOrigins(`${SANDBOX},https://sandbox.cds-hooks.org`) });
  });

  afterAll(async () => {
    await fixtures.close();
  });

  async function postSearch(
    server: RunningFhirServer,
    relative: string,
    form: string,
    headers: Record<string, string> = {}
  ): Promise<{ status: number; body: Bundle; headers: Headers }> {
    const response = await fetch(`${server.url}/${relative}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json+fhir', ...headers },
      body: form,
    });
    return { status: response.status, body: (await response.json()) as Bundle, headers: response.headers };
  }

  it('answers a form-encoded POST _search exactly as the same GET', async () => {
    const cases = [
      'patient=pat-fb&status=active',
      'patient=pat-fb&_include=MedicationRequest%3Amedication',
      `patient=pat-fb&code=${encodeURIComponent('http://loinc.org|29463-7,http://loinc.org|8302-2')}`,
      'patient=pat-other',
    ];
    const types = ['Coverage', 'MedicationRequest', 'Observation', 'Condition'];
    for (const [i, form] of cases.entries()) {
      const type = types[i] as string;
      const viaGet = await get(`${type}?${form}`);
      const viaPost = await postSearch(fhir, `${type}/_search`, form);
      expect({ type, status: viaPost.status }).toEqual({ type, status: 200 });
      expect(viaPost.body).toEqual(viaGet.body);
    }
    // Only that patient's resources: never every patient's (the bug the sandbox met).
    const observations = await postSearch(fhir, 'Observation/_search', 'patient=pat-fb');
    const subjects = new Set(
      (observations.body.entry ?? []).map(
        (e) => (e.resource as { subject?: { reference?: string } }).subject?.reference
      )
    );
    expect([...subjects]).toEqual(['Patient/pat-fb']);
  });

  it('adds the query string of a POST _search to its form, pages it and refuses other bodies', async () => {
    const both = await postSearch(fhir, 'Observation/_search?_count=2', 'patient=pat-fb');
    expect(both.body.entry).toHaveLength(2);
    const next = both.body.link?.find((l) => l.relation === 'next')?.url ?? '';
    expect(next).toContain('patient=pat-fb');
    expect((await fetch(next)).status).toBe(200);
    const json = await fetch(`${fhir.url}/Observation/_search`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(json.status).toBe(415);
    expect(((await json.json()) as { resourceType: string }).resourceType).toBe('OperationOutcome');
  });

  it('includes the payer Organizations of _include=Coverage:payor with search mode include', async () => {
    const form = 'patient=twocov-patient&status=active&_include=Coverage%3Apayor';
    const viaPost = await postSearch(fixtures, 'Coverage/_search', form);
    const match = (viaPost.body.entry ?? []).filter((e) => e.search?.mode === 'match').map((e) => e.resource?.id);
    const include = (viaPost.body.entry ?? []).filter((e) => e.search?.mode === 'include').map((e) => e.resource?.id);
    expect(match).toEqual(['twocov-coverage', 'twocov-coverage-2']);
    expect(include).toEqual(['twocov-payer', 'twocov-payer-2']);
    expect(viaPost.body.total).toBe(2);
    // A payor named by identifier includes nothing.
    const byIdentifier = await postSearch(
      fixtures,
      'Coverage/_search',
      'patient=relapsed-patient&_include=Coverage:payor'
    );
    expect((byIdentifier.body.entry ?? []).map((e) => e.search?.mode)).toEqual(['match']);
  });

  it('sends CORS headers to the allowed origins only, and answers their preflight without auth', async () => {
    const allowed = await postSearch(fixtures, 'Coverage/_search', 'patient=relapsed-patient', { origin: SANDBOX });
    expect(allowed.headers.get('access-control-allow-origin')).toBe(SANDBOX);
    const read = await fetch(`${fixtures.url}/Patient/relapsed-patient`, { headers: { origin: SANDBOX } });
    expect(read.headers.get('access-control-allow-origin')).toBe(SANDBOX);
    const other = await fetch(`${fixtures.url}/Patient/relapsed-patient`, {
      headers: { origin: 'https://evil.example' },
    });
    expect(other.status).toBe(200);
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
    const preflight = await fetch(`${fixtures.url}/Coverage/_search`, {
      method: 'OPTIONS',
      headers: {
        origin: 'https://sandbox.cds-hooks.org',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization, content-type',
        'access-control-request-private-network': 'true',
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('https://sandbox.cds-hooks.org');
    expect(preflight.headers.get('access-control-allow-methods')).toContain('POST');
    expect(preflight.headers.get('access-control-allow-headers')).toMatch(/Authorization/);
    expect(preflight.headers.get('access-control-allow-private-network')).toBe('true');
    // The default origins are the service's own (CDS_CORS_ORIGINS default): localhost on any port.
    const byDefault = await fetch(`${fhir.url}/metadata`, { headers: { origin: 'http://localhost:8090' } });
    expect(byDefault.headers.get('access-control-allow-origin')).toBe('http://localhost:8090');
  });
});
