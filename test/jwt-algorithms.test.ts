// Clients that sign otherwise (contract section 8; issue 10 deliverable 5): an issuer's `algorithms` may opt in to
// RS256, ES256, PS256 and PS384 besides the default ES384 and RS384, and its own `maxLifetimeS` (at most 24 h) may
// replace CDS_JWT_MAX_LIFETIME_S for it, so that a payer can admit the Da Vinci CRD request generator (RS256, 24 h
// tokens) deliberately. Real tokens signed with jose, the real application in production mode, over HTTP; and the
// built service refusing to start on `none` or an HMAC, naming the issuer.
import request from 'supertest';
import { fixtureRequest } from './helpers/live-app';
import { jwksOf, makeKey, signToken, writeIssuersFile, type TestAlg, type TestKey } from './helpers/keys';
import { runUntilExit } from './helpers/service-process';
import { BASE_URL, buildServiceApp, MMM, type ServiceApp } from './helpers/service-app';

const PATH = `/cds-services/${MMM}`;
const AUD = `${BASE_URL}${PATH}`;
const OPT_IN: TestAlg[] = ['RS256', 'ES256', 'PS256', 'PS384'];
const DEFAULTS: TestAlg[] = ['ES384', 'RS384'];
const DAY_S = 86400;

const keys = new Map<TestAlg, TestKey>();
let app: ServiceApp;
const body = JSON.stringify(fixtureRequest('adult-relapsed-ph-neg-cycle1-stepup--full.json'));

/** One issuer per algorithm that opts in to it alone; one default issuer holding every key; the generator. */
const optIn = (alg: TestAlg): string => `https://opt-in-${alg.toLowerCase()}.test`;
const DEFAULT_ISS = 'https://defaults.test';
const GENERATOR_ISS = 'https://crd-request-generator.test';

beforeAll(async () => {
  for (const alg of [...DEFAULTS, ...OPT_IN]) {
    keys.set(alg, await makeKey(alg, `key-${alg}`));
  }
  const all = jwksOf(...keys.values());
  const issuers = writeIssuersFile([
    ...OPT_IN.map((alg) => ({ iss: optIn(alg), jwks: all, algorithms: [alg] })),
    { iss: DEFAULT_ISS, jwks: all },
    { iss: GENERATOR_ISS, jwks: jwksOf(key('RS256')), algorithms: ['RS256'], maxLifetimeS: DAY_S },
  ]);
  app = await buildServiceApp({
    env: {
      NODE_ENV: 'production',
      CDS_TRUSTED_ISSUERS: issuers,
      CDS_PUBLIC_BASE_URL: BASE_URL,
      CDS_FHIR_ALLOWLIST: 'http://127.0.0.1',
      CDS_AUDIT: 'false',
    },
  });
}, 60000);

afterAll(() => app.close());

function key(alg: TestAlg): TestKey {
  const k = keys.get(alg);
  if (!k) {
    throw new Error(`no ${alg} key`);
  }
  return k;
}

async function call(token: string): Promise<number> {
  const res = await request(app.app)
    .post(PATH)
    .set('Content-Type', 'application/json')
    .set('Authorization', `Bearer ${token}`)
    .send(body);
  return res.status;
}

describe('algorithms', () => {
  it.each(OPT_IN)('%s: accepted from an issuer that opts in to it', async (alg) => {
    expect(await call(await signToken(key(alg), { iss: optIn(alg), aud: AUD }))).toBe(200);
  });

  it.each(OPT_IN)('%s: refused from an issuer with the default algorithms', async (alg) => {
    expect(await call(await signToken(key(alg), { iss: DEFAULT_ISS, aud: AUD }))).toBe(401);
  });

  it.each(DEFAULTS)('%s: accepted by default, refused by an issuer that opted in to another only', async (alg) => {
    expect(await call(await signToken(key(alg), { iss: DEFAULT_ISS, aud: AUD }))).toBe(200);
    expect(await call(await signToken(key(alg), { iss: optIn('RS256'), aud: AUD }))).toBe(401);
  });

  it('RS256 and PS256 differ: a PS256 token to the RS256 issuer is refused, whatever the key', async () => {
    expect(await call(await signToken(key('PS256'), { iss: optIn('RS256'), aud: AUD }))).toBe(401);
    expect(await call(await signToken(key('RS256'), { iss: optIn('PS256'), aud: AUD }))).toBe(401);
  });
});

describe('an issuer’s own maxLifetimeS', () => {
  const now = (): number => Math.floor(Date.now() / 1000);

  it('the CRD request generator’s 24 h RS256 tokens are accepted from its issuer, longer ones refused', async () => {
    const iat = now();
    expect(await call(await signToken(key('RS256'), { iss: GENERATOR_ISS, aud: AUD, iat, exp: iat + DAY_S }))).toBe(
      200
    );
    expect(await call(await signToken(key('RS256'), { iss: GENERATOR_ISS, aud: AUD, iat, exp: iat + DAY_S + 1 }))).toBe(
      401
    );
  });

  it('other issuers keep CDS_JWT_MAX_LIFETIME_S (300 s)', async () => {
    const iat = now();
    expect(await call(await signToken(key('RS256'), { iss: optIn('RS256'), aud: AUD, iat, exp: iat + 300 }))).toBe(200);
    expect(await call(await signToken(key('RS256'), { iss: optIn('RS256'), aud: AUD, iat, exp: iat + 301 }))).toBe(401);
    expect(await call(await signToken(key('ES384'), { iss: DEFAULT_ISS, aud: AUD, iat, exp: iat + DAY_S }))).toBe(401);
  });
});

describe('start-up', () => {
  it.each([['none'], ['HS256'], ['HS384']])(
    'an issuer whose algorithms list %s stops the service, naming the issuer',
    async (alg) => {
      const issuers = writeIssuersFile([
        { iss: 'https://fine.test', jwks: jwksOf(key('ES384')) },
        { iss: 'https://careless.test', jwks: jwksOf(key('ES384')), algorithms: ['ES384', alg] },
      ]);
      const { code, output } = await runUntilExit({ CDS_TRUSTED_ISSUERS: issuers });
      expect(code).toBe(1);
      expect(output).toContain('CDS_TRUSTED_ISSUERS');
      expect(output).toContain('https://careless.test');
      expect(output).toContain(`"${alg}" is not allowed`);
      expect(output).not.toMatch(/cds service listening/);
    },
    120000
  );
});
