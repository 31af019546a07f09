// Test vectors kept beside each policy (cds-services/<id>/cases.yaml, house style 3.4 and 3.6): reading a case file,
// turning a case into the input of evaluateOrders, and comparing the decisions with what the case expects. Used by
// test/services.test.ts (one jest test per case) and by anything that wants to replay a policy's cases.
import * as fs from 'node:fs';
import type { FhirResource } from 'fhir/r4';
import { parse as parseYaml } from 'yaml';
import type { CallContext, GovernedOrder, HookRequest, PrefetchData } from '../hooks/types';
import type { CompiledPolicy } from './compiled';
import { isObject, type Json } from './data';
import { isDrug, isNotAnOrder, orderMedication } from './drug';
import type { Diagnostics } from './evaluate';
import type { LoadedService, OrderDecision } from './types';

/** A resource in a case: a snippet name, a snippet with changes (`use` plus keys, merged deeply), or inline. */
export type ResourceRef = string | Json;

export interface Expectation {
  likelihood?: string;
  /** The best pathway's id; null when none (an exclusion decides). */
  pathway?: string | null;
  indicationMet?: boolean;
  cycle?: number;
  /** How many prior cycles were counted. */
  priorCycles?: number;
  dates?: { plannedStart?: string; cycle1Start?: string };
  /** Criterion id -> status (`met`, `not-met`, `unknown`, or `absent` when not evaluated), or with evidence. */
  criteria?: Record<string, string | { status: string; evidence?: string[] }>;
  /**
   * Exactly the documentation listed: criterion or item id -> kind, or `{ kind, request }` to pin the words asked
   * for too (contract section 6: a request asks only for what is unknown).
   */
  missingDocumentation?: Record<string, string | { kind: string; request: string }>;
  authorization?: { type?: string; cycle?: number; length?: string };
  /** Exactly what makes the order not covered (exclusion ids, criterion ids, `cycle-limit`); [] = nothing. */
  notCoveredBy?: string[];
  /** The Coverage reference; null when none. */
  coverage?: string | null;
  /** How many notes the call left (unresolved history medications). */
  notes?: number;
  /** Where errors are expected (`criterion <id>`); none expected by default. */
  errors?: string[];
}

export interface PolicyCase {
  name: string;
  /** The UTC date the call is received (YYYY-MM-DD); the file's default otherwise. */
  received?: string;
  /** The patient's resources, added to the file's default resources (same type and id: the case's wins). */
  resources?: ResourceRef[];
  /** Default resources this case leaves out, by snippet name. */
  omit?: string[];
  /** The draft orders (context.draftOrders), in order. */
  orders: ResourceRef[];
  /** Prefetch keys sent as null ("no data"). */
  nullKeys?: string[];
  expect: Expectation | Expectation[];
}

export interface CaseFile {
  file: string;
  defaults: { received: string; resources: ResourceRef[] };
  snippets: Record<string, Json>;
  cases: PolicyCase[];
}

const EXPECTATION_KEYS = new Set([
  'likelihood',
  'pathway',
  'indicationMet',
  'cycle',
  'priorCycles',
  'dates',
  'criteria',
  'missingDocumentation',
  'authorization',
  'notCoveredBy',
  'coverage',
  'notes',
  'errors',
]);

/** Reads and checks the shape of a cases.yaml. */
export function readCaseFile(file: string): CaseFile {
  const raw: unknown = parseYaml(fs.readFileSync(file, 'utf8'));
  if (!isObject(raw) || !Array.isArray(raw.cases)) {
    throw new Error(`${file}: expected a list under cases:`);
  }
  const defaults = isObject(raw.defaults) ? raw.defaults : {};
  if (typeof defaults.received !== 'string') {
    throw new Error(`${file}: defaults.received (a quoted date) is required`);
  }
  const snippets = isObject(raw.resources) ? (raw.resources as Record<string, Json>) : {};
  const cases = raw.cases as PolicyCase[];
  cases.forEach((c, i) => {
    if (!isObject(c) || typeof c.name !== 'string' || !Array.isArray(c.orders) || c.expect === undefined) {
      throw new Error(`${file}: cases[${i}] needs a name, orders and expect`);
    }
    for (const e of Array.isArray(c.expect) ? c.expect : [c.expect]) {
      for (const key of Object.keys(e)) {
        if (!EXPECTATION_KEYS.has(key)) {
          throw new Error(`${file}: case "${c.name}": unknown expectation ${key}`);
        }
      }
    }
  });
  return {
    file,
    defaults: {
      received: defaults.received,
      resources: Array.isArray(defaults.resources) ? (defaults.resources as ResourceRef[]) : [],
    },
    snippets,
    cases,
  };
}

function merge(base: unknown, changes: unknown): unknown {
  if (!isObject(base) || !isObject(changes)) {
    return structuredClone(changes);
  }
  const result: Json = structuredClone(base);
  for (const [key, value] of Object.entries(changes)) {
    if (value === null) {
      delete result[key];
    } else {
      result[key] = merge(result[key], value);
    }
  }
  return result;
}

/** The resource a reference stands for (a fresh copy). */
export function resolveResource(cases: CaseFile, ref: ResourceRef, where: string): Json {
  if (typeof ref === 'string') {
    const snippet = cases.snippets[ref];
    if (!snippet) {
      throw new Error(`${cases.file}: ${where}: no resource snippet named ${ref}`);
    }
    return resolveResource(cases, snippet, `${where} > ${ref}`);
  }
  if (typeof ref.use === 'string') {
    const { use, ...changes } = ref;
    return merge(resolveResource(cases, use, where), changes) as Json;
  }
  return structuredClone(ref);
}

/** The resource type a prefetch template returns (`Patient/{{...}}` -> Patient). */
function templateType(template: string): string | undefined {
  return /^\/?([A-Z][A-Za-z]+)(?:[/?]|$)/.exec(template)?.[1];
}

export interface CaseInput {
  request: HookRequest;
  orders: GovernedOrder[];
  data: PrefetchData;
  ctx: CallContext;
}

/** Builds the input of evaluateOrders for one case: the request, its governed orders, the prefetch, a context. */
export function buildCaseInput(service: LoadedService, cases: CaseFile, c: PolicyCase): CaseInput {
  const received = c.received ?? cases.defaults.received;
  const omitted = new Set(c.omit ?? []);
  const defaults = cases.defaults.resources.filter((r) => typeof r !== 'string' || !omitted.has(r));
  const resources = [...(c.resources ?? []), ...defaults].map((r, i) =>
    resolveResource(cases, r, `case "${c.name}" resources[${i}]`)
  );
  const orders = c.orders.map((r, i) => resolveResource(cases, r, `case "${c.name}" orders[${i}]`));

  // Prefetch: each declared key gets the resources of the type its template returns (Medications ride with the
  // MedicationRequest search, as _include=MedicationRequest:medication makes them).
  const data: PrefetchData = {};
  const nullKeys = new Set(c.nullKeys ?? []);
  const seen = new Set<string>();
  const unique = resources.filter((r) => {
    const key = `${String(r.resourceType)}/${String(r.id)}`;
    if (typeof r.id === 'string' && seen.has(key)) {
      return false;
    }
    seen.add(key);
    return true;
  });
  for (const [key, template] of Object.entries(service.definition.prefetch)) {
    const type = templateType(template);
    if (nullKeys.has(key)) {
      data[key] = null;
      continue;
    }
    const matching = unique.filter(
      (r) => r.resourceType === type || (type === 'MedicationRequest' && r.resourceType === 'Medication')
    );
    if (/^\/?[A-Z][A-Za-z]+\/[^?]+$/.test(template)) {
      data[key] = (matching[0] as unknown as PrefetchData[string]) ?? null;
    } else {
      data[key] = {
        resourceType: 'Bundle',
        type: 'searchset',
        total: matching.length,
        entry: matching.map((resource) => ({ resource })),
      } as unknown as PrefetchData[string];
    }
  }

  const request: HookRequest = {
    hook: 'order-sign',
    hookInstance: `case-${c.name.replace(/[^A-Za-z0-9]+/g, '-').slice(0, 60)}`,
    context: {
      patientId: 'pat-1',
      userId: 'Practitioner/prac-1',
      draftOrders: {
        resourceType: 'Bundle',
        type: 'collection',
        entry: orders.map((resource) => ({ resource: resource as unknown as FhirResource })),
      },
    },
    prefetch: data,
  };

  // Governance (contract section 2) by the service's own rule (src/policy/drug.ts): the cases hold every Medication
  // they need (contained, or with the MedicationRequests), so nothing is read.
  const medications = new Map<string, Json>(
    unique.filter((r) => r.resourceType === 'Medication').map((m) => [`Medication/${String(m.id)}`, m])
  );
  const governed: GovernedOrder[] = [];
  orders.forEach((order, index) => {
    if (order.resourceType !== 'MedicationRequest' || isNotAnOrder(order)) {
      return;
    }
    if (isDrug(orderMedication(order, (ref) => medications.get(ref), undefined), service.drug)) {
      governed.push({ index, order: order as unknown as GovernedOrder['order'] });
    }
  });

  const ctx: CallContext = {
    serviceId: service.id,
    hookInstance: request.hookInstance,
    receivedAt: new Date(`${received}T12:00:00Z`),
    receivedDate: received,
    deadline: Number.MAX_SAFE_INTEGER,
    timings: {},
    errors: [],
    notes: [],
  };
  return { request, orders: governed, data, ctx };
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && [...a].sort().join('\n') === [...b].sort().join('\n');
}

/** Every way the decisions differ from the case's expectations (empty when they agree). */
export function compareWithExpectations(
  service: LoadedService,
  c: PolicyCase,
  decisions: OrderDecision[],
  diagnostics: Diagnostics
): string[] {
  const problems: string[] = [];
  const expectations = Array.isArray(c.expect) ? c.expect : decisions.map(() => c.expect as Expectation);
  if (decisions.length !== expectations.length || decisions.length === 0) {
    problems.push(`expected ${expectations.length} governed order(s), got ${decisions.length}`);
    return problems;
  }
  const policy = service.policy as CompiledPolicy;
  const expectedErrors = new Set<string>();
  decisions.forEach((d, i) => {
    const e = expectations[i] as Expectation;
    const at = decisions.length > 1 ? `order ${i}: ` : '';
    const check = (what: string, actual: unknown, expected: unknown): void => {
      if (JSON.stringify(actual) !== JSON.stringify(expected)) {
        problems.push(`${at}${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
      }
    };
    if (e.likelihood !== undefined) {
      check('likelihood', d.likelihood, e.likelihood);
    }
    if (e.pathway !== undefined) {
      check('pathway', d.pathway?.id ?? null, e.pathway);
    }
    if (e.indicationMet !== undefined) {
      check('indicationMet', d.pathway?.indicationMet ?? false, e.indicationMet);
    }
    if (e.cycle !== undefined) {
      check('cycle', d.cycle, e.cycle);
    }
    if (e.priorCycles !== undefined) {
      check('priorCycles', d.priorCycles.length, e.priorCycles);
    }
    if (e.dates?.plannedStart !== undefined) {
      check('dates.plannedStart', d.dates.plannedStart, e.dates.plannedStart);
    }
    if (e.dates?.cycle1Start !== undefined) {
      check('dates.cycle1Start', d.dates.cycle1Start, e.dates.cycle1Start);
    }
    for (const [id, want] of Object.entries(e.criteria ?? {})) {
      if (!policy.criterionById.has(id)) {
        problems.push(`${at}criterion ${id} is not in the policy`);
        continue;
      }
      const result = d.criteria.find((r) => r.id === id);
      const status = typeof want === 'string' ? want : want.status;
      check(`criterion ${id}`, result?.status ?? 'absent', status);
      if (typeof want !== 'string' && want.evidence !== undefined && result) {
        check(`criterion ${id} evidence`, [...result.evidence].sort(), [...want.evidence].sort());
      }
    }
    if (e.missingDocumentation !== undefined) {
      const actual = Object.fromEntries(d.missingDocumentation.map((m) => [m.criterion, m.kind]));
      const wanted = Object.fromEntries(
        Object.entries(e.missingDocumentation).map(([id, want]) => [id, typeof want === 'string' ? want : want.kind])
      );
      const sorted = (o: Record<string, string>): Array<[string, string]> =>
        Object.entries(o).sort(([a], [b]) => a.localeCompare(b));
      check('missingDocumentation', sorted(actual), sorted(wanted));
      for (const [id, want] of Object.entries(e.missingDocumentation)) {
        if (typeof want !== 'string') {
          const request = d.missingDocumentation.find((m) => m.criterion === id)?.request;
          check(`missingDocumentation ${id} request`, request, want.request.replace(/\s+/g, ' ').trim());
        }
      }
    }
    if (e.authorization !== undefined) {
      for (const key of ['type', 'cycle', 'length'] as const) {
        if (e.authorization[key] !== undefined) {
          check(`authorization.${key}`, d.authorization[key], e.authorization[key]);
        }
      }
    }
    if (e.notCoveredBy !== undefined && !sameSet(d.notCoveredBy ?? [], e.notCoveredBy)) {
      problems.push(
        `${at}notCoveredBy: expected ${JSON.stringify(e.notCoveredBy)}, got ${JSON.stringify(d.notCoveredBy ?? [])}`
      );
    }
    if ((d.notCoveredBy ?? []).length !== d.notCoveredReasons.length) {
      problems.push(`${at}notCoveredReasons and notCoveredBy differ in length`);
    }
    if (e.coverage !== undefined) {
      check('coverage', d.coverage ?? null, e.coverage);
    }
    if (e.notes !== undefined) {
      check('notes', diagnostics.notes.length, e.notes);
    }
    (e.errors ?? []).forEach((w) => expectedErrors.add(w));
  });
  // The runner fails on any FHIRPath runtime error a case does not expect.
  const actualErrors = [...new Set(diagnostics.errors.map((x) => x.where))];
  if (!sameSet(actualErrors, [...expectedErrors])) {
    problems.push(`errors: expected ${JSON.stringify([...expectedErrors])}, got ${JSON.stringify(diagnostics.errors)}`);
  }
  return problems;
}
