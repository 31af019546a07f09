// Contract section 2: which draft orders are governed, and the Medication reads (the only FHIR queries made before
// governance is known) against a real local server.
import type { Medication, MedicationRequest } from 'fhir/r4';
import { HttpError } from '../src/errors';
import { openFhirSession, type FhirSession } from '../src/fhir/client';
import { findGovernedOrders, governedBy } from '../src/hooks/governance';
import { CodeMatcher } from '../src/policy/code-sets';
import type { HookRequest } from '../src/hooks/types';
import {
  LOOPBACK_ALLOWLIST,
  RXNORM,
  HCPCS,
  blinatumomabOrder,
  buildRequest,
  buildTestService,
  makeCallContext,
  pathOf,
  referenceOrder,
  searchset,
  startScriptedServer,
  type ScriptedServer,
} from './helpers/fhir-servers';

const service = buildTestService();

const medications: Record<string, Medication> = {
  'med-blin': { resourceType: 'Medication', id: 'med-blin', code: { coding: [{ system: RXNORM, code: '1597258' }] } },
  'med-hcpcs': { resourceType: 'Medication', id: 'med-hcpcs', code: { coding: [{ system: HCPCS, code: 'J9039' }] } },
  'med-dex': { resourceType: 'Medication', id: 'med-dex', code: { coding: [{ system: RXNORM, code: '3264' }] } },
  'med-nocode': { resourceType: 'Medication', id: 'med-nocode', code: { text: 'Blinatumomab 35 mcg' } },
};

let server: ScriptedServer;
/** Arrival times of `/Medication/many-*` reads. */
const manyArrivals: number[] = [];

beforeAll(async () => {
  server = await startScriptedServer((req) => {
    const path = pathOf(req);
    const id = /^\/Medication\/(.+)$/.exec(path)?.[1];
    if (id === 'med-broken') {
      return { kind: 'json', status: 500, body: { resourceType: 'OperationOutcome', issue: [] } };
    }
    if (id === 'med-slow') {
      return { kind: 'stall-headers' };
    }
    if (id?.startsWith('many-')) {
      manyArrivals.push(Date.now());
      return { kind: 'json', body: { ...medications['med-dex'], id }, delayMs: 60 };
    }
    if (id === 'med-gone') {
      return { kind: 'json', status: 410, body: { resourceType: 'OperationOutcome', issue: [] } };
    }
    const medication = id !== undefined ? medications[id] : undefined;
    return medication
      ? { kind: 'json', body: medication }
      : { kind: 'json', status: 404, body: { resourceType: 'OperationOutcome', issue: [] } };
  });
});

afterAll(async () => {
  await server.close();
});

beforeEach(() => {
  server.requests.length = 0;
});

function session(request: HookRequest, timeoutMs = 1500): FhirSession | undefined {
  return openFhirSession(request, {
    allowlist: LOOPBACK_ALLOWLIST,
    timeoutMs,
    maxPages: 5,
    deadline: Date.now() + 4000,
  });
}

async function governed(request: HookRequest, timeoutMs?: number): Promise<number[]> {
  const result = await findGovernedOrders(service, request, session(request, timeoutMs), makeCallContext());
  return result.orders.map((o) => o.index);
}

async function rejection(request: HookRequest): Promise<HttpError> {
  try {
    await findGovernedOrders(service, request, session(request), makeCallContext());
  } catch (error) {
    if (error instanceof HttpError) {
      return error;
    }
    throw error;
  }
  throw new Error('expected an HttpError');
}

describe('governed orders', () => {
  it('recognises an inline blinatumomab code and makes no FHIR query', async () => {
    const request = buildRequest({ fhirServer: server.base, orders: [blinatumomabOrder('a')] });
    expect(await governed(request)).toEqual([0]);
    expect(server.requests).toHaveLength(0);
  });

  it('recognises a contained Medication', async () => {
    const order = referenceOrder('a', '#m1', { contained: [{ ...medications['med-blin']!, id: 'm1' }] });
    const other = referenceOrder('b', '#m2', { contained: [{ ...medications['med-dex']!, id: 'm2' }] });
    const dangling = referenceOrder('c', '#missing');
    expect(await governed(buildRequest({ fhirServer: server.base, orders: [other, order, dangling] }))).toEqual([1]);
    expect(server.requests).toHaveLength(0);
  });

  it('finds Medication/{id} in prefetch, as a value or a Bundle entry, without reading it', async () => {
    const request = buildRequest({
      fhirServer: server.base,
      orders: [referenceOrder('a', 'Medication/pf-1'), referenceOrder('b', 'Medication/pf-2')],
      prefetch: {
        medication: { ...medications['med-blin'], id: 'pf-1' },
        medicationRequests: searchset([{ ...medications['med-hcpcs']!, id: 'pf-2' }]),
        broken: { resourceType: 'OperationOutcome', issue: [] },
        odd: 'not a resource',
      },
    });
    const result = await findGovernedOrders(service, request, session(request), makeCallContext());
    expect(result.orders.map((o) => o.index)).toEqual([0, 1]);
    expect(Object.keys(result.medications).sort()).toEqual(['Medication/pf-1', 'Medication/pf-2']);
    expect(server.requests).toHaveLength(0);
  });

  it('reads an unresolved Medication once per distinct reference, in parallel, and returns it', async () => {
    const request = buildRequest({
      fhirServer: server.base,
      orders: [
        referenceOrder('a', 'Medication/med-blin'),
        referenceOrder('b', 'Medication/med-dex'),
        referenceOrder('c', 'Medication/med-blin'),
        referenceOrder('d', `${server.base}/Medication/med-hcpcs`),
      ],
    });
    const result = await findGovernedOrders(service, request, session(request), makeCallContext());
    expect(result.orders.map((o) => o.index)).toEqual([0, 2, 3]);
    expect(server.requests.map(pathOf).sort()).toEqual([
      '/Medication/med-blin',
      '/Medication/med-dex',
      '/Medication/med-hcpcs',
    ]);
    expect(result.medications['Medication/med-blin']?.code?.coding?.[0]?.code).toBe('1597258');
    expect(result.medications['Medication/med-dex']).toBeDefined();
  });

  it('reads many Medications in parallel, at most 8 at a time', async () => {
    manyArrivals.length = 0;
    const orders = Array.from({ length: 20 }, (_, i) => referenceOrder(`o${i}`, `Medication/many-${i}`));
    const request = buildRequest({ fhirServer: server.base, orders: [...orders, blinatumomabOrder('b')] });
    const result = await findGovernedOrders(service, request, session(request), makeCallContext());
    expect(result.orders.map((o) => o.index)).toEqual([20]);
    expect(Object.keys(result.medications)).toHaveLength(20);
    expect(manyArrivals).toHaveLength(20);
    const first = manyArrivals[0]!;
    const firstWave = manyArrivals.filter((t) => t - first < 50).length;
    expect(firstWave).toBeGreaterThan(1);
    expect(firstWave).toBeLessThanOrEqual(8);
  });

  it('sends the access token as a bearer token', async () => {
    const request = buildRequest({
      fhirServer: server.base,
      token: 'tok-123',
      orders: [referenceOrder('a', 'Medication/med-blin')],
    });
    expect(await governed(request)).toEqual([0]);
    expect(server.requests[0]?.authorization).toBe('Bearer tok-123');
  });

  it('does not govern an order whose Medication is 404, 410, without a drug code, or another drug', async () => {
    const request = buildRequest({
      fhirServer: server.base,
      orders: [
        referenceOrder('a', 'Medication/unknown'),
        referenceOrder('b', 'Medication/med-gone'),
        referenceOrder('c', 'Medication/med-nocode'),
        referenceOrder('d', 'Medication/med-dex'),
        blinatumomabOrder('e'),
      ],
    });
    const ctx = makeCallContext();
    const result = await findGovernedOrders(service, request, session(request), ctx);
    expect(result.orders.map((o) => o.index)).toEqual([4]);
    expect(ctx.notes.join(' ')).toContain('Medication/unknown');
  });

  it.each(['cancelled', 'entered-in-error', 'stopped'] as const)(
    'ignores a %s order and reads nothing for it',
    async (status) => {
      const request = buildRequest({
        fhirServer: server.base,
        orders: [blinatumomabOrder('a', { status }), referenceOrder('b', 'Medication/med-blin', { status })],
      });
      expect(await governed(request)).toEqual([]);
      expect(server.requests).toHaveLength(0);
    }
  );

  it.each(['draft', 'active', 'on-hold', 'completed', 'unknown', undefined])(
    'governs an order with status %s, any intent',
    async (status) => {
      const order = blinatumomabOrder('a', { intent: 'plan' });
      if (status === undefined) {
        delete (order as Partial<MedicationRequest>).status;
      } else {
        order.status = status as MedicationRequest['status'];
      }
      expect(await governed(buildRequest({ orders: [order] }))).toEqual([0]);
    }
  );

  it('returns copies: the request is never modified', async () => {
    const request = buildRequest({
      fhirServer: server.base,
      orders: [blinatumomabOrder('a'), referenceOrder('b', 'Medication/med-blin')],
    });
    const before = JSON.stringify(request);
    const result = await findGovernedOrders(service, request, session(request), makeCallContext());
    result.orders[0]!.order.status = 'stopped';
    expect(JSON.stringify(request)).toBe(before);
    expect(result.orders[0]!.order).not.toBe(request.context.draftOrders.entry![0]!.resource);
  });

  it('tolerates odd shapes', async () => {
    const odd = (draftOrders: unknown): HookRequest => {
      const request = buildRequest();
      (request.context as Record<string, unknown>).draftOrders = draftOrders;
      return request;
    };
    expect(await governed(odd({ resourceType: 'Bundle', entry: 'nope' }))).toEqual([]);
    expect(await governed(odd({ resourceType: 'Bundle', entry: { resource: blinatumomabOrder('x') } }))).toEqual([]);
    expect(await governed(odd(null))).toEqual([]);
    expect(
      await governed(
        odd({
          resourceType: 'Bundle',
          entry: [
            null,
            7,
            { resource: 'text' },
            { resource: { resourceType: 'ServiceRequest', code: { coding: [{ system: RXNORM, code: '1597263' }] } } },
            { resource: { resourceType: 'MedicationRequest', medicationCodeableConcept: { coding: 'bad' } } },
            {
              resource: {
                resourceType: 'MedicationRequest',
                medicationCodeableConcept: { coding: { system: RXNORM, code: '1597263' } },
              },
            },
            { resource: { resourceType: 'MedicationRequest', medicationReference: { display: 'Blincyto' } } },
            { resource: { resourceType: 'MedicationRequest', medicationReference: 'Medication/med-blin' } },
            { resource: { resourceType: 'MedicationRequest', medicationReference: { reference: 'Medication/a/b/c' } } },
          ],
        })
      )
    ).toEqual([5]);
    expect(server.requests).toHaveLength(0);
  });
});

describe('412 medication-unavailable', () => {
  it('answers 412 with one issue per affected order when there is no fhirServer', async () => {
    const request = buildRequest({
      orders: [
        blinatumomabOrder('a'),
        referenceOrder('b', 'Medication/med-blin'),
        referenceOrder('c', 'Medication/med-blin'),
      ],
    });
    const error = await rejection(request);
    expect(error.status).toBe(412);
    expect(error.issues.map((i) => [i.code, i.expression])).toEqual([
      ['medication-unavailable', 'context.draftOrders.entry[1].resource.medicationReference'],
      ['medication-unavailable', 'context.draftOrders.entry[2].resource.medicationReference'],
    ]);
    expect(error.issues[0]?.message).toMatch(/no fhirServer/);
    expect(error.toOperationOutcome().issue[0]?.code).toBe('processing');
  });

  it('answers 412 when the fhirServer is not allowlisted, without connecting', async () => {
    const request = buildRequest({ fhirServer: server.base, orders: [referenceOrder('a', 'Medication/med-blin')] });
    const none = openFhirSession(request, { allowlist: [], timeoutMs: 1500, maxPages: 5, deadline: Date.now() + 4000 });
    expect(none).toBeUndefined();
    const connectionsBefore = server.connections;
    const error = await findGovernedOrders(service, request, none, makeCallContext()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HttpError);
    expect((error as HttpError).issues[0]?.message).toMatch(/not allowed by CDS_FHIR_ALLOWLIST/);
    expect(server.connections).toBe(connectionsBefore);
  });

  it('answers 412 when a read fails (HTTP 500), naming only the affected orders', async () => {
    const request = buildRequest({
      fhirServer: server.base,
      token: 'secret-token',
      orders: [referenceOrder('a', 'Medication/med-blin'), referenceOrder('b', 'Medication/med-broken')],
    });
    const error = await rejection(request);
    expect(error.issues).toHaveLength(1);
    expect(error.issues[0]).toMatchObject({
      code: 'medication-unavailable',
      expression: 'context.draftOrders.entry[1].resource.medicationReference',
    });
    expect(error.issues[0]?.message).toContain('HTTP 500');
    expect(JSON.stringify(error.toOperationOutcome())).not.toContain('secret-token');
  });

  it('answers 412 when a read times out, within the timeout', async () => {
    const request = buildRequest({ fhirServer: server.base, orders: [referenceOrder('a', 'Medication/med-slow')] });
    const started = Date.now();
    const error = await findGovernedOrders(service, request, session(request, 300), makeCallContext()).catch(
      (e: unknown) => e
    );
    expect(error).toBeInstanceOf(HttpError);
    expect((error as HttpError).issues[0]?.message).toMatch(/no answer within 300 ms/);
    expect(Date.now() - started).toBeLessThan(300 + 500);
  });

  it('answers 412 for an absolute reference to another server', async () => {
    const request = buildRequest({
      fhirServer: server.base,
      orders: [referenceOrder('a', 'https://other.example.org/fhir/Medication/med-blin')],
    });
    const error = await rejection(request);
    expect(error.issues[0]?.expression).toBe('context.draftOrders.entry[0].resource.medicationReference');
    expect(server.requests).toHaveLength(0);
  });

  it('resolves an absolute reference to another server from prefetch, as evaluation does, without a read', async () => {
    const request = buildRequest({
      fhirServer: server.base,
      orders: [referenceOrder('a', 'https://other.example.org/fhir/Medication/pf-1')],
      prefetch: { medicationRequests: searchset([{ ...medications['med-blin']!, id: 'pf-1' }]) },
    });
    expect(await governed(request)).toEqual([0]);
    expect(server.requests).toHaveLength(0);
  });
});

describe('the drug code set (one CodeMatcher for governance and evaluation)', () => {
  it('ignores case, surrounding spaces and dots, inline, contained and prefetched', async () => {
    const hcpcs = (code: string): Medication => ({
      resourceType: 'Medication',
      id: `m-${code.trim()}`,
      code: { coding: [{ system: HCPCS, code }] },
    });
    const request = buildRequest({
      fhirServer: server.base,
      orders: [
        blinatumomabOrder('a', { medicationCodeableConcept: { coding: [{ system: HCPCS, code: 'j9039' }] } }),
        referenceOrder('b', '#c', { contained: [{ ...hcpcs(' J9039'), id: 'c' }] }),
        referenceOrder('c', 'Medication/pf', { status: 'active' }),
        blinatumomabOrder('d', { medicationCodeableConcept: { coding: [{ system: HCPCS, code: 'J9038' }] } }),
      ],
      prefetch: { medicationRequests: searchset([{ ...hcpcs('j90.39'), id: 'pf' }]) },
    });
    expect(await governed(request)).toEqual([0, 1, 2]);
    expect(server.requests).toHaveLength(0);
  });

  it('honours prefixes in the drug code set', async () => {
    const prefixed = { ...service, drug: new CodeMatcher([{ system: RXNORM, prefixes: ['15972'] }]) };
    const request = buildRequest({
      orders: [
        blinatumomabOrder('a'),
        blinatumomabOrder('b', { medicationCodeableConcept: { coding: [{ system: RXNORM, code: '1651249' }] } }),
      ],
    });
    const result = await findGovernedOrders(prefixed, request, undefined, makeCallContext());
    expect(result.orders.map((o) => o.index)).toEqual([0]);
  });

  it('takes the inline medication over a reference, as evaluation does', async () => {
    const request = buildRequest({
      fhirServer: server.base,
      orders: [
        referenceOrder('a', 'Medication/med-blin', {
          medicationCodeableConcept: { coding: [{ system: RXNORM, code: '3264' }] },
        }),
      ],
    });
    expect(await governed(request)).toEqual([]);
    expect(server.requests).toHaveLength(0);
  });

  it("governedBy keeps the orders the chosen policy's own code set names", async () => {
    const request = buildRequest({
      fhirServer: server.base,
      orders: [
        blinatumomabOrder('a'),
        blinatumomabOrder('b', { medicationCodeableConcept: { coding: [{ system: HCPCS, code: ' j9039' }] } }),
      ],
    });
    const result = await findGovernedOrders(service, request, session(request), makeCallContext());
    expect(result.orders.map((o) => o.index)).toEqual([0, 1]);
    const hcpcsOnly = { drug: new CodeMatcher([{ system: HCPCS, codes: ['J9039'] }]) };
    expect(governedBy(result, hcpcsOnly, server.base).map((o) => o.index)).toEqual([1]);
  });
});
