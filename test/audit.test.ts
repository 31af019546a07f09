// The audit trail over HTTP (contract section 8): written before the answer, every secret of `fhirAuthorization`
// redacted, and in production a call whose record cannot be written answers 503 `audit-unavailable`.
import fs from 'node:fs';
import path from 'node:path';
import request from 'supertest';
import { ERROR_SYSTEM } from '../src/errors';
import { makeHarness, orderSignBody, readAudit, type Harness } from './helpers/fake-http-deps';
import { jwksOf, makeKey, signToken, writeIssuersFile, type TestKey } from './helpers/keys';

const BASE = 'http://cds.test';
const SVC = '/cds-services/svc-a';
const ISS = 'https://ehr.audit.test';

let key: TestKey;
let issuersFile: string;

beforeAll(async () => {
  key = await makeKey('ES384', 'audit-key');
  issuersFile = writeIssuersFile([{ iss: ISS, jwks: jwksOf(key) }]);
});

async function harness(mode: 'production' | 'development'): Promise<Harness> {
  return makeHarness({
    env: {
      NODE_ENV: mode,
      CDS_AUDIT: 'on',
      CDS_TRUSTED_ISSUERS: issuersFile,
      CDS_PUBLIC_BASE_URL: BASE,
      CDS_FHIR_ALLOWLIST: 'http://127.0.0.1',
    },
  });
}

async function call(h: Harness, body: unknown = orderSignBody(), path = SVC): Promise<request.Response> {
  const token = await signToken(key, { iss: ISS, aud: `${BASE}${path}` });
  return request(h.app)
    .post(path)
    .set('Authorization', `Bearer ${token}`)
    .set('Content-Type', 'application/json')
    .send(JSON.stringify(body));
}

/** The audit folder replaced by a file: no record can be written any more. */
function breakAudit(h: Harness): void {
  fs.rmSync(path.join(h.dataDir, 'audit'), { recursive: true, force: true });
  fs.writeFileSync(path.join(h.dataDir, 'audit'), 'not a folder');
}

function repairAudit(h: Harness): void {
  fs.rmSync(path.join(h.dataDir, 'audit'), { force: true });
  fs.mkdirSync(path.join(h.dataDir, 'audit'));
}

describe('the audit record', () => {
  let h: Harness;
  afterEach(() => h.close());

  it('keeps token_type, expires_in, scope and subject of fhirAuthorization, and redacts every other member', async () => {
    h = await harness('production');
    const fhirAuthorization = {
      access_token: 'secret-access-token',
      refresh_token: 'secret-refresh-token',
      id_token: 'secret-id-token',
      patient: 'secret-extra-member',
      token_type: 'Bearer',
      expires_in: 300,
      scope: 'patient/*.read',
      subject: 'cds-service',
    };
    const res = await call(h, orderSignBody({ fhirServer: 'http://127.0.0.1:9/fhir', fhirAuthorization }));
    expect(res.status).toBe(200);
    const files = fs.readdirSync(path.join(h.dataDir, 'audit'));
    const text = files.map((f) => fs.readFileSync(path.join(h.dataDir, 'audit', f), 'utf8')).join('');
    expect(text).not.toContain('secret-');
    const [record] = await readAudit(h);
    expect((record as { request: { body: { fhirAuthorization: unknown } } }).request.body.fhirAuthorization).toEqual({
      access_token: '[redacted]',
      refresh_token: '[redacted]',
      id_token: '[redacted]',
      patient: '[redacted]',
      token_type: 'Bearer',
      expires_in: 300,
      scope: 'patient/*.read',
      subject: 'cds-service',
    });
  });

  it('is on disk when the answer arrives', async () => {
    h = await harness('production');
    for (let i = 0; i < 5; i += 1) {
      expect((await call(h, orderSignBody({ hookInstance: `on-disk-${i}` }))).status).toBe(200);
      // Read straight from the file, without waiting for the store: the record was written before the answer.
      const lines = fs
        .readdirSync(path.join(h.dataDir, 'audit'))
        .flatMap((f) => fs.readFileSync(path.join(h.dataDir, 'audit', f), 'utf8').trim().split('\n'));
      expect(lines.map((l) => (JSON.parse(l) as { hookInstance: string }).hookInstance)).toContain(`on-disk-${i}`);
    }
  });

  it('production: a call whose record cannot be written answers 503 audit-unavailable, and answers again once it can', async () => {
    h = await harness('production');
    breakAudit(h);
    const res = await call(h);
    expect(res.status).toBe(503);
    expect(res.headers['content-type']).toMatch(/^application\/fhir\+json/);
    expect(res.body).toEqual({
      resourceType: 'OperationOutcome',
      issue: [
        {
          severity: 'fatal',
          code: 'transient',
          details: { coding: [{ system: ERROR_SYSTEM, code: 'audit-unavailable' }] },
          diagnostics: expect.any(String) as string,
        },
      ],
    });
    const feedback = await call(h, { feedback: [] }, `${SVC}/feedback`);
    expect(feedback.status).toBe(503);
    const lines = h.logs();
    expect(lines.filter((l) => l['msg'] === 'audit write failed').length).toBeGreaterThanOrEqual(2);
    expect(lines.filter((l) => l['msg'] === 'service call').map((l) => l['status'])).toEqual([503]);
    repairAudit(h);
    expect((await call(h)).status).toBe(200);
    const records = await readAudit(h);
    expect(records.map((r) => (r as { response: { status: number } }).response.status)).toEqual([200]);
  });

  it('production: an error answer stays what it is when its record cannot be written (the audit comes last)', async () => {
    h = await harness('production');
    breakAudit(h);
    const res = await call(h, orderSignBody({ hook: 'patient-view' }));
    expect(res.status).toBe(400);
    expect(res.body.issue[0].details.coding[0].code).toBe('wrong-hook');
    expect(h.logs().some((l) => l['msg'] === 'audit write failed')).toBe(true);
  });

  it('a token whose jti the store cannot keep is not accepted: 503 audit-unavailable, never a 401 or a 500', async () => {
    h = await harness('production');
    fs.rmSync(path.join(h.dataDir, 'replay'), { recursive: true, force: true });
    fs.writeFileSync(path.join(h.dataDir, 'replay'), 'not a folder');
    const res = await call(h);
    expect(res.status).toBe(503);
    expect(res.body.issue[0].details.coding[0].code).toBe('audit-unavailable');
    expect(h.logs().some((l) => l['msg'] === 'replay cache write failed')).toBe(true);
    fs.rmSync(path.join(h.dataDir, 'replay'));
    fs.mkdirSync(path.join(h.dataDir, 'replay'));
    expect((await call(h)).status).toBe(200);
  });

  it('development: the call is answered and the failure logged', async () => {
    h = await harness('development');
    breakAudit(h);
    expect((await call(h)).status).toBe(200);
    expect(h.logs().some((l) => l['msg'] === 'audit write failed')).toBe(true);
  });
});
