import type { HookRequest } from '../hooks/types';
import { parseAllowlist } from './allowlist';
import { fhirServerStatus, openFhirSession } from './client';

const allowlist = parseAllowlist();

function request(fhirServer?: unknown): HookRequest {
  const r: HookRequest = {
    hook: 'order-sign',
    hookInstance: 'x',
    context: { patientId: 'p', userId: 'Practitioner/u', draftOrders: { resourceType: 'Bundle', type: 'collection' } },
  };
  if (fhirServer !== undefined) {
    (r as Record<string, unknown>).fhirServer = fhirServer;
  }
  return r;
}

function open(fhirServer?: unknown): ReturnType<typeof openFhirSession> {
  return openFhirSession(request(fhirServer), { allowlist, timeoutMs: 100, maxPages: 2, deadline: Date.now() + 1000 });
}

describe('openFhirSession', () => {
  it('binds to a usable fhirServer, without its trailing slashes', () => {
    expect(open('http://localhost:8080/fhir/')?.baseUrl).toBe('http://localhost:8080/fhir');
    expect(open('http://127.0.0.1:9')?.baseUrl).toBe('http://127.0.0.1:9');
  });

  it.each([
    [undefined, 'absent'],
    ['', 'absent'],
    [42, 'absent'],
    ['not a url', 'not-allowlisted'],
    ['https://ehr.example.org/fhir', 'not-allowlisted'],
    ['http://localhost:8080/fhir?tenant=1', 'not-allowlisted'],
    ['http://localhost:8080/fhir#x', 'not-allowlisted'],
    ['http://user:pw@localhost:8080/fhir', 'not-allowlisted'],
  ])('gives no session for fhirServer %p (%s)', (fhirServer, status) => {
    expect(open(fhirServer)).toBeUndefined();
    expect(fhirServerStatus(request(fhirServer), allowlist)).toBe(status);
  });

  it('refuses a reference that is not Type/id without any connection', async () => {
    // Port 9 (discard) on loopback: a connection attempt would fail as a network error, not as invalid-reference.
    const session = open('http://127.0.0.1:9/fhir');
    for (const ref of [
      'Medication/../admin',
      'Medication',
      '../Medication/1',
      'medication/1',
      'Medication/a b',
      'Medication/1?x=1',
    ]) {
      await expect(session?.read(ref)).resolves.toMatchObject({ ok: false, reason: 'invalid-reference' });
    }
  });

  it('reports an unreachable server as a failure value, never a throw', async () => {
    const session = open('http://127.0.0.1:9/fhir');
    await expect(session?.search('Coverage?patient=p')).resolves.toMatchObject({ ok: false, reason: 'network' });
  });
});
