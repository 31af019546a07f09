// The benchmark's requests and tokens: fixture requests (fixtures/fhir/requests), the relapsed adult's full prefetch
// grown to a realistic size with history that does not change the decision (older weights and heights, resolved
// and unrelated problems, completed supportive medicines, earlier seasonal vaccines), and JWTs signed synchronously
// with the bench's own ES384 key, so the load generator can put a fresh one on every request.
import { createPrivateKey, generateKeyPairSync, randomUUID, sign, type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export const REQUESTS_DIR = path.resolve(__dirname, '..', '..', 'fixtures', 'fhir', 'requests');

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Reads a fixture request.
 * @param name - the file name under fixtures/fhir/requests
 */
export function readFixtureRequest(name: string): Json {
  const value: unknown = JSON.parse(fs.readFileSync(path.join(REQUESTS_DIR, name), 'utf8'));
  if (!isObject(value)) {
    throw new Error(`${name} is not a JSON object`);
  }
  return value;
}

/** How many resources a request's prefetch holds (Bundle entries, or one per single resource). */
export function countPrefetchResources(request: Json): number {
  const prefetch = request['prefetch'];
  if (!isObject(prefetch)) {
    return 0;
  }
  let n = 0;
  for (const value of Object.values(prefetch)) {
    if (!isObject(value)) {
      continue;
    }
    if (value['resourceType'] === 'Bundle') {
      n += Array.isArray(value['entry']) ? value['entry'].length : 0;
    } else {
      n += 1;
    }
  }
  return n;
}

const LOINC = 'http://loinc.org';
const UCUM = 'http://unitsofmeasure.org';
const RXNORM = 'http://www.nlm.nih.gov/research/umls/rxnorm';
const ICD10 = 'http://hl7.org/fhir/sid/icd-10-cm';

function vital(
  patient: string,
  id: string,
  code: string,
  display: string,
  date: string,
  value: number,
  unit: string
): Json {
  return {
    resourceType: 'Observation',
    id,
    status: 'final',
    category: [
      {
        coding: [
          {
            system: 'http://terminology.hl7.org/CodeSystem/observation-category',
            code: 'vital-signs',
            display: 'Vital Signs',
          },
        ],
      },
    ],
    code: { coding: [{ system: LOINC, code, display }], text: display },
    subject: { reference: `Patient/${patient}` },
    effectiveDateTime: `${date}T10:00:00-04:00`,
    valueQuantity: { value, unit, system: UCUM, code: unit },
  };
}

function condition(patient: string, id: string, code: string, display: string, clinical: string, onset: string): Json {
  return {
    resourceType: 'Condition',
    id,
    clinicalStatus: {
      coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: clinical }],
    },
    verificationStatus: {
      coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-ver-status', code: 'confirmed' }],
    },
    category: [
      {
        coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-category', code: 'problem-list-item' }],
      },
    ],
    code: { coding: [{ system: ICD10, code, display }], text: display },
    subject: { reference: `Patient/${patient}` },
    onsetDateTime: onset,
    recordedDate: onset,
  };
}

function completedMedication(patient: string, id: string, code: string, name: string, authoredOn: string): Json {
  return {
    resourceType: 'MedicationRequest',
    id,
    status: 'completed',
    intent: 'order',
    medicationCodeableConcept: { coding: [{ system: RXNORM, code, display: name }], text: name },
    subject: { reference: `Patient/${patient}` },
    authoredOn,
    dosageInstruction: [{ text: `${name} as directed (supportive care, completed)` }],
  };
}

function fluShot(patient: string, id: string, date: string): Json {
  return {
    resourceType: 'Immunization',
    id,
    status: 'completed',
    vaccineCode: {
      coding: [
        {
          system: 'http://hl7.org/fhir/sid/cvx',
          code: '140',
          display: 'Influenza, seasonal, injectable, preservative free',
        },
      ],
    },
    patient: { reference: `Patient/${patient}` },
    occurrenceDateTime: date,
    primarySource: true,
  };
}

function appendEntries(prefetch: Json, key: string, resources: Json[], base: string): void {
  const bundle = prefetch[key];
  if (!isObject(bundle) || bundle['resourceType'] !== 'Bundle') {
    return;
  }
  const entries = Array.isArray(bundle['entry']) ? [...(bundle['entry'] as unknown[])] : [];
  for (const resource of resources) {
    entries.push({
      fullUrl: `${base}/${String(resource['resourceType'])}/${String(resource['id'])}`,
      resource,
      search: { mode: 'match' },
    });
  }
  bundle['entry'] = entries;
  bundle['total'] = entries.length;
}

/**
 * The relapsed adult's full-prefetch request with about 30 resources: the fixture's own plus earlier history that a
 * real record holds and that leaves every decision as it was (the bench checks that the answer is the same).
 * @param request - `adult-relapsed-ph-neg-cycle1-stepup--full.json`
 */
export function withRealisticHistory(request: Json): Json {
  const copy = structuredClone(request);
  const context = copy['context'];
  const patient = isObject(context) && typeof context['patientId'] === 'string' ? context['patientId'] : 'patient';
  const prefetch = copy['prefetch'];
  if (!isObject(prefetch)) {
    return copy;
  }
  const base = typeof copy['fhirServer'] === 'string' ? copy['fhirServer'] : 'http://localhost:8080/fhir';
  const months = ['2026-03-10', '2026-04-14', '2026-05-12', '2026-06-16', '2026-07-14', '2026-08-11', '2026-09-15'];
  const weights = [65.2, 64.8, 64.9, 64.1, 63.5, 63.0, 62.6];
  appendEntries(
    prefetch,
    'observations',
    [
      ...months.map((d, i) => vital(patient, `bench-weight-${i}`, '29463-7', 'Body weight', d, weights[i] ?? 64, 'kg')),
      vital(patient, 'bench-height-0', '8302-2', 'Body height', '2026-03-10', 165, 'cm'),
      vital(patient, 'bench-height-1', '8302-2', 'Body height', '2026-07-14', 165, 'cm'),
    ],
    base
  );
  appendEntries(
    prefetch,
    'conditions',
    [
      condition(patient, 'bench-htn', 'I10', 'Essential (primary) hypertension', 'active', '2019-05-02'),
      condition(patient, 'bench-hypothyroid', 'E03.9', 'Hypothyroidism, unspecified', 'active', '2021-09-20'),
      condition(
        patient,
        'bench-neutropenia',
        'D70.1',
        'Agranulocytosis secondary to cancer chemotherapy',
        'resolved',
        '2024-03-15'
      ),
      condition(
        patient,
        'bench-mucositis',
        'K12.31',
        'Oral mucositis due to antineoplastic therapy',
        'resolved',
        '2024-03-02'
      ),
    ],
    base
  );
  appendEntries(
    prefetch,
    'medicationRequests',
    [
      completedMedication(patient, 'bench-acyclovir', '281', 'acyclovir', '2024-02-20'),
      completedMedication(patient, 'bench-ondansetron', '26225', 'ondansetron', '2024-02-20'),
      completedMedication(patient, 'bench-allopurinol', '519', 'allopurinol', '2024-02-18'),
      completedMedication(patient, 'bench-fluconazole', '4450', 'fluconazole', '2024-03-01'),
      completedMedication(patient, 'bench-levothyroxine', '10582', 'levothyroxine', '2021-09-21'),
    ],
    base
  );
  appendEntries(
    prefetch,
    'immunizations',
    [fluShot(patient, 'bench-flu-2024', '2024-10-08'), fluShot(patient, 'bench-flu-2025', '2025-10-06')],
    base
  );
  return copy;
}

/**
 * A copy of a request whose `fhirServer` (and every prefetched `fullUrl` and link) points at `base`.
 * @param request - a fixture request
 * @param base - the FHIR base URL to use
 */
export function pointedAt(request: Json, base: string): Json {
  const text = JSON.stringify(request);
  const from = typeof request['fhirServer'] === 'string' ? request['fhirServer'] : undefined;
  const copy = JSON.parse(from ? text.split(from).join(base) : text) as Json;
  copy['fhirServer'] = base;
  return copy;
}

/** The bench's own trusted issuer: an ES384 key pair and its public JWKS. */
export interface BenchIssuer {
  iss: string;
  kid: string;
  privateKey: KeyObject;
  jwks: { keys: Json[] };
}

/** A fresh ES384 issuer for this run. */
export function createBenchIssuer(): BenchIssuer {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-384' });
  const kid = `bench-${randomUUID()}`;
  const jwk = publicKey.export({ format: 'jwk' }) as Json;
  return {
    iss: 'https://bench.example.org',
    kid,
    privateKey: createPrivateKey(privateKey.export({ format: 'pem', type: 'pkcs8' })),
    jwks: { keys: [{ ...jwk, kid, alg: 'ES384', use: 'sig' }] },
  };
}

const b64url = (data: string | Buffer): string => Buffer.from(data).toString('base64url');

/**
 * Signs a CDS Hooks JWT (ES384) synchronously: iss, aud, iat, exp (60 s later) and a new jti.
 * @param issuer - the bench's issuer
 * @param aud - the service endpoint URL the token is for
 */
export function signJwt(issuer: BenchIssuer, aud: string): string {
  const iat = Math.floor(Date.now() / 1000);
  const header = b64url(JSON.stringify({ alg: 'ES384', typ: 'JWT', kid: issuer.kid }));
  const payload = b64url(JSON.stringify({ iss: issuer.iss, aud, iat, exp: iat + 60, jti: randomUUID() }));
  const input = `${header}.${payload}`;
  const signature = sign('sha384', Buffer.from(input), { key: issuer.privateKey, dsaEncoding: 'ieee-p1363' });
  return `${input}.${b64url(signature)}`;
}
