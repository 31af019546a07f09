// Only this patient's data (contract section 2; issue 8 finding 1), over HTTP with the real app: resources that name
// another patient are never evaluated, whether they come from prefetch or from the FHIR server, whatever the
// reference form, and the call's log line counts them. Draft orders naming another patient are not governed.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Express } from 'express';
import type { Bundle, BundleEntry, FhirResource, MedicationRequest } from 'fhir/r4';
import request from 'supertest';
import { loadConfig } from '../src/config';
import { loadFixtureRequests } from '../src/dev/demo-fixtures';
import type { CdsResponse, HookRequest } from '../src/hooks/types';
import { createLogger } from '../src/log';
import { createServiceApp } from '../src/server/service';
import { createFileStore } from '../src/store/file-store';
import type { SharedStore } from '../src/store/types';
import { assertCardRules } from './card-rules';
import { pathOf, startScriptedServer, type ScriptedServer } from './helpers/fhir-servers';
import {
  BASE_URL,
  MMM,
  RECEIVED_AT,
  SINGLE_AGENT,
  coverageCards,
  onlyAssessment,
  servicesOf,
  subs,
  systemActionInfo,
} from './helpers/service-app';

const OURS = 'relapsed-patient';
const OTHER = 'someone-else';
const FULL = 'adult-relapsed-ph-neg-cycle1-stepup--full.json';
const NONE = 'adult-relapsed-ph-neg-cycle1-stepup--none.json';

const fixtures = new Map(loadFixtureRequests().map((f) => [f.name.file, f.body as unknown as HookRequest]));

function fixture(file: string): HookRequest {
  const body = fixtures.get(file);
  if (!body) {
    throw new Error(`no fixture ${file}`);
  }
  return structuredClone(body);
}

// ---- the app, with its log lines captured -----------------------------------------------------------------------

let app: Express;
let store: SharedStore;
let dataDir: string;
const logged: string[] = [];

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cds-scope-'));
  const config = loadConfig({
    NODE_ENV: 'test',
    CDS_DATA_DIR: dataDir,
    CDS_PUBLIC_BASE_URL: BASE_URL,
    CDS_LOG_LEVEL: 'info',
  });
  store = await createFileStore({
    dataDir: config.dataDir,
    audit: config.audit,
    auditRetentionDays: config.auditRetentionDays,
  });
  const logger = createLogger({ level: 'info', destination: { write: (line: string) => void logged.push(line) } });
  app = createServiceApp(config, logger, store, servicesOf(), () => new Date(RECEIVED_AT));
});

afterAll(async () => {
  await store.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

beforeEach(() => {
  logged.length = 0;
});

/** The one call line the last request wrote. */
function callLine(): Record<string, unknown> {
  const lines = logged
    .join('')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((l) => l['msg'] === 'service call');
  expect(lines).toHaveLength(1);
  return lines[0] as Record<string, unknown>;
}

async function sign(serviceId: string, body: HookRequest): Promise<CdsResponse> {
  const res = await request(app).post(`/cds-services/${serviceId}`).send(body);
  expect({ status: res.status, body: res.status === 200 ? 'ok' : res.body }).toEqual({ status: 200, body: 'ok' });
  assertCardRules(res.body as CdsResponse, body);
  return res.body as CdsResponse;
}

// ---- another patient's resources ------------------------------------------------------------------------------

function bundleOf(value: unknown): Bundle {
  return value as Bundle;
}

/** Another patient's active Coverage, written with an absolute reference. */
function foreignCoverage(): FhirResource {
  return {
    resourceType: 'Coverage',
    id: 'coverage-of-someone-else',
    status: 'active',
    beneficiary: { reference: `https://ehr.example/fhir/Patient/${OTHER}` },
    payor: [{ display: 'MMM Healthcare' }],
  };
}

/** Nine completed blinatumomab cycles of another patient, in the three reference forms of contract section 2. */
function foreignCycles(): FhirResource[] {
  const forms = [`Patient/${OTHER}`, `https://ehr.example/fhir/Patient/${OTHER}`, `Patient/${OTHER}/_history/4`];
  return Array.from({ length: 9 }, (_, i): MedicationRequest => ({
    resourceType: 'MedicationRequest',
    id: `someone-else-cycle-${i + 1}`,
    status: 'completed',
    intent: 'order',
    subject: { reference: forms[i % 3] },
    medicationCodeableConcept: {
      coding: [{ system: 'http://www.nlm.nih.gov/research/umls/rxnorm', code: '1597263', display: 'Blincyto' }],
    },
    authoredOn: `2025-0${(i % 9) + 1}-01`,
  }));
}

function withEntries(bundle: unknown, resources: FhirResource[], first = false): Bundle {
  const b = bundleOf(bundle);
  const added: BundleEntry[] = resources.map((resource) => ({ resource }));
  return { ...b, entry: first ? [...added, ...(b.entry ?? [])] : [...(b.entry ?? []), ...added] };
}

function coverageReferenceOf(response: CdsResponse): string | undefined {
  return subs(systemActionInfo(response), 'coverage')[0]?.valueReference?.reference;
}

describe('prefetch holding another patient’s resources', () => {
  test('another patient’s Coverage, listed first, is never named: the system action names this patient’s', async () => {
    const body = fixture(FULL);
    body.prefetch!.coverage = withEntries(body.prefetch!.coverage, [foreignCoverage()], true);
    const response = await sign(MMM, body);
    expect(coverageReferenceOf(response)).toBe('Coverage/relapsed-coverage');
    expect(JSON.stringify(response)).not.toContain('coverage-of-someone-else');
    expect(callLine()['otherPatient']).toEqual({ resources: 1, draftOrders: 0 });
  });

  test('only another patient’s Coverage: as with none at all (no system action)', async () => {
    const body = fixture(FULL);
    body.prefetch!.coverage = { ...bundleOf(body.prefetch!.coverage), entry: [{ resource: foreignCoverage() }] };
    const response = await sign(MMM, body);
    expect(response.systemActions).toBeUndefined();
    expect(JSON.stringify(response)).not.toContain('coverage-of-someone-else');
  });

  test.each([MMM, SINGLE_AGENT])(
    '%s: another patient’s nine blinatumomab cycles leave this order cycle 1, likely',
    async (serviceId) => {
      const body = fixture(FULL);
      body.prefetch!.medicationRequests = withEntries(body.prefetch!.medicationRequests, foreignCycles());
      const response = await sign(serviceId, body);
      const assessment = onlyAssessment(response);
      expect(assessment).toMatchObject({ likelihood: 'likely', authorization: { type: 'initial', cycle: 1 } });
      expect(JSON.stringify(response)).not.toContain('someone-else-cycle');
      expect(callLine()['otherPatient']).toEqual({ resources: 9, draftOrders: 0 });
    }
  );

  test('another patient’s Conditions, Observations and Immunizations are dropped; this patient’s are kept', async () => {
    const body = fixture(FULL);
    const subject = { reference: `Patient/${OTHER}` };
    // A CD19-negative result of the same day, a DLBCL diagnosis and a live vaccine, all of someone else.
    body.prefetch!.observations = withEntries(body.prefetch!.observations, [
      {
        resourceType: 'Observation',
        id: 'other-cd19',
        status: 'final',
        code: { coding: [{ system: 'http://example.org/fhir/CodeSystem/local-lab', code: 'CD19-BLASTS' }] },
        subject,
        effectiveDateTime: '2026-11-02',
        valueCodeableConcept: { coding: [{ system: 'http://snomed.info/sct', code: '260385009' }] },
      },
    ]);
    body.prefetch!.conditions = withEntries(body.prefetch!.conditions, [
      {
        resourceType: 'Condition',
        id: 'other-dlbcl',
        subject,
        code: { coding: [{ system: 'http://hl7.org/fhir/sid/icd-10-cm', code: 'C83.38' }] },
        onsetDateTime: '2026-10-01',
      },
    ]);
    body.prefetch!.immunizations = withEntries(body.prefetch!.immunizations, [
      {
        resourceType: 'Immunization',
        id: 'other-mmr',
        status: 'completed',
        patient: subject,
        vaccineCode: { coding: [{ system: 'http://hl7.org/fhir/sid/cvx', code: '03' }] },
        occurrenceDateTime: '2026-11-25',
      },
    ]);
    const response = await sign(SINGLE_AGENT, body);
    const assessment = onlyAssessment(response);
    expect(assessment.likelihood).toBe('likely');
    const status = (id: string): string | undefined => assessment.criteria?.find((c) => c.id === id)?.status;
    expect(status('cd19-positive')).toBe('met');
    expect(status('covered-diagnosis')).toBe('met');
    expect(status('no-live-vaccine-within-14-days')).toBe('met');
    expect(JSON.stringify(response)).not.toMatch(/other-(cd19|dlbcl|mmr)/);
    expect(callLine()['otherPatient']).toEqual({ resources: 3, draftOrders: 0 });
  });

  test('a Patient prefetch of another patient counts as absent: without a usable FHIR server, 412', async () => {
    const body = fixture(FULL);
    body.prefetch!.patient = { resourceType: 'Patient', id: OTHER, birthDate: '2026-11-20' };
    delete body.fhirServer;
    delete body.fhirAuthorization;
    const res = await request(app).post(`/cds-services/${SINGLE_AGENT}`).send(body);
    expect(res.status).toBe(412);
    expect(res.body.issue.map((i: { expression?: string[] }) => i.expression?.[0])).toEqual(['prefetch.patient']);
    expect(JSON.stringify(res.body)).toContain('names another patient');
  });
});

describe('draft orders of another patient', () => {
  test('a blinatumomab draft order whose subject is another patient is not governed, and the log says so', async () => {
    const body = fixture(FULL);
    const order = body.context.draftOrders.entry![0]!.resource as MedicationRequest;
    order.subject = { reference: `Patient/${OTHER}` };
    const res = await request(app).post(`/cds-services/${MMM}`).send(body);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ cards: [] });
    const line = callLine();
    expect(line['otherPatient']).toEqual({ resources: 0, draftOrders: 1 });
    expect(line['notes']).toEqual(['draftOrders.entry[0] names another patient than context.patientId: not governed']);
  });

  test('another patient’s TKI draft beside this patient’s order is not part of this regimen', async () => {
    const body = fixture(FULL);
    const tki: MedicationRequest = {
      resourceType: 'MedicationRequest',
      id: 'other-dasatinib',
      status: 'draft',
      intent: 'order',
      subject: { reference: `Patient/${OTHER}` },
      medicationCodeableConcept: {
        coding: [{ system: 'http://www.nlm.nih.gov/research/umls/rxnorm', code: '475342', display: 'dasatinib' }],
      },
    };
    body.context.draftOrders.entry!.push({ resource: tki });
    const response = await sign(MMM, body);
    const assessment = onlyAssessment(response);
    expect(assessment).toMatchObject({ likelihood: 'likely', pathway: 'single-agent-relapsed-refractory' });
    expect(assessment.criteria?.find((c) => c.id === 'single-agent')?.status).toBe('met');
    expect(coverageCards(response)).toHaveLength(1);
    expect(callLine()['otherPatient']).toEqual({ resources: 0, draftOrders: 1 });
  });
});

describe('the FHIR fallback returning another patient’s resources', () => {
  let fhir: ScriptedServer;
  /** This patient's data as the full fixture holds it, by resource type; another patient's added to each search. */
  const ownData = fixture(FULL).prefetch as Record<string, unknown>;
  let patientRead: 'ours' | 'theirs' = 'ours';

  beforeAll(async () => {
    fhir = await startScriptedServer((req) => {
      const p = pathOf(req);
      const searchset = (own: unknown, foreign: FhirResource[]): { kind: 'json'; body: Bundle } => ({
        kind: 'json',
        body: {
          resourceType: 'Bundle',
          type: 'searchset',
          entry: [...(bundleOf(own).entry ?? []), ...foreign.map((resource) => ({ resource }))],
        },
      });
      if (p === `/Patient/${OURS}`) {
        const own = ownData.patient as Record<string, unknown>;
        return { kind: 'json', body: patientRead === 'ours' ? own : { ...own, id: OTHER } };
      }
      if (p === '/Coverage') {
        return searchset(ownData.coverage, [foreignCoverage()]);
      }
      if (p === '/MedicationRequest') {
        return searchset(ownData.medicationRequests, foreignCycles());
      }
      const byType: Record<string, string> = {
        '/Condition': 'conditions',
        '/Observation': 'observations',
        '/Immunization': 'immunizations',
        '/CarePlan': 'carePlans',
      };
      const key = byType[p];
      return key
        ? searchset(ownData[key], [])
        : { kind: 'json', status: 404, body: { resourceType: 'OperationOutcome' } };
    });
  });

  afterAll(async () => {
    await fhir.close();
  });

  beforeEach(() => {
    patientRead = 'ours';
    fhir.requests.length = 0;
  });

  function fallbackRequest(): HookRequest {
    const body = fixture(NONE);
    body.fhirServer = fhir.base;
    return body;
  }

  test('another patient’s Coverage and cycles fetched from the server are dropped: cycle 1, likely', async () => {
    const response = await sign(MMM, fallbackRequest());
    expect(fhir.requests.map((r) => pathOf(r)).sort()).toEqual(
      ['/CarePlan', '/Condition', '/Coverage', '/MedicationRequest', '/Observation', `/Patient/${OURS}`].sort()
    );
    expect(onlyAssessment(response)).toMatchObject({ likelihood: 'likely', authorization: { cycle: 1 } });
    expect(coverageReferenceOf(response)).toBe('Coverage/relapsed-coverage');
    expect(JSON.stringify(response)).not.toMatch(/someone-else|coverage-of-someone-else/);
    expect(callLine()['otherPatient']).toEqual({ resources: 10, draftOrders: 0 });
  });

  test('a Patient read answering with another patient is dropped: the record has no patient', async () => {
    patientRead = 'theirs';
    const response = await sign(SINGLE_AGENT, fallbackRequest());
    const assessment = onlyAssessment(response);
    // No birth date any more: the age is unknown, not met by the other patient's.
    expect(assessment.criteria?.find((c) => c.id === 'at-least-one-month-old')?.status).toBe('unknown');
    expect(callLine()['otherPatient']).toEqual({ resources: 11, draftOrders: 0 });
  });

  test('a Patient prefetch of another patient is fetched from the server instead', async () => {
    const body = fixture(FULL);
    body.fhirServer = fhir.base;
    body.prefetch!.patient = { resourceType: 'Patient', id: OTHER, birthDate: '2026-11-20' };
    const response = await sign(SINGLE_AGENT, body);
    expect(fhir.requests.map((r) => pathOf(r))).toEqual([`/Patient/${OURS}`]);
    const assessment = onlyAssessment(response);
    expect(assessment.likelihood).toBe('likely');
    expect(assessment.criteria?.find((c) => c.id === 'at-least-one-month-old')?.status).toBe('met');
    expect(callLine()['otherPatient']).toEqual({ resources: 1, draftOrders: 0 });
  });
});
