// A new payer policy is a new folder (house style 3.4): copy cds-services/blinatumomab-mmm under a new id and a payer
// of its own into a copy of cds-services (the original and the shared library it imports beside it), load them all
// with loadServices, and check that
// discovery lists the copy on every hook, that it answers every full fixture request exactly as the original does
// (uuids and the service id apart), and that the routed services send its payer's patients to it, with no code change.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Questionnaire } from 'fhir/r4';
import request from 'supertest';
import type { HookRequest } from '../src/hooks/types';
import { loadFixtureRequests } from '../src/dev/demo-fixtures';
import { asSigned, draftMedicationRequests, toOrderDispatch, toOrderSelect } from '../src/dev/hook-requests';
import { loadServices } from '../src/policy/load';
import type { LoadedService } from '../src/policy/types';
import { assertCardRules } from './card-rules';
import { MMM, SERVICES_DIR, buildServiceApp, servicesOf, type ServiceApp } from './helpers/service-app';

const COPY = 'blinatumomab-mmm-copy';
/** The shared library the policies import. */
const LIBRARY = '_blinatumomab-label';
/** The policies of cds-services, loaded as start-up loads them. */
const ORIGINAL_IDS = servicesOf().map((s) => s.id);
const COPY_PAYER = 'mmm-healthcare-copy';
const PAYER_SYSTEM = 'http://example.org/fhir/sid/payer-id';
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;

let dir: string;
let services: LoadedService[];
let h: ServiceApp;

/** Copies the MMM policy folder under `id`, changing the id in policy.yaml and wherever cases.yaml names it. */
function copyPolicy(target: string, id: string): void {
  const folder = path.join(target, id);
  fs.cpSync(path.join(SERVICES_DIR, MMM), folder, { recursive: true });
  const policyFile = path.join(folder, 'policy.yaml');
  const policy = fs.readFileSync(policyFile, 'utf8');
  const renamed = policy.replace(/^id:\s*blinatumomab-mmm\s*$/m, `id: ${id}`);
  if (renamed === policy) {
    throw new Error('policy.yaml has no top-level "id: blinatumomab-mmm" line');
  }
  // A payer belongs to one policy: the copy serves a payer of its own.
  const withPayer = renamed.replace(/^(\s+value:\s*)mmm-healthcare\s*$/m, `$1${COPY_PAYER}`);
  if (withPayer === renamed) {
    throw new Error('policy.yaml declares no payer mmm-healthcare');
  }
  fs.writeFileSync(policyFile, withPayer);
  const casesFile = path.join(folder, 'cases.yaml');
  if (fs.existsSync(casesFile)) {
    fs.writeFileSync(casesFile, fs.readFileSync(casesFile, 'utf8').replace(/\bblinatumomab-mmm\b/g, id));
  }
}

/** A response with its fresh identifiers blanked and the copy's id written as the original's. */
function normalized(body: unknown): unknown {
  return JSON.parse(JSON.stringify(body).replace(UUID, '<uuid>').split(COPY).join(MMM)) as unknown;
}

/** The request with its Coverages' payer identifiers (and included payer Organizations') set to `payer`. */
function withPayer(body: unknown, payer: string): unknown {
  return JSON.parse(JSON.stringify(body).replace(/"value":"mmm-healthcare"/g, `"value":"${payer}"`)) as unknown;
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cds-services-'));
  fs.cpSync(SERVICES_DIR, dir, { recursive: true });
  copyPolicy(dir, COPY);
  services = loadServices(dir);
  h = await buildServiceApp({ services });
});

afterAll(async () => {
  await h?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('loadServices loads the original and the copy from the folder', () => {
  expect(services.map((s) => s.id)).toEqual([...ORIGINAL_IDS, COPY].sort());
  const original = services.find((s) => s.id === MMM) as LoadedService;
  const copy = services.find((s) => s.id === COPY) as LoadedService;
  expect(copy.dir).toBe(path.join(dir, COPY));
  expect(copy.label).toBe(original.label);
  expect(copy.version).toBe(original.version);
  expect(copy.documentation).toEqual(original.documentation);
});

test('a payer declared by two policies stops the load, naming both', () => {
  const twice = fs.mkdtempSync(path.join(os.tmpdir(), 'cds-services-'));
  try {
    fs.cpSync(path.join(SERVICES_DIR, MMM), path.join(twice, MMM), { recursive: true });
    fs.cpSync(path.join(SERVICES_DIR, LIBRARY), path.join(twice, LIBRARY), { recursive: true });
    fs.cpSync(path.join(dir, COPY), path.join(twice, COPY), { recursive: true });
    const file = path.join(twice, COPY, 'policy.yaml');
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace(COPY_PAYER, 'mmm-healthcare'));
    expect(() => loadServices(twice)).toThrow(
      new RegExp(
        `${COPY}/policy.yaml: payers: ${PAYER_SYSTEM}\\|mmm-healthcare is also declared by .*${MMM}/policy.yaml`
      )
    );
  } finally {
    fs.rmSync(twice, { recursive: true, force: true });
  }
});

test('discovery lists the copy on every hook, identical to the original apart from its ids and payer', async () => {
  const res = await request(h.app).get('/cds-services').expect(200);
  const listed = res.body.services as Array<Record<string, unknown>>;
  const ids = listed.map((s) => s.id);
  expect([...ids].sort()).toEqual(
    [
      ...[...ORIGINAL_IDS, COPY].flatMap((id) => [id, `${id}-order-dispatch`, `${id}-order-select`]),
      'blinatumomab-order-dispatch',
      'blinatumomab-order-select',
      'blinatumomab-order-sign',
    ].sort()
  );
  for (const suffix of ['', '-order-select', '-order-dispatch']) {
    const original = listed.find((s) => s.id === `${MMM}${suffix}`);
    const copy = listed.find((s) => s.id === `${COPY}${suffix}`);
    expect(normalized(copy)).toEqual(normalized(original));
  }
  // The routed services name the copy's payer beside the original's.
  const routed = listed.find((s) => s.id === 'blinatumomab-order-sign');
  expect(routed?.usageRequirements).toContain(`${PAYER_SYSTEM}|${COPY_PAYER} (${COPY})`);
  expect(routed?.usageRequirements).toContain(`${PAYER_SYSTEM}|mmm-healthcare (${MMM})`);
});

test('the copy serves its own Questionnaire, with the same items', async () => {
  const [a, b] = await Promise.all([
    request(h.app).get(`/fhir/Questionnaire/${MMM}`).expect(200),
    request(h.app).get(`/fhir/Questionnaire/${COPY}`).expect(200),
  ]);
  const original = JSON.parse(a.text) as Questionnaire;
  const copy = JSON.parse(b.text) as Questionnaire;
  expect(copy.url).toMatch(new RegExp(`/fhir/Questionnaire/${COPY}$`));
  expect(copy.item).toEqual(original.item);
  expect(copy.version).toBe(original.version);
});

const fullRequests = loadFixtureRequests().filter((f) => f.name.variant === 'full');

test.each(fullRequests.map((f) => [f.name.file, f.body] as const))(
  '%s: the copy answers exactly like the original',
  async (_file, body) => {
    const [a, b] = await Promise.all([
      request(h.app).post(`/cds-services/${MMM}`).send(body),
      request(h.app).post(`/cds-services/${COPY}`).send(body),
    ]);
    expect(a.status).toBe(200);
    expect(b.status).toBe(200);
    assertCardRules(b.body, body as unknown as HookRequest);
    // The copy speaks for itself: its id where the original names its own.
    const original = JSON.stringify(a.body);
    if (original.includes(MMM)) {
      expect(JSON.stringify(b.body)).toContain(COPY);
      expect(JSON.stringify(b.body)).not.toMatch(new RegExp(`${MMM}(?!-copy)`));
    }
    expect(normalized(b.body)).toEqual(normalized(a.body));
  }
);

const baseline = fullRequests.find((f) => f.name.file === 'adult-relapsed-ph-neg-cycle1-stepup--full.json');

test.each(['order-sign', 'order-select', 'order-dispatch'])(
  "the routed %s service sends the copy's payer to the copy and the original's to the original",
  async (hook) => {
    expect(baseline).toBeDefined();
    const sign = baseline?.body as Record<string, unknown>;
    const body =
      hook === 'order-sign'
        ? sign
        : hook === 'order-select'
          ? toOrderSelect(sign)
          : toOrderDispatch(sign, { placement: 'prefetch', orders: draftMedicationRequests(sign).map(asSigned) });
    const own = (id: string): string => (hook === 'order-sign' ? id : `${id}-${hook}`);
    const [original, copy, routedOriginal, routedCopy] = await Promise.all([
      request(h.app)
        .post(`/cds-services/${own(MMM)}`)
        .send(body),
      request(h.app)
        .post(`/cds-services/${own(COPY)}`)
        .send(body),
      request(h.app).post(`/cds-services/blinatumomab-${hook}`).send(body),
      request(h.app)
        .post(`/cds-services/blinatumomab-${hook}`)
        .send(withPayer(body, COPY_PAYER) as object),
    ]);
    for (const res of [original, copy, routedOriginal, routedCopy]) {
      expect(res.status).toBe(200);
    }
    expect(JSON.stringify(routedCopy.body)).toContain(`"policy":"${COPY}"`);
    expect(JSON.stringify(routedOriginal.body)).not.toContain(COPY);
    const plain = (b: unknown): unknown => JSON.parse(JSON.stringify(b).replace(UUID, '<uuid>')) as unknown;
    expect(plain(routedCopy.body)).toEqual(plain(copy.body));
    expect(plain(routedOriginal.body)).toEqual(plain(original.body));
  }
);
