// CORS (contract section 8; checklist S-10, S-11).
import request from 'supertest';
import { loadConfig } from '../src/config';
import { isAllowedOrigin } from '../src/http/cors';
import { makeHarness, orderSignBody, type Harness } from './helpers/fake-http-deps';

const SVC = '/cds-services/svc-a';

describe('CORS with the default origins', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await makeHarness();
  });
  afterAll(() => h.close());

  it.each([
    'https://sandbox.cds-hooks.org',
    'http://localhost:3000',
    'https://localhost',
    'http://127.0.0.1:8080',
    'http://[::1]:5173',
  ])('answers a preflight from %s with 204 and the allowed methods and headers, without auth', async (origin) => {
    const res = await request(h.app)
      .options(SVC)
      .set('Origin', origin)
      .set('Access-Control-Request-Method', 'POST')
      .set('Access-Control-Request-Headers', 'authorization,content-type');
    expect(res.status).toBe(204);
    expect(res.headers['access-control-allow-origin']).toBe(origin);
    expect(res.headers['access-control-allow-methods']).toBe('GET, POST, OPTIONS');
    expect(res.headers['access-control-allow-headers']).toBe('Authorization, Content-Type');
    expect(res.headers['vary']).toMatch(/Origin/);
    expect(res.headers['access-control-allow-credentials']).toBeUndefined();
    expect(res.headers['access-control-allow-private-network']).toBeUndefined();
  });

  it('answers Access-Control-Allow-Private-Network when the preflight asks for it', async () => {
    const res = await request(h.app)
      .options('/cds-services')
      .set('Origin', 'https://sandbox.cds-hooks.org')
      .set('Access-Control-Request-Method', 'GET')
      .set('Access-Control-Request-Private-Network', 'true');
    expect(res.status).toBe(204);
    expect(res.headers['access-control-allow-private-network']).toBe('true');
  });

  it('gives other origins no CORS headers, on preflight and on calls', async () => {
    for (const origin of [
      'https://evil.example',
      'null',
      'https://sandbox.cds-hooks.org.evil.example',
      'http://sandbox.cds-hooks.org',
    ]) {
      const pre = await request(h.app)
        .options(SVC)
        .set('Origin', origin)
        .set('Access-Control-Request-Method', 'POST')
        .set('Access-Control-Request-Private-Network', 'true');
      expect(pre.status).toBe(204);
      for (const name of Object.keys(pre.headers)) {
        expect(name).not.toMatch(/^access-control-/);
      }
      const get = await request(h.app).get('/cds-services').set('Origin', origin);
      expect(get.status).toBe(200);
      expect(get.headers['access-control-allow-origin']).toBeUndefined();
    }
  });

  it('answers preflight on every path, even unknown ones', async () => {
    for (const path of ['/cds-services', `${SVC}/feedback`, '/fhir/Questionnaire/svc-a', '/health', '/nowhere']) {
      const res = await request(h.app).options(path).set('Origin', 'http://localhost:3000');
      expect(res.status).toBe(204);
      expect(res.headers['access-control-allow-origin']).toBe('http://localhost:3000');
    }
  });

  it('puts the CORS headers on actual answers, errors included', async () => {
    const ok = await request(h.app).post(SVC).set('Origin', 'http://localhost:3000').send(orderSignBody());
    expect(ok.headers['access-control-allow-origin']).toBe('http://localhost:3000');
    const bad = await request(h.app).post(SVC).set('Origin', 'http://localhost:3000').send({});
    expect(bad.status).not.toBe(200);
    expect(bad.headers['access-control-allow-origin']).toBe('http://localhost:3000');
    expect(bad.headers['access-control-expose-headers']).toBe('WWW-Authenticate');
  });
});

describe('CDS_CORS_ORIGINS', () => {
  it('replaces the defaults; an explicit port must match, :* allows any', () => {
    const { corsOrigins } = loadConfig({
      CDS_CORS_ORIGINS: 'https://ehr.example.org, http://localhost:*, http://127.0.0.1:8080',
    });
    expect(isAllowedOrigin('https://ehr.example.org', corsOrigins)).toBe(true);
    expect(isAllowedOrigin('https://ehr.example.org:8443', corsOrigins)).toBe(false);
    expect(isAllowedOrigin('http://localhost:1234', corsOrigins)).toBe(true);
    expect(isAllowedOrigin('http://localhost', corsOrigins)).toBe(true);
    expect(isAllowedOrigin('http://127.0.0.1:8080', corsOrigins)).toBe(true);
    expect(isAllowedOrigin('http://127.0.0.1:8081', corsOrigins)).toBe(false);
    expect(isAllowedOrigin('https://sandbox.cds-hooks.org', corsOrigins)).toBe(false);
    expect(isAllowedOrigin('https://ehr.example.org/path', corsOrigins)).toBe(false);
  });

  it('refuses a value that is not an origin', () => {
    expect(() => loadConfig({ CDS_CORS_ORIGINS: 'https://ehr.example.org/app' })).toThrow(/CDS_CORS_ORIGINS/);
    expect(() => loadConfig({ CDS_CORS_ORIGINS: 'ftp://ehr.example.org' })).toThrow(/CDS_CORS_ORIGINS/);
  });
});
