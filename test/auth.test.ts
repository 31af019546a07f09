// JWT authentication (contract sections 1, 3 and 8; checklist S-1..S-9) through the HTTP app.
import { exportSPKI } from 'jose';
import request from 'supertest';
import { ERROR_SYSTEM } from '../src/errors';
import { makeHarness, orderSignBody, type Harness } from './helpers/fake-http-deps';
import {
  hmacToken,
  jwksOf,
  makeKey,
  signToken,
  startJwksServer,
  unsignedToken,
  writeIssuersFile,
  type JwksServer,
  type TestKey,
} from './helpers/keys';

const BASE = 'http://cds.test';
const SVC = '/cds-services/svc-a';
const AUD = `${BASE}${SVC}`;
const INLINE_ISS = 'https://ehr.example.org';
const REMOTE_ISS = 'https://remote-ehr.example.org';
const ES_ONLY_ISS = 'https://es-only.example.org';

let es: TestKey;
let rs: TestKey;
let remoteKey: TestKey;
let rotatedKey: TestKey;
let stranger: TestKey;
let jwksServer: JwksServer;
let remoteKeys: TestKey[];
let issuersFile: string;

const now = (): number => Math.floor(Date.now() / 1000);

beforeAll(async () => {
  es = await makeKey('ES384', 'es-1');
  rs = await makeKey('RS384', 'rs-1');
  remoteKey = await makeKey('ES384', 'remote-1');
  rotatedKey = await makeKey('ES384', 'remote-2');
  stranger = await makeKey('ES384', 'stranger');
  remoteKeys = [remoteKey];
  jwksServer = await startJwksServer(() => jwksOf(...remoteKeys));
  issuersFile = writeIssuersFile([
    { iss: INLINE_ISS, jwks: jwksOf(es, rs) },
    { iss: REMOTE_ISS, jwks_uri: jwksServer.url },
    { iss: ES_ONLY_ISS, jwks: jwksOf(es, rs), algorithms: ['ES384'] },
  ]);
});

afterAll(() => jwksServer.close());

async function harness(mode: 'production' | 'development'): Promise<Harness> {
  return makeHarness({
    env: { NODE_ENV: mode, CDS_TRUSTED_ISSUERS: issuersFile, CDS_PUBLIC_BASE_URL: BASE, CDS_FHIR_ALLOWLIST: 'http://127.0.0.1' },
    authOptions: { jwksCooldownMs: 0 },
  });
}

function call(h: Harness, token?: string, path = SVC): request.Test {
  const req = request(h.app).post(path).set('Content-Type', 'application/json');
  if (token !== undefined) {
    req.set('Authorization', `Bearer ${token}`);
  }
  return req.send(JSON.stringify(orderSignBody()));
}

/** The one 401 body: one issue, security, unauthorized, no diagnostics, no expression; WWW-Authenticate: Bearer. */
function expect401(res: request.Response): void {
  expect(res.status).toBe(401);
  expect(res.headers['www-authenticate']).toBe('Bearer');
  expect(res.body).toEqual({
    resourceType: 'OperationOutcome',
    issue: [
      { severity: 'error', code: 'security', details: { coding: [{ system: ERROR_SYSTEM, code: 'unauthorized' }] } },
    ],
  });
}

describe('production', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await harness('production');
  });
  afterEach(() => h.close());

  it('accepts a valid ES384 token and a valid RS384 token', async () => {
    expect((await call(h, await signToken(es, { iss: INLINE_ISS, aud: AUD }))).status).toBe(200);
    expect((await call(h, await signToken(rs, { iss: INLINE_ISS, aud: AUD }))).status).toBe(200);
    expect(h.calls).toHaveLength(2);
  });

  it('refuses a missing Authorization header, or one that is not a bearer JWT', async () => {
    expect401(await call(h));
    expect401(await request(h.app).post(SVC).set('Authorization', 'Basic dXNlcjpwYXNz').send(orderSignBody()));
    expect401(await call(h, 'not-a-jwt'));
    expect(h.calls).toHaveLength(0);
  });

  it('refuses alg none', async () => {
    const token = unsignedToken({ iss: INLINE_ISS, aud: AUD, iat: now(), exp: now() + 300, jti: 'none-1' });
    expect401(await call(h, token));
  });

  it('refuses HS256 signed with the public key bytes', async () => {
    const pem = await exportSPKI(es.publicKey);
    const payload = { iss: INLINE_ISS, aud: AUD, iat: now(), exp: now() + 300, jti: 'hs-1' };
    expect401(await call(h, await hmacToken(new TextEncoder().encode(pem), payload, 'es-1')));
    expect401(await call(h, await hmacToken(new TextEncoder().encode(JSON.stringify(es.publicJwk)), payload, 'es-1')));
  });

  it('refuses an algorithm the issuer does not allow', async () => {
    expect401(await call(h, await signToken(rs, { iss: ES_ONLY_ISS, aud: AUD })));
    expect((await call(h, await signToken(es, { iss: ES_ONLY_ISS, aud: AUD }))).status).toBe(200);
  });

  it('refuses a wrong aud; accepts an array containing ours and a trailing-slash difference', async () => {
    expect401(await call(h, await signToken(es, { iss: INLINE_ISS, aud: `${BASE}/cds-services/svc-b` })));
    expect401(await call(h, await signToken(es, { iss: INLINE_ISS, aud: `${BASE}/cds-services` })));
    expect401(await call(h, await signToken(es, { iss: INLINE_ISS, aud: `https://cds.test${SVC}` })));
    expect((await call(h, await signToken(es, { iss: INLINE_ISS, aud: ['https://other', AUD] }))).status).toBe(200);
    expect((await call(h, await signToken(es, { iss: INLINE_ISS, aud: `${AUD}/` }))).status).toBe(200);
  });

  it('refuses an expired token; tolerates expiry within the skew', async () => {
    expect401(await call(h, await signToken(es, { iss: INLINE_ISS, aud: AUD, iat: now() - 400, exp: now() - 100 })));
    const withinSkew = await signToken(es, { iss: INLINE_ISS, aud: AUD, iat: now() - 250, exp: now() - 30 });
    expect((await call(h, withinSkew)).status).toBe(200);
  });

  it('refuses iat in the future beyond the skew; tolerates a few seconds', async () => {
    expect401(await call(h, await signToken(es, { iss: INLINE_ISS, aud: AUD, iat: now() + 120, exp: now() + 300 })));
    expect((await call(h, await signToken(es, { iss: INLINE_ISS, aud: AUD, iat: now() + 2 }))).status).toBe(200);
  });

  it('refuses a lifetime over CDS_JWT_MAX_LIFETIME_S (the CRD generator 24 h token)', async () => {
    expect401(await call(h, await signToken(es, { iss: INLINE_ISS, aud: AUD, iat: now(), exp: now() + 301 })));
    expect401(await call(h, await signToken(rs, { iss: INLINE_ISS, aud: AUD, iat: now(), exp: now() + 86400 })));
    expect(
      (await call(h, await signToken(es, { iss: INLINE_ISS, aud: AUD, iat: now(), exp: now() + 300 }))).status
    ).toBe(200);
  });

  it('refuses a token without exp, iat or jti', async () => {
    expect401(await call(h, await signToken(es, { iss: INLINE_ISS, aud: AUD, jti: null })));
    const { SignJWT } = await import('jose');
    const noExp = await new SignJWT({ iss: INLINE_ISS, aud: AUD, iat: now(), jti: 'no-exp' })
      .setProtectedHeader({ alg: 'ES384', kid: 'es-1' })
      .sign(es.privateKey);
    expect401(await call(h, noExp));
    const noIat = await new SignJWT({ iss: INLINE_ISS, aud: AUD, exp: now() + 60, jti: 'no-iat' })
      .setProtectedHeader({ alg: 'ES384', kid: 'es-1' })
      .sign(es.privateKey);
    expect401(await call(h, noIat));
  });

  it('refuses a replayed jti', async () => {
    const token = await signToken(es, { iss: INLINE_ISS, aud: AUD });
    expect((await call(h, token)).status).toBe(200);
    expect401(await call(h, token));
    // The same jti from another issuer is not a replay.
    const jti = 'shared-jti';
    expect((await call(h, await signToken(es, { iss: INLINE_ISS, aud: AUD, jti }))).status).toBe(200);
    expect((await call(h, await signToken(es, { iss: ES_ONLY_ISS, aud: AUD, jti }))).status).toBe(200);
  });

  it('refuses a token signed with a key whose kid is unknown, or a tampered token', async () => {
    expect401(await call(h, await signToken(stranger, { iss: INLINE_ISS, aud: AUD })));
    const forged = await signToken(stranger, { iss: INLINE_ISS, aud: AUD, header: { kid: 'es-1' } });
    expect401(await call(h, forged));
    const good = await signToken(es, { iss: INLINE_ISS, aud: AUD });
    const [head, , sig] = good.split('.');
    const payload = Buffer.from(
      JSON.stringify({ iss: INLINE_ISS, aud: AUD, iat: now(), exp: now() + 300, jti: 'tampered' })
    ).toString('base64url');
    expect401(await call(h, `${head}.${payload}.${sig}`));
  });

  it('refuses an untrusted issuer', async () => {
    expect401(await call(h, await signToken(stranger, { iss: 'https://unknown.example', aud: AUD })));
  });

  it('takes keys only from jwks_uri: caches them, refetches on an unknown kid, refuses a foreign jku', async () => {
    remoteKeys = [remoteKey];
    const before = jwksServer.hits();
    expect((await call(h, await signToken(remoteKey, { iss: REMOTE_ISS, aud: AUD }))).status).toBe(200);
    expect((await call(h, await signToken(remoteKey, { iss: REMOTE_ISS, aud: AUD }))).status).toBe(200);
    expect(jwksServer.hits() - before).toBe(1);

    // A jku naming the configured JWKS is fine; any other jku is refused and never fetched.
    const sameJku = await signToken(remoteKey, { iss: REMOTE_ISS, aud: AUD, header: { jku: jwksServer.url } });
    expect((await call(h, sameJku)).status).toBe(200);
    const hitsBeforeJku = jwksServer.hits();
    const evil = await signToken(remoteKey, {
      iss: REMOTE_ISS,
      aud: AUD,
      header: { jku: 'http://127.0.0.1:1/evil.json' },
    });
    expect401(await call(h, evil));
    expect(jwksServer.hits()).toBe(hitsBeforeJku);

    // Key rotation: an unknown kid triggers one refetch, after which the new key verifies.
    remoteKeys = [remoteKey, rotatedKey];
    expect((await call(h, await signToken(rotatedKey, { iss: REMOTE_ISS, aud: AUD }))).status).toBe(200);
    expect(jwksServer.hits()).toBe(hitsBeforeJku + 1);
    // A kid the issuer does not publish is still refused after the refetch.
    expect401(await call(h, await signToken(stranger, { iss: REMOTE_ISS, aud: AUD })));
  });

  it('ignores jku with inline keys', async () => {
    const token = await signToken(es, { iss: INLINE_ISS, aud: AUD, header: { jku: 'https://elsewhere.example/jwks' } });
    expect((await call(h, token)).status).toBe(200);
  });

  it('never requires a token for discovery, health, Questionnaires and preflight', async () => {
    await request(h.app).get('/cds-services').expect(200);
    await request(h.app).get('/cds-services').set('Authorization', 'Bearer garbage').expect(200);
    await request(h.app).get('/health').expect(200);
    await request(h.app).get('/fhir/Questionnaire/svc-a').expect(200);
    await request(h.app).options(SVC).set('Origin', 'http://localhost:3000').expect(204);
  });

  it('feedback needs a token whose aud is the feedback URL', async () => {
    const feedback = {
      feedback: [{ card: 'c-1', outcome: 'overridden', outcomeTimestamp: '2024-06-01T10:00:00Z' }],
    };
    const path = `${SVC}/feedback`;
    expect401(await request(h.app).post(path).send(feedback));
    const wrongAud = await signToken(es, { iss: INLINE_ISS, aud: AUD });
    expect401(await request(h.app).post(path).set('Authorization', `Bearer ${wrongAud}`).send(feedback));
    const ok = await signToken(es, { iss: INLINE_ISS, aud: `${BASE}${path}` });
    // Feedback names a card the service issued (test/feedback.test.ts checks that over HTTP).
    await h.store.rememberCards('svc-a', ['c-1']);
    const res = await request(h.app).post(path).set('Authorization', `Bearer ${ok}`).send(feedback);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({});
  });

  it('checks in order: 404 before 401, 401 before 415', async () => {
    const res = await request(h.app).post('/cds-services/unknown').send(orderSignBody());
    expect(res.status).toBe(404);
    expect401(await request(h.app).post(SVC).set('Content-Type', 'text/plain').send('x'));
  });

  it('logs why a token was refused and its issuer, never the token', async () => {
    const token = await signToken(es, { iss: INLINE_ISS, aud: 'https://wrong.example' });
    expect401(await call(h, token));
    const refused = h.logs().find((l) => l['msg'] === 'authentication refused');
    expect(refused).toMatchObject({ reason: 'aud is not this endpoint', iss: INLINE_ISS });
    expect(h.logText()).not.toContain(token);
    expect(h.logText()).not.toContain(token.split('.')[2]!);
  });
});

describe('development', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await harness('development');
  });
  afterEach(() => h.close());

  it('accepts a call without Authorization', async () => {
    expect((await call(h)).status).toBe(200);
  });

  it('ignores a token from an unconfigured issuer, logging its iss', async () => {
    const token = await signToken(stranger, { iss: 'https://sandbox.cds-hooks.org', aud: AUD });
    expect((await call(h, token)).status).toBe(200);
    const line = h.logs().find((l) => l['msg'] === 'authorization ignored in development');
    expect(line).toMatchObject({ iss: 'https://sandbox.cds-hooks.org' });
    expect(h.logText()).not.toContain(token);
  });

  it('still refuses a token from a configured issuer that fails verification', async () => {
    expect401(await call(h, await signToken(es, { iss: INLINE_ISS, aud: AUD, iat: now() - 400, exp: now() - 100 })));
    expect401(await call(h, await signToken(stranger, { iss: INLINE_ISS, aud: AUD })));
    const token = await signToken(es, { iss: INLINE_ISS, aud: AUD });
    expect((await call(h, token)).status).toBe(200);
    expect401(await call(h, token));
  });
});
