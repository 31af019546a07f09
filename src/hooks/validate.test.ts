import { HttpError } from '../errors';
import { parseHookRequest } from './validate';

function body(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    hook: 'order-sign',
    hookInstance: 'abc',
    context: {
      patientId: 'p1',
      userId: 'Practitioner/u1',
      draftOrders: { resourceType: 'Bundle', entry: [{ resource: { resourceType: 'MedicationRequest', id: 'm1' } }] },
    },
    ...extra,
  };
}

function deepFreeze<T>(v: T): T {
  if (v && typeof v === 'object') {
    Object.freeze(v);
    Object.values(v).forEach(deepFreeze);
  }
  return v;
}

function issuesOf(fn: () => unknown): Array<{ code: string; expression?: string }> {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(HttpError);
    return (e as HttpError).issues.map((i) => ({ code: i.code, expression: i.expression }));
  }
  throw new Error('expected an HttpError');
}

describe('parseHookRequest', () => {
  it('never modifies the body, even when it drops members', () => {
    const input = deepFreeze(
      body({
        fhirAuthorization: { access_token: '' },
        fhirServer: 17,
        prefetch: 'x',
        context: {
          patientId: 'p1',
          userId: 'u1',
          encounterId: 3,
          draftOrders: { resourceType: 'Bundle', entry: [null, { resource: {} }] },
        },
      })
    );
    const snapshot = JSON.stringify(input);
    const out = parseHookRequest(input, 'order-sign');
    expect(JSON.stringify(input)).toBe(snapshot);
    expect(out).not.toBe(input);
    expect(out.fhirAuthorization).toBeUndefined();
    expect(out.fhirServer).toBeUndefined();
    expect(out.prefetch).toBeUndefined();
    expect(out.context.encounterId).toBeUndefined();
    // Odd entries become empty objects at the same index, so expressions like entry[1] still point right.
    expect(out.context.draftOrders?.entry).toEqual([{}, { resource: {} }]);
  });

  it('keeps the request as it is when nothing is odd', () => {
    const input = body({ prefetch: { patient: null }, fhirServer: 'http://localhost/fhir' });
    const out = parseHookRequest(input, 'order-sign');
    expect(out).toEqual(input);
    expect(out.context.draftOrders).toBe((input['context'] as { draftOrders: unknown }).draftOrders);
  });

  it('checks the envelope, then the hook, then the context, then fhirServer', () => {
    expect(issuesOf(() => parseHookRequest({ hook: 'patient-view' }, 'order-sign'))).toEqual([
      { code: 'invalid-request', expression: 'hookInstance' },
      { code: 'invalid-request', expression: 'context' },
    ]);
    expect(issuesOf(() => parseHookRequest(body({ hook: 'patient-view', context: {} }), 'order-sign'))).toEqual([
      { code: 'wrong-hook', expression: 'hook' },
    ]);
    expect(issuesOf(() => parseHookRequest(body({ context: { userId: 5 } }), 'order-sign'))).toEqual([
      { code: 'invalid-request', expression: 'context.patientId' },
      { code: 'invalid-request', expression: 'context.userId' },
      { code: 'invalid-request', expression: 'context.draftOrders' },
    ]);
    expect(
      issuesOf(() => parseHookRequest(body({ fhirAuthorization: { access_token: 't' }, fhirServer: '' }), 'order-sign'))
    ).toEqual([{ code: 'fhir-server-required', expression: 'fhirServer' }]);
  });

  it('keeps a non-empty fhirAuthorization as a copy', () => {
    const auth = { access_token: 't', token_type: 'Bearer', scope: 'patient/*.read', patient: 'p1' };
    const out = parseHookRequest(body({ fhirAuthorization: auth, fhirServer: 'http://localhost/fhir' }), 'order-sign');
    expect(out.fhirAuthorization).toEqual(auth);
    expect(out.fhirAuthorization).not.toBe(auth);
  });

  it('ignores a non-string access token as absent', () => {
    const out = parseHookRequest(body({ fhirAuthorization: { access_token: 42 } }), 'order-sign');
    expect(out.fhirAuthorization).toBeUndefined();
  });
});
