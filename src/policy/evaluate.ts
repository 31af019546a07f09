// Evaluates a loaded policy for the governed orders of one call (contract sections 4 and 5). Pure and synchronous:
// no I/O and no clock (dates come from the data and `ctx.receivedDate`). The data is indexed once per call; every
// expression was compiled at load and runs over copies with small collections as variables; facts and collections
// are computed only when an expression reads them.
import type { Observation } from 'fhir/r4';
import { assessDose } from '../dosing/assess';
import type { DoseAssessment } from '../dosing/types';
import type { CallContext, GovernedOrder, HookRequest, PrefetchData } from '../hooks/types';
import type { CodeMatcher } from './code-sets';
import type { CompiledCriterion, CompiledPathway, CompiledPolicy } from './compiled';
import {
  EVALUATION_DEPTH,
  collectionOf,
  copyJson,
  indexCall,
  isObject,
  resolveMedication,
  type CallIndex,
  type Json,
} from './data';
import { earlierOf, plannedStartOf } from './dates';
import { describeEvidence } from './evidence';
import type {
  CriterionResult,
  CriterionStatus,
  Likelihood,
  LoadedService,
  MissingDocumentation,
  OrderDecision,
} from './types';

export interface EvaluationInput {
  request: HookRequest;
  orders: GovernedOrder[];
  data: PrefetchData;
  ctx: CallContext;
  /**
   * The Medications governance found or read for the draft orders (`GovernanceResult.medications`, keyed
   * `Medication/{id}`), so that a co-ordered drug written as a reference the prefetch lacks is still recognised.
   */
  medications?: Readonly<Record<string, unknown>>;
}

/** FHIR R4 `id`: 1 to 64 of A–Z, a–z, 0–9, `-` and `.`. */
const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;

function messageOf(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  return text.length > 300 ? `${text.slice(0, 300)}...` : text;
}

/** `Type/id` of every resource in an expression's result, once each, in order. */
function referencesOf(items: unknown[]): string[] {
  const refs: string[] = [];
  for (const item of items) {
    if (isObject(item) && typeof item.resourceType === 'string' && typeof item.id === 'string' && item.id !== '') {
      const ref = `${item.resourceType}/${item.id}`;
      if (!refs.includes(ref)) {
        refs.push(ref);
      }
    }
  }
  return refs;
}

/** A status expression gives one boolean (met / not met) or nothing (unknown). */
function statusOf(result: unknown[]): CriterionStatus {
  if (result.length === 0) {
    return 'unknown';
  }
  if (result.every((r) => r === true)) {
    return 'met';
  }
  if (result.every((r) => r === false)) {
    return 'not-met';
  }
  throw new Error('the status expression must give one boolean or nothing');
}

/** Defines a lazily computed, memoised variable (errors are memoised too and rethrown to each reader). */
function defineLazy(vars: Json, name: string, compute: () => unknown): void {
  let done = false;
  let value: unknown;
  let error: Error | undefined;
  Object.defineProperty(vars, name, {
    enumerable: true,
    get: () => {
      if (!done) {
        done = true;
        try {
          value = compute();
        } catch (e) {
          error = new Error(`%${name}: ${messageOf(e)}`);
        }
      }
      if (error) {
        throw error;
      }
      return value;
    },
  });
}

interface CallState {
  index: CallIndex;
  /** Collections, computed once per call on first use. */
  collections: Map<string, Json[]>;
}

interface PathwayOutcome {
  pathway: CompiledPathway;
  position: number;
  criteria: string[];
  notMet: number;
  unknown: number;
  setAside: boolean;
}

function rank(outcomes: PathwayOutcome[]): PathwayOutcome | undefined {
  return [...outcomes].sort((a, b) => a.notMet - b.notMet || a.unknown - b.unknown || a.position - b.position)[0];
}

function dosePatient(
  index: CallIndex,
  sets: CompiledPolicy['doseObservations']
): { birthDate?: string; weights: Observation[]; heights: Observation[]; bsas: Observation[] } {
  // Copies of the matching Observations only; assessDose is pure and never modifies them.
  const pick = (set: CodeMatcher): Observation[] =>
    index.pick('Observation', (o) => set.matchesConcept(o.code)) as unknown as Observation[];
  const birthDate = index.patient?.birthDate;
  return {
    ...(typeof birthDate === 'string' ? { birthDate } : {}),
    weights: pick(sets.weights),
    heights: pick(sets.heights),
    bsas: pick(sets.bsas),
  };
}

function emptyAssessment(): DoseAssessment {
  return { findings: [], prompts: [], arithmetic: [] };
}

function evaluateCriterion(criterion: CompiledCriterion, focus: Json, vars: Json, ctx: CallContext): CriterionResult {
  const result: CriterionResult = {
    id: criterion.id,
    short: criterion.short,
    clause: criterion.clause,
    description: criterion.description,
    status: 'unknown',
    evidence: [],
    evidenceItems: [],
  };
  if (criterion.alwaysUnknown || !criterion.status) {
    return result;
  }
  try {
    const evidence = criterion.evidence ? criterion.evidence.evaluate(focus, vars) : [];
    const scope = Object.create(vars, { evidence: { value: evidence, enumerable: true } }) as Json;
    result.status = statusOf(criterion.status.evaluate(focus, scope));
    result.evidence = referencesOf(evidence);
    result.evidenceItems = describeEvidence(evidence, focus);
  } catch (e) {
    // Contract section 4: a criterion whose expression throws is unknown, and the error is logged with its id.
    result.status = 'unknown';
    result.evidence = [];
    result.evidenceItems = [];
    ctx.errors.push({ where: `criterion ${criterion.id}`, message: messageOf(e) });
  }
  return result;
}

function evaluateOrder(
  service: LoadedService,
  policy: CompiledPolicy,
  state: CallState,
  governed: GovernedOrder,
  ctx: CallContext
): OrderDecision {
  const { index } = state;
  const pristine = copyJson(governed.order);
  const focus = copyJson(governed.order, EVALUATION_DEPTH) as unknown as Json;
  resolveMedication(focus, index.medications);

  const plannedStart = plannedStartOf(governed.order) ?? ctx.receivedDate;
  const cycle = index.priorCycles.length + 1;
  // The first prior cycle's planned start, or this order's; never after this order's own start.
  const cycle1Start = earlierOf(index.firstPriorStart ?? plannedStart, plannedStart) ?? plannedStart;
  const continuing = policy.continuation !== undefined && cycle >= policy.continuation.fromCycle;

  const vars: Json = {
    order: focus,
    patient: index.patient ?? null,
    plannedStart,
    cycle1Start,
    receivedDate: ctx.receivedDate,
    cycle,
    priorCycles: index.priorCycles,
    draftOrders: index.draftOrders,
  };
  for (const collection of policy.collections) {
    defineLazy(vars, collection.name, () => {
      let value = state.collections.get(collection.name);
      if (!value) {
        value = collectionOf(index, collection);
        state.collections.set(collection.name, value);
      }
      return value;
    });
  }
  for (const fact of policy.facts) {
    defineLazy(vars, fact.name, () => fact.expression.evaluate(focus, vars));
  }

  // Criteria: universal, every pathway's, and the continuation criteria from their cycle; declaration order.
  const needed = new Set<string>([
    ...policy.universal,
    ...policy.pathways.flatMap((p) => p.criteria),
    ...(continuing && policy.continuation ? policy.continuation.criteria : []),
  ]);
  const results = new Map<string, CriterionResult>();
  for (const criterion of policy.criteria) {
    if (needed.has(criterion.id)) {
      results.set(criterion.id, evaluateCriterion(criterion, focus, vars, ctx));
    }
  }
  const statusOfId = (id: string): CriterionStatus => results.get(id)?.status ?? 'unknown';

  // Exclusions (contract section 4).
  const notCoveredBy: string[] = [];
  const notCoveredReasons: string[] = [];
  for (const exclusion of policy.exclusions) {
    try {
      const result = exclusion.when.evaluate(focus, vars);
      if (result.length > 0 && result.every((r) => r === true)) {
        notCoveredBy.push(exclusion.id);
        notCoveredReasons.push(exclusion.reason);
      }
    } catch (e) {
      ctx.errors.push({ where: `exclusion ${exclusion.id}`, message: messageOf(e) });
    }
  }
  const excluded = notCoveredBy.length > 0;
  for (const criterion of policy.criteria) {
    if (criterion.notCoveredWhenNotMet && statusOfId(criterion.id) === 'not-met') {
      notCoveredBy.push(criterion.id);
      notCoveredReasons.push(criterion.notCoveredWhenNotMet);
    }
  }

  // Pathways: cycle limits set aside first, then the best pathway.
  const outcomes: PathwayOutcome[] = policy.pathways.map((pathway, position) => {
    const ids = [
      ...new Set([
        ...policy.universal,
        ...pathway.criteria,
        ...(continuing && policy.continuation ? policy.continuation.criteria : []),
      ]),
    ];
    const statuses = ids.map(statusOfId);
    return {
      pathway,
      position,
      criteria: ids,
      notMet: statuses.filter((s) => s === 'not-met').length,
      unknown: statuses.filter((s) => s === 'unknown').length,
      setAside: pathway.maxCycles !== undefined && pathway.maxCycles < cycle,
    };
  });
  const open = outcomes.filter((o) => !o.setAside);
  const viable = outcomes.filter((o) => o.notMet === 0);
  const overCycleLimit = viable.length > 0 && viable.every((o) => o.setAside);
  const best = excluded ? undefined : overCycleLimit ? rank(viable) : rank(open.length > 0 ? open : outcomes);
  if (overCycleLimit) {
    // The best set-aside pathway names the limit (an exclusion may also apply: then there is no best pathway).
    const limited = (best ?? rank(viable))?.pathway;
    notCoveredBy.push('cycle-limit');
    notCoveredReasons.push(
      limited
        ? `This order would be cycle ${cycle}, beyond the ${limited.maxCycles ?? 0} cycles the policy allows for ${limited.title}.`
        : `This order would be cycle ${cycle}, beyond the number of cycles the policy allows.`
    );
  }

  let likelihood: Likelihood;
  if (notCoveredBy.length > 0) {
    likelihood = 'not-covered';
  } else if (open.some((o) => o.notMet === 0 && o.unknown === 0)) {
    likelihood = 'likely';
  } else if (open.some((o) => o.notMet === 0)) {
    likelihood = 'needs-documentation';
  } else {
    likelihood = 'unlikely';
  }

  const missingDocumentation: MissingDocumentation[] = [];
  if (best) {
    for (const id of best.criteria) {
      const criterion = policy.criterionById.get(id);
      if (criterion && statusOfId(id) === 'unknown') {
        missingDocumentation.push({ criterion: id, kind: 'unknown-criterion', request: criterion.documentation });
      }
    }
  }
  for (const item of policy.items) {
    if (item.when === 'always' || continuing) {
      missingDocumentation.push({ criterion: item.id, kind: item.kind, request: item.request });
    }
  }

  const lengths = best ? best.pathway.authorization : policy.authorization;
  const indicationMet = best ? statusOfId(best.pathway.indication) === 'met' : false;
  const schedule = best ? service.dosing.schedules[best.pathway.schedule] : undefined;

  let dose: DoseAssessment;
  try {
    dose = assessDose({
      // A copy of the order as received (assessDose is pure: the decision's copy can be shared).
      order: pristine,
      plannedStart,
      cycle,
      ...(schedule ? { schedule } : {}),
      indicationMet,
      rules: service.dosing,
      patient: dosePatient(index, policy.doseObservations),
    });
  } catch (e) {
    ctx.errors.push({ where: 'dose', message: messageOf(e) });
    dose = emptyAssessment();
  }

  const id = governed.order.id;
  return {
    orderIndex: governed.index,
    order: pristine,
    // An id that is not a FHIR id (blank, spaces, too long) cannot be referenced: treated as no id (contract §2).
    ...(typeof id === 'string' && FHIR_ID.test(id) ? { orderRef: `MedicationRequest/${id}` } : {}),
    dates: { plannedStart, cycle1Start, received: ctx.receivedDate },
    cycle,
    priorCycles: referencesOf(index.priorCycles),
    priorCycleItems: describeEvidence(index.priorCycles),
    likelihood,
    notCoveredReasons,
    ...(notCoveredBy.length > 0 ? { notCoveredBy } : {}),
    ...(best
      ? {
          pathway: {
            id: best.pathway.id,
            title: best.pathway.title,
            indication: best.pathway.indication,
            indicationMet,
            criteria: [...best.criteria],
            scheduleId: best.pathway.schedule,
            ...(best.pathway.maxCycles !== undefined ? { maxCycles: best.pathway.maxCycles } : {}),
          },
        }
      : {}),
    criteria: policy.criteria.filter((c) => results.has(c.id)).map((c) => results.get(c.id) as CriterionResult),
    missingDocumentation,
    authorization: {
      type: continuing ? 'continuation' : 'initial',
      cycle,
      length: continuing ? lengths.continuation : lengths.initial,
    },
    ...(index.coverage ? { coverage: index.coverage } : {}),
    dose,
  };
}

/**
 * Decides each governed order of a call (contract sections 4 and 5).
 * @param service - the loaded service (its compiled policy and dosing rules).
 * @param input - the request (never modified), the governed orders, the gathered data, the call's context (its
 *   received date, and where errors and notes go) and, optionally, the Medications governance read for the draft
 *   orders (so that a co-ordered drug written as a `Medication/{id}` reference counts in the regimen).
 * @returns one decision per governed order, in the order given.
 */
export function evaluateOrders(service: LoadedService, input: EvaluationInput): OrderDecision[] {
  const policy = service.policy as CompiledPolicy;
  const { request, orders, data, ctx } = input;
  if (orders.length === 0) {
    return [];
  }
  const state: CallState = {
    index: indexCall(request, data, policy.drug, ctx.notes, input.medications),
    collections: new Map(),
  };
  return orders.map((governed) => evaluateOrder(service, policy, state, governed, ctx));
}
