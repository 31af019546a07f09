// gatherData with an in-memory FhirSession (the HTTP side is covered by test/fallback.test.ts and
// test/fhir-faults.test.ts): which keys are fetched, how, and what the 412 says.
import type { Bundle, FhirResource } from 'fhir/r4';
import { HttpError } from '../errors';
import type { FhirResult, FhirSession } from '../fhir/client';
import type { LoadedService } from '../policy/types';
import { gatherData } from './prefetch';
import type { CallContext, HookRequest } from './types';

const service = {
  id: 's',
  definition: {
    prefetch: {
      patient: 'Patient/{{context.patientId}}',
      coverage: 'Coverage?patient={{context.patientId}}&status=active',
      practitioner: 'Practitioner/{{userPractitionerId}}',
    },
  },
} as unknown as LoadedService;

function ctx(): CallContext {
  return {
    serviceId: 's',
    receivedAt: new Date(),
    receivedDate: '2024-06-01',
    deadline: Date.now() + 4000,
    timings: {},
    errors: [],
    notes: [],
  };
}

function request(prefetch?: Record<string, unknown>, fhirServer = 'http://localhost/fhir'): HookRequest {
  const r: HookRequest = {
    hook: 'order-sign',
    hookInstance: 'i',
    fhirServer,
    context: {
      patientId: 'p1',
      userId: 'Practitioner/u1',
      draftOrders: { resourceType: 'Bundle', type: 'collection' },
    },
  };
  if (prefetch) {
    r.prefetch = prefetch;
  }
  return r;
}

class MemorySession implements FhirSession {
  readonly baseUrl = 'http://localhost/fhir';
  calls: string[] = [];
  constructor(private readonly failing: Set<string> = new Set()) {}
  read(ref: string): Promise<FhirResult<FhirResource | null>> {
    this.calls.push(`read ${ref}`);
    if (this.failing.has(ref)) {
      return Promise.resolve({
        ok: false,
        reason: 'http-status',
        status: 503,
        message: 'the FHIR server answered HTTP 503',
      });
    }
    const [type, id] = ref.split('/');
    return Promise.resolve({ ok: true, value: { resourceType: type, id } as FhirResource });
  }
  search(url: string): Promise<FhirResult<Bundle>> {
    this.calls.push(`search ${url}`);
    return Promise.resolve({ ok: true, value: { resourceType: 'Bundle', type: 'searchset', total: 0 } });
  }
  continueSearch(page: Bundle): Promise<FhirResult<Bundle>> {
    this.calls.push('continue');
    return Promise.resolve({ ok: true, value: { ...page, link: [] } });
  }
}

describe('gatherData', () => {
  it('reads read templates, searches search templates, fills user tokens', async () => {
    const session = new MemorySession();
    const c = ctx();
    const data = await gatherData(service.definition.prefetch, request(), session, c);
    expect(session.calls.sort()).toEqual([
      'read Patient/p1',
      'read Practitioner/u1',
      'search Coverage?patient=p1&status=active',
    ]);
    expect(data.patient).toEqual({ resourceType: 'Patient', id: 'p1' });
    expect(Object.keys(c.timings).sort()).toEqual([
      'fetchSlowestMs',
      'fetchSumMs',
      'fhir.coverage',
      'fhir.patient',
      'fhir.practitioner',
    ]);
  });

  it('returns only declared keys; extra prefetch keys are ignored', async () => {
    const data = await gatherData(
      service.definition.prefetch,
      request({ patient: null, coverage: null, practitioner: null, extra: { resourceType: 'Patient' } }),
      new MemorySession(),
      ctx()
    );
    expect(data).toEqual({ patient: null, coverage: null, practitioner: null });
  });

  it('follows next links of a prefetched Bundle only when it has one', async () => {
    const session = new MemorySession();
    const withNext: Bundle = {
      resourceType: 'Bundle',
      type: 'searchset',
      link: [{ relation: 'next', url: 'http://localhost/fhir/Coverage?page=2' }],
    };
    await gatherData(
      service.definition.prefetch,
      request({ patient: null, practitioner: null, coverage: withNext }),
      session,
      ctx()
    );
    expect(session.calls).toEqual(['continue']);
    session.calls.length = 0;
    await gatherData(
      service.definition.prefetch,
      request({
        patient: null,
        practitioner: null,
        coverage: { resourceType: 'Bundle', type: 'searchset', link: [{ relation: 'self', url: 'x' }] },
      }),
      session,
      ctx()
    );
    expect(session.calls).toEqual([]);
  });

  it('reports each failed key in one 412, saying why', async () => {
    const session = new MemorySession(new Set(['Patient/p1']));
    const error = await gatherData(
      service.definition.prefetch,
      request({ practitioner: { resourceType: 'OperationOutcome', issue: [] } }),
      session,
      ctx()
    ).then(
      () => undefined,
      (e: unknown) => e
    );
    expect(error).toBeInstanceOf(HttpError);
    const issues = (error as HttpError).issues;
    expect(issues).toEqual([
      {
        code: 'prefetch-unavailable',
        expression: 'prefetch.patient',
        message: expect.stringMatching(/HTTP 503/) as unknown,
      },
    ]);
    expect(session.calls).toContain('read Practitioner/u1');
  });

  it('cannot fill a user token for a user of another kind', async () => {
    const r = request({ patient: null, coverage: null });
    r.context.userId = 'PractitionerRole/r1';
    const error = await gatherData(service.definition.prefetch, r, new MemorySession(), ctx()).catch((e: unknown) => e);
    expect((error as HttpError).issues.map((i) => i.expression)).toEqual(['prefetch.practitioner']);
    expect((error as HttpError).issues[0]?.message).toMatch(/\{\{userPractitionerId\}\}/);
  });
});
