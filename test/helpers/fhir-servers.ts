// Test helpers for FHIR access: a minimal LoadedService and call context, a request builder, and a scripted FHIR
// server on 127.0.0.1 that misbehaves on demand (slow, 500, 404, 401, malformed JSON, OperationOutcome, next links,
// connection reset, redirect) and records every connection and request. Real HTTP, nothing mocked.
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Bundle, FhirResource, MedicationRequest } from 'fhir/r4';
import { parseAllowlist } from '../../src/fhir/allowlist';
import type { CallContext, HookRequest } from '../../src/hooks/types';
import type { DosingRules } from '../../src/dosing/types';
import { CodeMatcher } from '../../src/policy/code-sets';
import type { LoadedService } from '../../src/policy/types';

export const RXNORM = 'http://www.nlm.nih.gov/research/umls/rxnorm';
export const HCPCS = 'http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets';

/** The default allowlist (loopback names, any port). */
export const LOOPBACK_ALLOWLIST = parseAllowlist();

export const OBSERVATION_CODES = [
  'http://loinc.org|29463-7',
  'http://loinc.org|8302-2',
  'http://example.org/fhir/CodeSystem/local-lab|CD19-BLASTS',
].join(',');

/** The prefetch templates the policies declare (both services use a subset of these). */
export const PREFETCH_TEMPLATES: Record<string, string> = {
  patient: 'Patient/{{context.patientId}}',
  coverage: 'Coverage?patient={{context.patientId}}&status=active',
  medicationRequests: 'MedicationRequest?patient={{context.patientId}}&_include=MedicationRequest:medication',
  conditions: 'Condition?patient={{context.patientId}}',
  observations: `Observation?patient={{context.patientId}}&code=${OBSERVATION_CODES}`,
  immunizations: 'Immunization?patient={{context.patientId}}',
  carePlans: 'CarePlan?patient={{context.patientId}}&status=active',
};

/** A minimal service: discovery with the prefetch above, drug codes RxNorm 1597258 and 1597263 and HCPCS J9039. */
export function buildTestService(prefetch: Record<string, string> = PREFETCH_TEMPLATES): LoadedService {
  return {
    id: 'blinatumomab-test',
    dir: 'test',
    definition: {
      id: 'blinatumomab-test',
      hook: 'order-sign',
      title: 'Blinatumomab test service',
      description: 'Test service',
      prefetch,
      usageRequirements: 'none',
    },
    label: 'Test payer',
    labelNamesPayer: true,
    version: 'test',
    sourceDocument: 'test',
    drug: new CodeMatcher([
      { system: RXNORM, codes: ['1597258', '1597263'] },
      { system: HCPCS, codes: ['J9039'] },
    ]),
    payers: [],
    billingCode: { system: HCPCS, code: 'J9039' },
    documentation: [],
    dosing: {} as DosingRules,
    outline: {
      criteria: [],
      universal: [],
      pathways: [],
      exclusions: [],
      items: [],
      authorization: { initial: 'per cycle', continuation: 'per cycle' },
    },
    policy: {},
  };
}

/** A call context whose deadline is `deadlineMs` from now. */
export function makeCallContext(deadlineMs = 4000): CallContext {
  const receivedAt = new Date();
  return {
    serviceId: 'blinatumomab-test',
    hookInstance: 'test-instance',
    receivedAt,
    receivedDate: receivedAt.toISOString().slice(0, 10),
    deadline: Date.now() + deadlineMs,
    timings: {},
    errors: [],
    notes: [],
  };
}

export function blinatumomabOrder(id: string, extra: Partial<MedicationRequest> = {}): MedicationRequest {
  return {
    resourceType: 'MedicationRequest',
    id,
    status: 'draft',
    intent: 'order',
    subject: { reference: 'Patient/pat-fb' },
    medicationCodeableConcept: { coding: [{ system: RXNORM, code: '1597263', display: 'Blincyto' }] },
    ...extra,
  };
}

export function referenceOrder(
  id: string,
  reference: string,
  extra: Partial<MedicationRequest> = {}
): MedicationRequest {
  return {
    resourceType: 'MedicationRequest',
    id,
    status: 'draft',
    intent: 'order',
    subject: { reference: 'Patient/pat-fb' },
    medicationReference: { reference },
    ...extra,
  };
}

export interface RequestOptions {
  fhirServer?: string;
  token?: string;
  prefetch?: Record<string, unknown>;
  orders?: unknown[];
  patientId?: string;
}

/** An order-sign request for patient `pat-fb` (or `patientId`) with `orders` as draft orders. */
export function buildRequest(opts: RequestOptions = {}): HookRequest {
  const request: HookRequest = {
    hook: 'order-sign',
    hookInstance: 'd1577c69-dfbe-44ad-ba6d-3e05e953b2ea',
    context: {
      patientId: opts.patientId ?? 'pat-fb',
      userId: 'Practitioner/prac-1',
      draftOrders: {
        resourceType: 'Bundle',
        type: 'collection',
        entry: (opts.orders ?? [blinatumomabOrder('mr-draft-1')]).map((resource) => ({ resource })) as Bundle['entry'],
      },
    },
  };
  if (opts.fhirServer !== undefined) {
    request.fhirServer = opts.fhirServer;
  }
  if (opts.token !== undefined) {
    request.fhirAuthorization = {
      access_token: opts.token,
      token_type: 'Bearer',
      expires_in: 300,
      scope: 'patient/*.read',
      subject: 'cds-service',
    };
  }
  if (opts.prefetch !== undefined) {
    request.prefetch = opts.prefetch;
  }
  return request;
}

export function searchset(resources: FhirResource[], next?: string): Bundle {
  const bundle: Bundle = { resourceType: 'Bundle', type: 'searchset', total: resources.length };
  if (resources.length > 0) {
    bundle.entry = resources.map((resource) => ({ resource, search: { mode: 'match' } }));
  }
  if (next !== undefined) {
    bundle.link = [{ relation: 'next', url: next }];
  }
  return bundle;
}

export interface RecordedRequest {
  method: string;
  /** Path with query, as received. */
  url: string;
  authorization?: string;
}

/** What a scripted route does. */
export type Behavior =
  | { kind: 'json'; status?: number; body: unknown; headers?: Record<string, string>; delayMs?: number }
  | { kind: 'raw'; status?: number; body: string; contentType?: string; delayMs?: number }
  | { kind: 'stall-headers' }
  | { kind: 'stall-body' }
  | { kind: 'reset' }
  | { kind: 'redirect'; status?: number; location: string };

export type Script = (request: RecordedRequest, server: ScriptedServer) => Behavior;

export interface ScriptedServer {
  /** `http://127.0.0.1:<port>` (no path). */
  origin: string;
  /** `origin` + `/fhir`. */
  base: string;
  requests: RecordedRequest[];
  /** TCP connections accepted (0 proves no connection was made). */
  connections: number;
  close(): Promise<void>;
}

/**
 * Starts a FHIR server on 127.0.0.1 that answers each request as `script` says and records it. Stalled answers are
 * ended when the server closes.
 *
 * @param script - maps a request to a behaviour.
 */
export async function startScriptedServer(script: Script): Promise<ScriptedServer> {
  const sockets = new Set<Socket>();
  const state: ScriptedServer = {
    origin: '',
    base: '',
    requests: [],
    connections: 0,
    close: () => Promise.resolve(),
  };
  const server = http.createServer((req, res) => {
    const recorded: RecordedRequest = { method: req.method ?? 'GET', url: req.url ?? '/' };
    if (typeof req.headers.authorization === 'string') {
      recorded.authorization = req.headers.authorization;
    }
    state.requests.push(recorded);
    const behavior = script(recorded, state);
    const later = (ms: number | undefined, fn: () => void): void => {
      if (ms) {
        setTimeout(fn, ms).unref();
      } else {
        fn();
      }
    };
    switch (behavior.kind) {
      case 'json':
        later(behavior.delayMs, () => {
          if (res.destroyed) {
            return;
          }
          res.writeHead(behavior.status ?? 200, { 'content-type': 'application/fhir+json', ...behavior.headers });
          res.end(JSON.stringify(behavior.body));
        });
        break;
      case 'raw':
        later(behavior.delayMs, () => {
          if (res.destroyed) {
            return;
          }
          res.writeHead(behavior.status ?? 200, { 'content-type': behavior.contentType ?? 'application/fhir+json' });
          res.end(behavior.body);
        });
        break;
      case 'stall-headers':
        break;
      case 'stall-body':
        res.writeHead(200, { 'content-type': 'application/fhir+json' });
        res.write('{"resourceType":"Bundle","type":"searchset","entry":[');
        break;
      case 'reset':
        req.socket.destroy();
        break;
      case 'redirect':
        res.writeHead(behavior.status ?? 302, { location: behavior.location });
        res.end();
        break;
    }
  });
  server.on('connection', (socket: Socket) => {
    state.connections += 1;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  state.origin = `http://127.0.0.1:${port}`;
  state.base = `${state.origin}/fhir`;
  state.close = () =>
    new Promise<void>((resolve) => {
      for (const socket of sockets) {
        socket.destroy();
      }
      server.close(() => resolve());
    });
  return state;
}

/** The path of a recorded request without the `/fhir` prefix and query (`/Medication/med-1`). */
export function pathOf(request: RecordedRequest): string {
  return new URL(request.url, 'http://x').pathname.replace(/^\/fhir/, '');
}
