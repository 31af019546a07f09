// Readiness (contract section 8; issue 8 finding 11): GET /ready answers 200 when the policies are loaded and the
// store accepts writes, else 503 not-ready (an OperationOutcome); it needs no JWT; /health stays the liveness check.
// Over HTTP on the real application, and on the built service with two workers (the store behind the primary).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import request from 'supertest';
import { ERROR_SYSTEM } from '../src/errors';
import { jwksOf, makeKey, writeIssuersFile } from './helpers/keys';
import { BASE_URL, buildServiceApp, type ServiceApp } from './helpers/service-app';
import { send, startService, type ServiceProcess } from './helpers/service-process';

function expectNotReady(res: request.Response, diagnostics: RegExp): void {
  expect(res.status).toBe(503);
  expect(res.headers['content-type']).toMatch(/^application\/fhir\+json/);
  expect(res.body).toMatchObject({
    resourceType: 'OperationOutcome',
    issue: [{ code: 'transient', details: { coding: [{ system: ERROR_SYSTEM, code: 'not-ready' }] } }],
  });
  expect(res.body.issue[0].diagnostics).toMatch(diagnostics);
}

describe('GET /ready on the application', () => {
  let app: ServiceApp;
  beforeAll(async () => {
    const issuers = writeIssuersFile([{ iss: 'https://ehr.ready.test', jwks: jwksOf(await makeKey('ES384')) }]);
    app = await buildServiceApp({
      env: {
        NODE_ENV: 'production',
        CDS_TRUSTED_ISSUERS: issuers,
        CDS_PUBLIC_BASE_URL: BASE_URL,
        CDS_FHIR_ALLOWLIST: 'http://127.0.0.1',
      },
    });
  });
  afterAll(() => app.close());

  it('answers 200 without a JWT in production, and is never cached', async () => {
    const res = await request(app.app).get('/ready');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ready' });
    expect(res.headers['cache-control']).toBe('no-store');
    // The service calls themselves still need one.
    expect((await request(app.app).post('/cds-services/blinatumomab-mmm').send({})).status).toBe(401);
  });

  it('answers 503 not-ready while the store cannot write, and 200 again once it can; /health stays 200', async () => {
    const moved = `${app.dataDir}.away`;
    fs.renameSync(app.dataDir, moved);
    try {
      expectNotReady(await request(app.app).get('/ready'), /store does not accept writes/);
      expect((await request(app.app).get('/health')).status).toBe(200);
    } finally {
      fs.renameSync(moved, app.dataDir);
    }
    expect((await request(app.app).get('/ready')).status).toBe(200);
  });

  it('answers only GET', async () => {
    const res = await request(app.app).post('/ready').send({});
    expect(res.status).toBe(405);
    expect(res.headers['allow']).toBe('GET, OPTIONS');
  });
});

describe('GET /ready with no policy loaded', () => {
  it('answers 503 not-ready', async () => {
    const empty = await buildServiceApp({ services: [] });
    try {
      expectNotReady(await request(empty.app).get('/ready'), /No policy is loaded/);
    } finally {
      await empty.close();
    }
  });
});

describe('GET /ready on the built service with two workers', () => {
  let service: ServiceProcess;
  let dataDir: string;
  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cds-ready-'));
    service = await startService({ CDS_WORKERS: '2', CDS_DATA_DIR: dataDir });
  }, 180000);
  afterAll(() => {
    service?.kill();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('is ready through the primary, and says not-ready when the primary’s store cannot write', async () => {
    for (let i = 0; i < 4; i += 1) {
      const answer = await send(service.port, 'GET', '/ready');
      expect(answer.status).toBe(200);
      expect(JSON.parse(answer.body)).toEqual({ status: 'ready' });
    }
    const moved = `${dataDir}.away`;
    fs.renameSync(dataDir, moved);
    try {
      const answer = await send(service.port, 'GET', '/ready');
      expect(answer.status).toBe(503);
      expect(answer.body).toContain('not-ready');
      expect((await send(service.port, 'GET', '/health')).status).toBe(200);
    } finally {
      fs.renameSync(moved, dataDir);
    }
    expect((await send(service.port, 'GET', '/ready')).status).toBe(200);
  }, 60000);
});
