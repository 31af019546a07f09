// The HTTP layer against fake deps: every status and body of contract section 3 it produces, the lenient cases,
// discovery, health, the Questionnaire route, audit redaction and what the logs never contain.
import request from 'supertest';
import { ERROR_SYSTEM, HttpError } from '../src/errors';
import { fakeService, makeHarness, orderSignBody, readAudit, type Harness } from './helpers/fake-http-deps';

const CDS = '/cds-services/svc-a';

/** Asserts an OperationOutcome with one issue of our code, and its expression (or none). */
function expectOutcome(res: request.Response, status: number, code: string, expression?: string): void {
  expect(res.status).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/fhir\+json/);
  expect(res.body.resourceType).toBe('OperationOutcome');
  expect(res.body.issue).toHaveLength(1);
  const issue = res.body.issue[0];
  expect(issue.details.coding).toEqual([{ system: ERROR_SYSTEM, code }]);
  if (expression === undefined) {
    expect(issue.expression).toBeUndefined();
  } else {
    expect(issue.expression).toEqual([expression]);
  }
  expect(JSON.stringify(res.body)).not.toMatch(/\bat .*\.(ts|js):\d+/);
}

describe('discovery, health and unknown routes', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await makeHarness();
  });
  afterAll(() => h.close());

  it('lists exactly the service definitions, in id order', async () => {
    const res = await request(h.app).get('/cds-services').expect(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.body).toEqual({
      services: [fakeService('svc-a').definition, fakeService('svc-b').definition],
    });
  });

  it('answers an empty list when no service is loaded', async () => {
    const empty = await makeHarness({ services: [] });
    const res = await request(empty.app).get('/cds-services').expect(200);
    expect(res.body).toEqual({ services: [] });
    await empty.close();
  });

  it('health answers {"status":"ok"}', async () => {
    const res = await request(h.app).get('/health').expect(200);
    expect(res.body).toEqual({ status: 'ok' });
  });

  it('an unknown path is a 404 OperationOutcome', async () => {
    expectOutcome(await request(h.app).get('/nowhere'), 404, 'not-found');
    expectOutcome(await request(h.app).post('/cds-services/svc-a/elsewhere').send({}), 404, 'not-found');
  });

  it('a wrong method is a 405 OperationOutcome with Allow', async () => {
    const put = await request(h.app).put('/cds-services').send({});
    expectOutcome(put, 405, 'method-not-allowed');
    expect(put.headers['allow']).toBe('GET, OPTIONS');
    const get = await request(h.app).get(CDS);
    expectOutcome(get, 405, 'method-not-allowed');
    expect(get.headers['allow']).toBe('POST, OPTIONS');
    expectOutcome(await request(h.app).delete('/health'), 405, 'method-not-allowed');
    expectOutcome(await request(h.app).get('/cds-services/svc-a/feedback'), 405, 'method-not-allowed');
  });

  it('a wrong method on an unknown service is still a 404', async () => {
    expectOutcome(await request(h.app).get('/cds-services/nope'), 404, 'unknown-service');
  });

  it('serves a service Questionnaire as FHIR JSON, and 404 for any other id', async () => {
    const res = await request(h.app).get('/fhir/Questionnaire/svc-b').expect(200);
    expect(res.headers['content-type']).toMatch(/^application\/fhir\+json/);
    expect(res.body).toEqual({
      resourceType: 'Questionnaire',
      id: 'svc-b',
      url: 'http://cds.test/fhir/Questionnaire/svc-b',
      status: 'active',
    });
    expectOutcome(await request(h.app).get('/fhir/Questionnaire/other'), 404, 'not-found');
  });
});

describe('POST /cds-services/:id', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await makeHarness({ env: { CDS_BODY_LIMIT: '2kb' }, now: () => new Date('2024-06-01T23:30:00Z') });
  });
  afterEach(() => h.close());

  it('answers the handler response as application/json', async () => {
    const res = await request(h.app).post(CDS).set('Content-Type', 'application/json').send(orderSignBody());
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.body).toEqual({ cards: [] });
    expect(h.calls).toHaveLength(1);
    const { service, request: req, ctx } = h.calls[0]!;
    expect(service.id).toBe('svc-a');
    expect(req.context.patientId).toBe('pat-1');
    expect(ctx.serviceId).toBe('svc-a');
    expect(ctx.hookInstance).toBe('d1577c69-dfbe-44ad-ba6d-3e05e953b2ea');
    expect(ctx.receivedDate).toBe('2024-06-01');
    expect(ctx.deadline).toBeGreaterThan(Date.now());
  });

  it('accepts application/fhir+json and a charset parameter', async () => {
    for (const type of [
      'application/fhir+json',
      'application/json; charset=utf-8',
      'Application/FHIR+JSON;charset="UTF-8"',
    ]) {
      const res = await request(h.app).post(CDS).set('Content-Type', type).send(JSON.stringify(orderSignBody()));
      expect(res.status).toBe(200);
    }
  });

  it('404 for an unknown service comes before every other check', async () => {
    const res = await request(h.app).post('/cds-services/unknown').set('Content-Type', 'text/plain').send('x');
    expectOutcome(res, 404, 'unknown-service');
  });

  it('415 for a missing or non-JSON content type', async () => {
    expectOutcome(await request(h.app).post(CDS), 415, 'unsupported-media-type');
    expectOutcome(
      await request(h.app).post(CDS).set('Content-Type', 'text/plain').send(JSON.stringify(orderSignBody())),
      415,
      'unsupported-media-type'
    );
    expectOutcome(
      await request(h.app).post(CDS).set('Content-Type', 'application/x-www-form-urlencoded').send('a=b'),
      415,
      'unsupported-media-type'
    );
    expectOutcome(
      await request(h.app).post(CDS).set('Content-Type', 'application/json; charset=latin1').send('{}'),
      415,
      'unsupported-media-type'
    );
  });

  it('415 comes before 413', async () => {
    const big = 'x'.repeat(5000);
    expectOutcome(
      await request(h.app).post(CDS).set('Content-Type', 'text/plain').send(big),
      415,
      'unsupported-media-type'
    );
  });

  it('413 for a body over CDS_BODY_LIMIT, before any JSON check', async () => {
    const body = orderSignBody({ padding: 'x'.repeat(3000) });
    expectOutcome(
      await request(h.app).post(CDS).set('Content-Type', 'application/json').send(JSON.stringify(body)),
      413,
      'payload-too-large'
    );
    expectOutcome(
      await request(h.app)
        .post(CDS)
        .set('Content-Type', 'application/json')
        .send(`{${'x'.repeat(3000)}`),
      413,
      'payload-too-large'
    );
    expect(h.calls).toHaveLength(0);
  });

  it('400 invalid-json without expression for unparseable or empty bodies', async () => {
    for (const raw of ['{"hook": ', 'not json', '']) {
      const res = await request(h.app).post(CDS).set('Content-Type', 'application/json').send(raw);
      expectOutcome(res, 400, 'invalid-json');
    }
    const invalidUtf8 = Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]);
    const res = await request(h.app)
      .post(CDS)
      .set('Content-Type', 'application/json')
      .serialize((b: unknown) => b as string)
      .send(invalidUtf8);
    expectOutcome(res, 400, 'invalid-json');
    expect(res.body.issue[0].diagnostics).toMatch(/UTF-8/);
  });

  const base = orderSignBody();
  const ctx = base['context'] as Record<string, unknown>;
  const without = (o: Record<string, unknown>, k: string): Record<string, unknown> => {
    const copy = { ...o };
    delete copy[k];
    return copy;
  };
  const invalid: Array<[string, Record<string, unknown>, string]> = [
    ['hook missing', without(base, 'hook'), 'hook'],
    ['hook not a string', { ...base, hook: 42 }, 'hook'],
    ['hookInstance missing', without(base, 'hookInstance'), 'hookInstance'],
    ['hookInstance not a string', { ...base, hookInstance: { id: 1 } }, 'hookInstance'],
    ['hookInstance empty', { ...base, hookInstance: '' }, 'hookInstance'],
    ['context missing', without(base, 'context'), 'context'],
    ['context an array', { ...base, context: [] }, 'context'],
    ['patientId missing', { ...base, context: without(ctx, 'patientId') }, 'context.patientId'],
    ['patientId a number', { ...base, context: { ...ctx, patientId: 7 } }, 'context.patientId'],
    ['userId missing', { ...base, context: without(ctx, 'userId') }, 'context.userId'],
    ['userId null', { ...base, context: { ...ctx, userId: null } }, 'context.userId'],
    ['draftOrders missing', { ...base, context: without(ctx, 'draftOrders') }, 'context.draftOrders'],
    ['draftOrders a string', { ...base, context: { ...ctx, draftOrders: 'Bundle' } }, 'context.draftOrders'],
    ['draftOrders an array', { ...base, context: { ...ctx, draftOrders: [] } }, 'context.draftOrders'],
    [
      'draftOrders not a Bundle',
      { ...base, context: { ...ctx, draftOrders: { resourceType: 'Patient' } } },
      'context.draftOrders',
    ],
    [
      'draftOrders without resourceType',
      { ...base, context: { ...ctx, draftOrders: { entry: [] } } },
      'context.draftOrders',
    ],
  ];
  it.each(invalid)('400 invalid-request: %s', async (_name, body, expression) => {
    const res = await request(h.app).post(CDS).set('Content-Type', 'application/json').send(JSON.stringify(body));
    expectOutcome(res, 400, 'invalid-request', expression);
    expect(res.body.issue[0].diagnostics).toEqual(expect.stringContaining(expression));
    expect(h.calls).toHaveLength(0);
  });

  it('400 lists every missing envelope field', async () => {
    const res = await request(h.app).post(CDS).set('Content-Type', 'application/json').send({ foo: 1 });
    expect(res.status).toBe(400);
    expect(res.body.issue.map((i: { expression: string[] }) => i.expression[0]).sort()).toEqual([
      'context',
      'hook',
      'hookInstance',
    ]);
  });

  it('400 invalid-request for a body that is not an object', async () => {
    const res = await request(h.app).post(CDS).set('Content-Type', 'application/json').send('[1,2]');
    expectOutcome(res, 400, 'invalid-request');
  });

  it('400 wrong-hook when the hook is not the service one', async () => {
    const res = await request(h.app)
      .post(CDS)
      .send(orderSignBody({ hook: 'patient-view' }));
    expectOutcome(res, 400, 'wrong-hook', 'hook');
  });

  it('400 fhir-server-required for an access token without fhirServer', async () => {
    const res = await request(h.app)
      .post(CDS)
      .send(orderSignBody({ fhirAuthorization: { access_token: 'tok-123', token_type: 'Bearer' } }));
    expectOutcome(res, 400, 'fhir-server-required', 'fhirServer');
  });

  it('renders a 412 HttpError from the handler with all its issues', async () => {
    const h412 = await makeHarness({
      handleCall: () =>
        Promise.reject(
          new HttpError([
            { code: 'prefetch-unavailable', expression: 'prefetch.coverage', message: 'Coverage unavailable' },
            { code: 'prefetch-unavailable', expression: 'prefetch.observations', message: 'Observations unavailable' },
          ])
        ),
    });
    const res = await request(h412.app).post(CDS).send(orderSignBody());
    expect(res.status).toBe(412);
    expect(res.headers['content-type']).toMatch(/^application\/fhir\+json/);
    expect(res.body).toEqual({
      resourceType: 'OperationOutcome',
      issue: [
        {
          severity: 'error',
          code: 'processing',
          details: { coding: [{ system: ERROR_SYSTEM, code: 'prefetch-unavailable' }] },
          diagnostics: 'Coverage unavailable',
          expression: ['prefetch.coverage'],
        },
        {
          severity: 'error',
          code: 'processing',
          details: { coding: [{ system: ERROR_SYSTEM, code: 'prefetch-unavailable' }] },
          diagnostics: 'Observations unavailable',
          expression: ['prefetch.observations'],
        },
      ],
    });
    const line = h412.logs().find((l) => l['msg'] === 'service call');
    expect(line).toMatchObject({ status: 412, errorCodes: ['prefetch-unavailable', 'prefetch-unavailable'] });
    await h412.close();
  });

  it('an unexpected error is a 500 internal with no stack trace, and a log line', async () => {
    const h500 = await makeHarness({
      handleCall: () => Promise.reject(new TypeError("Cannot read properties of undefined (reading 'x')")),
    });
    const res = await request(h500.app).post(CDS).send(orderSignBody());
    expectOutcome(res, 500, 'internal');
    expect(JSON.stringify(res.body)).not.toContain('TypeError');
    expect(JSON.stringify(res.body)).not.toContain('reading');
    const logged = h500.logs().find((l) => l['msg'] === 'unexpected error');
    expect(logged).toBeDefined();
    await h500.close();
  });

  describe('lenient cases (checklist: observed on the wire)', () => {
    it('accepts draftOrders without Bundle.type, category as an object, unknown fields and extensions', async () => {
      const body = orderSignBody({
        unknownTopLevel: { any: 'thing' },
        extension: { 'davinci-crd.configuration': { 'max-cards': 2 }, 'org.example.other': true },
      });
      const entry = (body['context'] as { draftOrders: { entry: Array<{ resource: Record<string, unknown> }> } })
        .draftOrders.entry[0]!;
      entry.resource['category'] = { coding: [{ code: 'outpatient' }] };
      entry.resource['reasonCode'] = { text: 'object, not array' };
      const res = await request(h.app).post(CDS).send(body);
      expect(res.status).toBe(200);
      const seen = h.calls[0]!.request;
      expect(seen.extension).toEqual(body['extension']);
      expect(seen['unknownTopLevel']).toEqual({ any: 'thing' });
      expect(seen.context.draftOrders?.type).toBeUndefined();
    });

    it('accepts a repeated and a non-UUID hookInstance', async () => {
      const body = orderSignBody({ hookInstance: 'same-instance-every-time' });
      await request(h.app).post(CDS).send(body).expect(200);
      await request(h.app).post(CDS).send(body).expect(200);
      expect(h.calls.map((c) => c.request.hookInstance)).toEqual([
        'same-instance-every-time',
        'same-instance-every-time',
      ]);
    });

    it('ignores a fhirAuthorization whose access_token is empty, whole', async () => {
      const res = await request(h.app)
        .post(CDS)
        .send(orderSignBody({ fhirAuthorization: { access_token: '', token_type: 'Bearer', scope: 'x' } }));
      expect(res.status).toBe(200);
      expect(h.calls[0]!.request.fhirAuthorization).toBeUndefined();
      expect('fhirAuthorization' in h.calls[0]!.request).toBe(false);
    });

    it('passes a non-empty access token on with fhirServer, whatever its other members say', async () => {
      const res = await request(h.app)
        .post(CDS)
        .send(
          orderSignBody({
            fhirServer: 'http://localhost:8080/fhir',
            fhirAuthorization: { access_token: 'tok-123', token_type: 'MAC', expires_in: 'soon' },
          })
        );
      expect(res.status).toBe(200);
      expect(h.calls[0]!.request.fhirServer).toBe('http://localhost:8080/fhir');
      expect(h.calls[0]!.request.fhirAuthorization?.access_token).toBe('tok-123');
    });

    it('treats a missing or odd draftOrders.entry as no orders', async () => {
      for (const entry of [undefined, 'odd', { resource: {} }]) {
        const body = orderSignBody();
        const draft = (body['context'] as { draftOrders: Record<string, unknown> }).draftOrders;
        if (entry === undefined) {
          delete draft['entry'];
        } else {
          draft['entry'] = entry;
        }
        await request(h.app).post(CDS).send(body).expect(200);
        expect(h.calls.at(-1)!.request.context.draftOrders?.entry).toBeUndefined();
      }
    });

    it('ignores ill-typed optional members', async () => {
      const body = orderSignBody({ fhirServer: 42, prefetch: ['not', 'an', 'object'], extension: 'x' });
      (body['context'] as Record<string, unknown>)['encounterId'] = 99;
      await request(h.app).post(CDS).send(body).expect(200);
      const seen = h.calls[0]!.request;
      expect(seen.fhirServer).toBeUndefined();
      expect(seen.prefetch).toBeUndefined();
      expect(seen.extension).toBeUndefined();
      expect(seen.context.encounterId).toBeUndefined();
    });
  });
});

describe('audit and logs', () => {
  const ACCESS_TOKEN = 'fhir-access-token-7f3a9c';
  // A JWT-shaped bearer token from an issuer that is not configured: development ignores it.
  const JWT =
    'eyJhbGciOiJFUzM4NCIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJodHRwczovL3Vua25vd24uZXhhbXBsZSIsImF1ZCI6Imh0dHA6Ly9jZHMudGVzdCJ9.c2lnbmF0dXJl';

  it('audits full request/response pairs with the access token redacted and no Authorization header', async () => {
    const h = await makeHarness({
      env: { CDS_AUDIT: 'on' },
      handleCall: () =>
        Promise.resolve({
          cards: [
            {
              uuid: 'c-1',
              summary: 'Covered',
              indicator: 'info',
              source: { label: 'Payer' },
              extension: { 'coverage-assessment': { likelihood: 'likely' } },
            },
          ],
        }),
    });
    const body = orderSignBody({
      fhirServer: 'http://localhost:8080/fhir',
      fhirAuthorization: { access_token: ACCESS_TOKEN, token_type: 'Bearer', scope: 'patient/*.read' },
    });
    await request(h.app).post(CDS).set('Authorization', `Bearer ${JWT}`).send(body).expect(200);
    await request(h.app).post(CDS).set('Authorization', `Bearer ${JWT}`).send({ hook: 'order-sign' }).expect(400);
    const records = await readAudit(h);
    expect(records).toHaveLength(2);
    const [ok, bad] = records as Array<{
      request: { body: Record<string, unknown>; headers: Record<string, string> };
      response: { status: number; body: Record<string, unknown> };
      serviceId: string;
      hookInstance: string;
    }>;
    expect(ok!.serviceId).toBe('svc-a');
    expect(ok!.hookInstance).toBe(body['hookInstance']);
    expect(ok!.request.body['fhirAuthorization']).toEqual({
      access_token: '[redacted]',
      token_type: 'Bearer',
      scope: 'patient/*.read',
    });
    expect(ok!.request.body['context']).toEqual(body['context']);
    expect(ok!.request.headers['authorization']).toBeUndefined();
    expect(ok!.response.status).toBe(200);
    expect((ok!.response.body['cards'] as unknown[]).length).toBe(1);
    expect(bad!.response.status).toBe(400);
    expect(bad!.response.body['resourceType']).toBe('OperationOutcome');
    const text = JSON.stringify(records);
    expect(text).not.toContain(ACCESS_TOKEN);
    expect(text).not.toContain(JWT);
    expect(text).not.toContain(JWT.split('.')[1]!);
    await h.close();
  });

  it('writes no audit when CDS_AUDIT is off (the development default)', async () => {
    const h = await makeHarness();
    await request(h.app).post(CDS).send(orderSignBody()).expect(200);
    expect(await readAudit(h)).toEqual([]);
    await h.close();
  });

  it('logs one line per call with counts and timings, never the bearer token, JWT or access token', async () => {
    const h = await makeHarness({
      handleCall: (_s, _r, ctx) => {
        ctx.timings['governance'] = 1.5;
        ctx.errors.push({ where: 'criterion x', message: 'expression failed' });
        return Promise.resolve({
          cards: [
            {
              uuid: 'c-1',
              summary: 'Covered',
              indicator: 'info',
              source: { label: 'Payer' },
              extension: { 'coverage-assessment': { likelihood: 'likely' } },
            },
            { uuid: 'c-2', summary: 'Dose', indicator: 'warning', source: { label: 'Payer' } },
          ],
          systemActions: [{ type: 'update', description: 'coverage information' }],
        });
      },
    });
    const body = orderSignBody({
      fhirServer: 'http://localhost:8080/fhir',
      fhirAuthorization: { access_token: ACCESS_TOKEN },
    });
    body['context'] = { ...(body['context'] as object), patientId: 'patient-secret-id-991' };
    await request(h.app).post(CDS).set('Authorization', `Bearer ${JWT}`).send(body).expect(200);
    await request(h.app).post(CDS).set('Authorization', `Bearer ${JWT}`).send('{bad').type('json').expect(400);
    await request(h.app).post('/cds-services/nope').set('Authorization', `Bearer ${JWT}`).send(body).expect(404);
    const calls = h.logs().filter((l) => l['msg'] === 'service call');
    expect(calls).toHaveLength(3);
    expect(calls[0]).toMatchObject({
      serviceId: 'svc-a',
      hookInstance: body['hookInstance'],
      status: 200,
      outcome: { cards: 2, governedOrders: 1, systemActions: 1 },
      errors: [{ where: 'criterion x', message: 'expression failed' }],
    });
    expect(Object.keys(calls[0]!['timings'] as object)).toEqual(
      expect.arrayContaining(['auth', 'read', 'validate', 'handle', 'governance', 'total'])
    );
    expect(calls[1]).toMatchObject({ status: 400, errorCodes: ['invalid-json'] });
    expect(calls[2]).toMatchObject({ status: 404, errorCodes: ['unknown-service'] });
    const text = h.logText();
    expect(text).not.toContain(JWT);
    expect(text).not.toContain(JWT.split('.')[1]!);
    expect(text).not.toContain(ACCESS_TOKEN);
    expect(text).not.toContain('patient-secret-id-991');
    await h.close();
  });
});

describe('robustness', () => {
  it('survives deeply nested JSON without crashing', async () => {
    const h = await makeHarness();
    const deep = `${'['.repeat(100000)}${']'.repeat(100000)}`;
    const res = await request(h.app).post(CDS).set('Content-Type', 'application/json').send(deep);
    expect([400, 413]).toContain(res.status);
    await request(h.app).get('/health').expect(200);
    await h.close();
  });

  it('a __proto__ member does not pollute anything', async () => {
    const h = await makeHarness();
    const raw = JSON.stringify(orderSignBody()).replace(/^\{/, '{"__proto__":{"polluted":true},');
    await request(h.app).post(CDS).set('Content-Type', 'application/json').send(raw).expect(200);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    expect((h.calls[0]!.request as Record<string, unknown>)['polluted']).toBeUndefined();
    await h.close();
  });
});
