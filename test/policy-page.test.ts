// GET /policies/{service-id} over HTTP (contract sections 1 and 6): no JWT, text/html, a strict CSP, generated from
// the policy file at start-up; an unknown id is 404 and another method 405, as OperationOutcomes.
import request from 'supertest';
import { policyPageAnchors } from '../src/cards/policy-page';
import { jwksOf, makeKey, writeIssuersFile } from './helpers/keys';
import { BASE_URL, SERVICE_IDS, buildServiceApp, type ServiceApp } from './helpers/service-app';

let h: ServiceApp;
let production: ServiceApp;

beforeAll(async () => {
  h = await buildServiceApp();
  const issuers = writeIssuersFile([{ iss: 'https://ehr.example.org', jwks: jwksOf(await makeKey('ES384', 'k-1')) }]);
  production = await buildServiceApp({
    env: {
      NODE_ENV: 'production',
      CDS_TRUSTED_ISSUERS: issuers,
      CDS_PUBLIC_BASE_URL: BASE_URL,
      CDS_FHIR_ALLOWLIST: 'http://localhost',
      CDS_AUDIT: 'false',
    },
  });
});

afterAll(async () => {
  await h?.close();
  await production?.close();
});

test('production: the page needs no JWT, the service does', async () => {
  const page = await request(production.app).get(`/policies/${SERVICE_IDS[0]}`);
  expect(page.status).toBe(200);
  const call = await request(production.app).post(`/cds-services/${SERVICE_IDS[0]}`).send({});
  expect(call.status).toBe(401);
});

test.each([...SERVICE_IDS])('%s: an HTML page with every clause anchor, no script, strict headers', async (id) => {
  const res = await request(h.app).get(`/policies/${id}`);
  expect(res.status).toBe(200);
  expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
  expect(res.headers['content-security-policy']).toMatch(/^default-src 'none'; style-src 'sha256-/);
  expect(res.headers['x-content-type-options']).toBe('nosniff');
  expect(res.text).toMatch(/^<!doctype html>/);
  expect(res.text).not.toMatch(/<script|javascript:|\son[a-z]+=/i);
  for (const anchor of policyPageAnchors(h.service(id))) {
    expect(res.text).toContain(`id="${anchor}"`);
  }
});

test('an unknown id is 404 not-found, another method 405', async () => {
  const missing = await request(h.app).get('/policies/no-such-policy');
  expect(missing.status).toBe(404);
  expect(missing.body.issue[0].details.coding[0].code).toBe('not-found');
  const post = await request(h.app).post(`/policies/${SERVICE_IDS[0]}`).send({});
  expect(post.status).toBe(405);
  expect(post.headers.allow).toBe('GET, OPTIONS');
});
