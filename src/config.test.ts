import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, parseByteSize } from './config';

function issuersFile(entries: unknown): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cds-config-'));
  const file = path.join(dir, 'issuers.json');
  fs.writeFileSync(file, typeof entries === 'string' ? entries : JSON.stringify(entries));
  return file;
}

const jwks = { keys: [{ kty: 'EC', crv: 'P-384', x: 'x', y: 'y', kid: 'k1' }] };

/** The variables production requires besides a trusted issuer. */
const PROD: Record<string, string> = {
  NODE_ENV: 'production',
  CDS_PUBLIC_BASE_URL: 'https://cds.example.org',
  CDS_FHIR_ALLOWLIST: 'https://ehr.example.org/fhir',
};

describe('loadConfig', () => {
  it('gives every default of contract section 1 in development', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      port: 3000,
      nodeEnv: 'development',
      mode: 'development',
      production: false,
      publicBaseUrl: 'http://localhost:3000',
      trustedIssuers: [],
      jwtSkewS: 60,
      jwtMaxLifetimeS: 300,
      fhirTimeoutMs: 1500,
      deadlineMs: 4000,
      fhirMaxPages: 5,
      bodyLimit: 5 * 1024 * 1024,
      dataDir: path.resolve('data'),
      audit: false,
      auditRetentionDays: 2190,
      workers: 1,
      metrics: true,
      servicesDir: path.resolve('cds-services'),
      logLevel: 'info',
    });
    expect(c.fhirAllowlist.map((e) => `${e.protocol}//${e.hostname}${e.port ?? ''}${e.path}`)).toEqual([
      'http://localhost',
      'http://127.0.0.1',
      'http://[::1]',
    ]);
    expect(c.fhirAllowlist.every((e) => e.port === undefined)).toBe(true);
    expect(c.corsOrigins).toContainEqual({ protocol: 'https:', hostname: 'sandbox.cds-hooks.org', port: '' });
    expect(c.corsOrigins).toContainEqual({ protocol: 'http:', hostname: '[::1]', port: '*' });
  });

  it('derives the base URL from PORT and strips a trailing slash from CDS_PUBLIC_BASE_URL', () => {
    expect(loadConfig({ PORT: '8080' }).publicBaseUrl).toBe('http://localhost:8080');
    expect(loadConfig({ CDS_PUBLIC_BASE_URL: 'https://cds.example.org/base/' }).publicBaseUrl).toBe(
      'https://cds.example.org/base'
    );
  });

  it('is frozen, deeply', () => {
    const c = loadConfig({});
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.fhirAllowlist)).toBe(true);
    expect(Object.isFrozen(c.fhirAllowlist[0])).toBe(true);
  });

  it.each([
    ['PORT', 'abc'],
    ['PORT', '70000'],
    ['CDS_JWT_SKEW_S', '-1'],
    ['CDS_JWT_MAX_LIFETIME_S', '1.5'],
    ['CDS_FHIR_TIMEOUT_MS', '0'],
    ['CDS_DEADLINE_MS', 'soon'],
    ['CDS_FHIR_MAX_PAGES', '0'],
    ['CDS_BODY_LIMIT', 'huge'],
    ['CDS_AUDIT', 'maybe'],
    ['CDS_AUDIT_RETENTION_DAYS', '0'],
    ['CDS_WORKERS', '0'],
    ['CDS_METRICS', 'sometimes'],
    ['CDS_LOG_LEVEL', 'loud'],
    ['CDS_PUBLIC_BASE_URL', 'not a url'],
    ['CDS_PUBLIC_BASE_URL', 'ftp://x.example'],
    ['CDS_FHIR_ALLOWLIST', 'http://user:pw@localhost'],
    ['CDS_FHIR_ALLOWLIST', 'http://localhost/fhir?x=1'],
    ['CDS_CORS_ORIGINS', 'not-an-origin'],
    ['CDS_TRUSTED_ISSUERS', '/nonexistent/issuers.json'],
  ])('a bad %s (%s) throws an error naming it', (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(new RegExp(name));
  });

  it('parses the FHIR allowlist into entries (ports stated, paths without trailing slash)', () => {
    const c = loadConfig({ CDS_FHIR_ALLOWLIST: 'https://ehr.example.org/fhir/, http://localhost:8080' });
    expect(c.fhirAllowlist).toEqual([
      { protocol: 'https:', hostname: 'ehr.example.org', path: '/fhir' },
      { protocol: 'http:', hostname: 'localhost', port: '8080', path: '' },
    ]);
  });

  it('reads sizes in bytes, kb, mb and gb', () => {
    expect(parseByteSize('X', '100')).toBe(100);
    expect(parseByteSize('X', '512kb')).toBe(512 * 1024);
    expect(parseByteSize('X', '5MB')).toBe(5 * 1024 * 1024);
    expect(parseByteSize('X', '1.5mb')).toBe(1.5 * 1024 * 1024);
  });

  it('reads CDS_DATABASE_URL, and refuses anything but a postgresql:// URL without repeating it', () => {
    expect(loadConfig({}).databaseUrl).toBeUndefined();
    const url = 'postgresql://cds:s3cret@db.example:5432/cds?sslmode=require';
    expect(loadConfig({ CDS_DATABASE_URL: url }).databaseUrl).toBe(url);
    expect(loadConfig({ CDS_DATABASE_URL: 'postgres://db/cds' }).databaseUrl).toBe('postgres://db/cds');
    for (const bad of ['mysql://u:s3cret@db/cds', 'not a url s3cret']) {
      let message = '';
      try {
        loadConfig({ CDS_DATABASE_URL: bad });
      } catch (e) {
        message = (e as Error).message;
      }
      expect(message).toMatch(/^Configuration error in CDS_DATABASE_URL: /);
      expect(message).not.toContain('s3cret');
    }
  });

  it('turns auditing and workers on in production', () => {
    const file = issuersFile([{ iss: 'https://ehr.example.org', jwks }]);
    const c = loadConfig({ ...PROD, CDS_TRUSTED_ISSUERS: file });
    expect(c.production).toBe(true);
    expect(c.audit).toBe(true);
    expect(c.workers).toBe(os.availableParallelism());
    expect(loadConfig({ ...PROD, CDS_TRUSTED_ISSUERS: file, CDS_AUDIT: 'off' }).audit).toBe(false);
  });

  it('refuses to start in production without a trusted issuer', () => {
    expect(() => loadConfig({ ...PROD })).toThrow(/CDS_TRUSTED_ISSUERS/);
  });

  it.each(['CDS_PUBLIC_BASE_URL', 'CDS_FHIR_ALLOWLIST'])(
    'refuses to start in production without %s, naming it (contract section 8)',
    (name) => {
      const file = issuersFile([{ iss: 'https://ehr.example.org', jwks }]);
      const env: Record<string, string> = { ...PROD, CDS_TRUSTED_ISSUERS: file };
      delete env[name];
      expect(() => loadConfig(env)).toThrow(new RegExp(`${name}.*production`));
      expect(() => loadConfig({ ...env, [name]: '  ' })).toThrow(new RegExp(name));
      expect(loadConfig({ ...env, NODE_ENV: 'development' }).production).toBe(false);
    }
  );

  it('listens on 127.0.0.1 in development and on every interface in production unless CDS_HOST says', () => {
    const file = issuersFile([{ iss: 'https://ehr.example.org', jwks }]);
    expect(loadConfig({}).host).toBe('127.0.0.1');
    expect(loadConfig({ ...PROD, CDS_TRUSTED_ISSUERS: file }).host).toBeUndefined();
    expect(loadConfig({ CDS_HOST: '0.0.0.0' }).host).toBe('0.0.0.0');
    expect(loadConfig({ CDS_HOST: '::' }).host).toBeUndefined();
    expect(loadConfig({ CDS_HOST: '*' }).host).toBeUndefined();
    expect(loadConfig({ CDS_HOST: '[::1]' }).host).toBe('::1');
    expect(loadConfig({ ...PROD, CDS_TRUSTED_ISSUERS: file, CDS_HOST: '10.1.2.3' }).host).toBe('10.1.2.3');
    expect(loadConfig({ CDS_HOST: 'cds.internal' }).host).toBe('cds.internal');
    expect(() => loadConfig({ CDS_HOST: 'http://x' })).toThrow(/CDS_HOST/);
  });

  it('reads CDS_MAX_DRAFT_ORDERS (default 100) and CDS_REQUEST_TIMEOUT_MS (default 30000)', () => {
    expect(loadConfig({}).maxDraftOrders).toBe(100);
    expect(loadConfig({}).requestTimeoutMs).toBe(30000);
    expect(loadConfig({ CDS_MAX_DRAFT_ORDERS: '5', CDS_REQUEST_TIMEOUT_MS: '2000' })).toMatchObject({
      maxDraftOrders: 5,
      requestTimeoutMs: 2000,
    });
    expect(() => loadConfig({ CDS_MAX_DRAFT_ORDERS: '0' })).toThrow(/CDS_MAX_DRAFT_ORDERS/);
    expect(() => loadConfig({ CDS_REQUEST_TIMEOUT_MS: 'soon' })).toThrow(/CDS_REQUEST_TIMEOUT_MS/);
  });

  describe('trusted issuers file', () => {
    it('reads jwks_uri and inline jwks issuers, algorithms defaulting to ES384 and RS384', () => {
      const file = issuersFile([
        { iss: 'https://a.example', jwks_uri: 'https://a.example/jwks.json' },
        { iss: 'https://b.example', jwks, algorithms: ['RS384'] },
      ]);
      const c = loadConfig({ CDS_TRUSTED_ISSUERS: file });
      expect(c.trustedIssuers).toEqual([
        { iss: 'https://a.example', jwksUri: 'https://a.example/jwks.json', algorithms: ['ES384', 'RS384'] },
        { iss: 'https://b.example', jwks, algorithms: ['RS384'] },
      ]);
    });

    it.each([
      ['an algorithm outside ES384/RS384', [{ iss: 'https://a.example', jwks, algorithms: ['ES384', 'HS256'] }]],
      ['alg none', [{ iss: 'https://a.example', jwks, algorithms: ['none'] }]],
      ['an empty algorithm list', [{ iss: 'https://a.example', jwks, algorithms: [] }]],
      ['both jwks_uri and jwks', [{ iss: 'https://a.example', jwks, jwks_uri: 'https://a.example/j' }]],
      ['neither jwks_uri nor jwks', [{ iss: 'https://a.example' }]],
      ['no iss', [{ jwks }]],
      [
        'a duplicate iss',
        [
          { iss: 'https://a.example', jwks },
          { iss: 'https://a.example', jwks },
        ],
      ],
      ['a private key', [{ iss: 'https://a.example', jwks: { keys: [{ ...jwks.keys[0], d: 'secret' }] } }]],
      ['a symmetric key', [{ iss: 'https://a.example', jwks: { keys: [{ kty: 'oct', k: 'c2VjcmV0' }] } }]],
      ['an unknown member', [{ iss: 'https://a.example', jwks, jku: 'https://x' }]],
      ['not an array', { iss: 'https://a.example', jwks }],
      ['invalid JSON', '[{'],
    ])('stops start-up on %s', (_name, entries) => {
      expect(() => loadConfig({ CDS_TRUSTED_ISSUERS: issuersFile(entries) })).toThrow(/CDS_TRUSTED_ISSUERS/);
    });

    it('lets an issuer opt in to RS256, ES256, PS256 and PS384 and set its own maxLifetimeS (1 s to 24 h)', () => {
      const file = issuersFile([
        {
          iss: 'https://a.example',
          jwks,
          algorithms: ['RS256', 'ES256', 'PS256', 'PS384', 'RS256'],
          maxLifetimeS: 86400,
        },
        { iss: 'https://b.example', jwks, maxLifetimeS: 1 },
      ]);
      expect(loadConfig({ CDS_TRUSTED_ISSUERS: file }).trustedIssuers).toEqual([
        { iss: 'https://a.example', jwks, algorithms: ['RS256', 'ES256', 'PS256', 'PS384'], maxLifetimeS: 86400 },
        { iss: 'https://b.example', jwks, algorithms: ['ES384', 'RS384'], maxLifetimeS: 1 },
      ]);
    });

    it.each([
      ['none', { algorithms: ['none'] }, /"none" is not allowed \(unsigned and HMAC/],
      ['HS256', { algorithms: ['ES384', 'HS256'] }, /"HS256" is not allowed \(unsigned and HMAC/],
      ['HS512', { algorithms: ['HS512'] }, /"HS512" is not allowed/],
      ['RS512', { algorithms: ['RS512'] }, /"RS512" is not allowed \(only ES384, RS384, ES256, RS256, PS256, PS384/],
      ['EdDSA', { algorithms: ['EdDSA'] }, /"EdDSA" is not allowed/],
      ['a lower-case rs256', { algorithms: ['rs256'] }, /"rs256" is not allowed/],
      ['maxLifetimeS 0', { maxLifetimeS: 0 }, /maxLifetimeS must be a whole number of seconds from 1 to 86400/],
      ['maxLifetimeS over 24 h', { maxLifetimeS: 86401 }, /maxLifetimeS/],
      ['maxLifetimeS 1.5', { maxLifetimeS: 1.5 }, /maxLifetimeS/],
      ['maxLifetimeS as text', { maxLifetimeS: '3600' }, /maxLifetimeS/],
    ])('stops start-up on %s, naming the issuer', (_name, extra, message) => {
      const file = issuersFile([
        { iss: 'https://ok.example', jwks },
        { iss: 'https://odd.example', jwks, ...extra },
      ]);
      expect(() => loadConfig({ CDS_TRUSTED_ISSUERS: file })).toThrow(message);
      expect(() => loadConfig({ CDS_TRUSTED_ISSUERS: file })).toThrow(
        /CDS_TRUSTED_ISSUERS.*\[1\] \(https:\/\/odd\.example\)/
      );
    });

    it('requires https jwks_uri in production, except on loopback', () => {
      const plain = issuersFile([{ iss: 'https://a.example', jwks_uri: 'http://a.example/jwks.json' }]);
      expect(() => loadConfig({ ...PROD, CDS_TRUSTED_ISSUERS: plain })).toThrow(/https/);
      expect(loadConfig({ CDS_TRUSTED_ISSUERS: plain }).trustedIssuers).toHaveLength(1);
      const loop = issuersFile([{ iss: 'https://a.example', jwks_uri: 'http://127.0.0.1:9999/jwks.json' }]);
      expect(loadConfig({ ...PROD, CDS_TRUSTED_ISSUERS: loop }).trustedIssuers).toHaveLength(1);
    });
  });
});
