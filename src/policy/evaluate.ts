// Evaluates a loaded policy for the governed orders of one call (contract sections 4 and 5). Pure and synchronous:
// no I/O, and no clock in any decision (dates come from the data and `ctx.receivedDate`; the clock is read only to
// stop a call past its deadline between orders). The data is indexed once per call; every expression was compiled
// at load and runs over copies with small collections as variables; facts and collections are computed only when an
// expression reads them, and a fact, criterion or exclusion is computed once per call, or once per value of what it
// depends on (the order, its planned start, its start of cycle 1), so that a call's cost grows linearly with its
// orders (contract section 2).
import type { Observation } from 'fhir/r4';
import { assessDose } from '../dosing/assess';
import type { DoseAssessment } from '../dosing/types';
import type { CallContext, GovernedOrder, HookRequest, PrefetchData } from '../hooks/types';
import { assertCallContinues } from '../hooks/call-limits';
import type { CodeMatcher } from './code-sets';
import type { CompiledCriterion, CompiledPathway, CompiledPolicy, OrderDependency } from './compiled';
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

/**
 * What went wrong or is worth saying while deciding (contract section 8: the call's log line): an expression that
 * threw (its criterion, exclusion or the dose check named), a history order whose medication could not be resolved.
 * No clinical values.
 */
export interface Diagnostics {
  errors: Array<{ where: string; message: string }>;
  notes: string[];
}

/** What evaluateOrders returns: the decisions, and the diagnostics for the caller to log. */
export interface EvaluationResult {
  /** One per governed order, in the order given. */
  decisions: OrderDecision[];
  diagnostics: Diagnostics;
}

/** FHIR R4 `id`: 1 to 64 of A–Z, a–z, 0–9, `-` and `.`. */
const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;

function messageOf(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  return text.length > 300 ? `${text.slice(0, 300)}...` : text;
}

/** `Type/id` of every resource in an expression's result, once each, in order. */
function referencesOf(items: unknown[]): string[] {
  const refs = new Set<string>();
  for (const item of items) {
    if (isObject(item) && typeof item.resourceType === 'string' && typeof item.id === 'string' && item.id !== '') {
      refs.add(`${item.resourceType}/${item.id}`);
    }
  }
  return [...refs];
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

/** A value computed once, or the error computing it threw (rethrown to every reader). */
type Outcome<T> = { ok: true; value: T } | { ok: false; error: Error };

function attempt<T>(compute: () => T, label?: string): Outcome<T> {
  try {
    return { ok: true, value: compute() };
  } catch (e) {
    return {
      ok: false,
      error: label ? new Error(`${label}: ${messageOf(e)}`) : e instanceof Error ? e : new Error(messageOf(e)),
    };
  }
}

function valueOf<T>(outcome: Outcome<T>): T {
  if (!outcome.ok) {
    throw outcome.error;
  }
  return outcome.value;
}

/** Defines a lazily computed, memoised variable (errors are memoised too and rethrown to each reader). */
function defineLazy(vars: Json, name: string, compute: () => unknown): void {
  let outcome: Outcome<unknown> | undefined;
  Object.defineProperty(vars, name, {
    enumerable: true,
    get: () => {
      outcome ??= attempt(compute);
      return valueOf(outcome);
    },
  });
}

/** What one order of the call is evaluated with. */
interface OrderScope {
  /** Position among the call's governed orders: what `order` dependencies are keyed by. */
  position: number;
  plannedStart: string;
  cycle1Start: string;
  focus: Json;
  vars: Json;
}

/**
 * The memo key of a rule for one order: the values of what it depends on (contract section 2, linear cost: a rule
 * that reads neither the order nor its dates is computed once per call, one reading only the dates once per date).
 */
function keyOf(dependsOn: readonly OrderDependency[], scope: OrderScope): string {
  let key = '';
  for (const d of dependsOn) {
    key += d === 'order' ? `#${scope.position}|` : `${scope[d]}|`;
  }
  return key;
}

/** A criterion evaluated once for a key: its result, and what to ask for when it is unknown. */
interface CriterionOutcome {
  result: CriterionResult;
  request: string;
}

/** Everything computed for the call, shared by its orders: the index, collections and memoised rules. */
class CallState {
  /** Collections, computed once per call on first use. */
  readonly collections = new Map<string, Json[]>();
  private readonly memos = new Map<string, Map<string, Outcome<unknown>>>();
  private patientMeasures?: ReturnType<typeof dosePatient>;

  constructor(
    readonly index: CallIndex,
    private readonly policy: CompiledPolicy
  ) {}

  /** `compute()` once per rule and key; errors are memoised too. */
  memo<T>(rule: string, key: string, compute: () => T, label?: string): Outcome<T> {
    let byKey = this.memos.get(rule);
    if (!byKey) {
      byKey = new Map();
      this.memos.set(rule, byKey);
    }
    let outcome = byKey.get(key) as Outcome<T> | undefined;
    if (!outcome) {
      outcome = attempt(compute, label);
      byKey.set(key, outcome);
    }
    return outcome;
  }

  collection(collection: CompiledPolicy['collections'][number]): Json[] {
    let value = this.collections.get(collection.name);
    if (!value) {
      value = collectionOf(this.index, collection);
      this.collections.set(collection.name, value);
    }
    return value;
  }

  /** The weight, height and BSA Observations of the dose check: the same for every order of the call. */
  doseMeasures(): ReturnType<typeof dosePatient> {
    this.patientMeasures ??= dosePatient(this.index, this.policy.doseObservations);
    return this.patientMeasures;
  }
}

interface PathwayOutcome {
  pathway: CompiledPathway;
  position: number;
  criteria: string[];
  notMet: number;
  unknown: number;
  indicationMet: boolean;
  setAside: boolean;
}

/**
 * The best pathway (contract section 4): fewest not met, then fewest unknown, then one whose indication criterion is
 * met, then declaration order.
 */
function rank(outcomes: PathwayOutcome[]): PathwayOutcome | undefined {
  return [...outcomes].sort(
    (a, b) =>
      a.notMet - b.notMet ||
      a.unknown - b.unknown ||
      Number(b.indicationMet) - Number(a.indicationMet) ||
      a.position - b.position
  )[0];
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

function evaluateCriterion(
  criterion: CompiledCriterion,
  state: CallState,
  scope: OrderScope,
  diagnostics: Diagnostics
): CriterionOutcome {
  const result: CriterionResult = {
    id: criterion.id,
    short: criterion.short,
    clause: criterion.clause,
    description: criterion.description,
    status: 'unknown',
    evidence: [],
    evidenceItems: [],
  };
  let request = criterion.documentation;
  if (criterion.alwaysUnknown || !criterion.status) {
    return { result, request };
  }
  const { evidence: evidenceExpression, status: statusExpression } = criterion;
  try {
    const evidence = evidenceExpression
      ? valueOf(
          state.memo(`evidence ${criterion.id}`, keyOf(criterion.evidenceDependsOn, scope), () =>
            evidenceExpression.evaluate(scope.focus, scope.vars)
          )
        )
      : [];
    const withEvidence = Object.create(scope.vars, { evidence: { value: evidence, enumerable: true } }) as Json;
    result.status = statusOf(statusExpression.evaluate(scope.focus, withEvidence));
    result.evidence = referencesOf(evidence);
    result.evidenceItems = describeEvidence(evidence, scope.focus);
    if (result.status === 'unknown') {
      // Contract section 6: a request asks only for what is unknown.
      const narrower = criterion.documentationWhen.find((d) => {
        const answer = d.when.evaluate(scope.focus, withEvidence);
        return answer.length > 0 && answer.every((a) => a === true);
      });
      request = narrower?.documentation ?? request;
    }
  } catch (e) {
    // Contract section 4: a criterion whose expression throws is unknown, and the error is logged with its id.
    result.status = 'unknown';
    result.evidence = [];
    request = criterion.documentation;
    result.evidenceItems = [];
    diagnostics.errors.push({ where: `criterion ${criterion.id}`, message: messageOf(e) });
  }
  return { result, request };
}

/** What every order of the call shares (contract section 2): its cycle, and whether continuation criteria apply. */
interface CallCycle {
  cycle: number;
  continuing: boolean;
}

function evaluateOrder(
  service: LoadedService,
  policy: CompiledPolicy,
  state: CallState,
  governed: GovernedOrder,
  position: number,
  calls: CallCycle,
  ctx: CallContext,
  diagnostics: Diagnostics
): OrderDecision {
  const { index } = state;
  const pristine = copyJson(governed.order);
  const focus = copyJson(governed.order, EVALUATION_DEPTH) as unknown as Json;
  resolveMedication(focus, index.medications);

  const plannedStart = plannedStartOf(governed.order) ?? ctx.receivedDate;
  const { cycle, continuing } = calls;
  // The first prior cycle's planned start, or this order's; never after this order's own start.
  const cycle1Start = earlierOf(index.firstPriorStart ?? plannedStart, plannedStart) ?? plannedStart;

  const vars: Json = {
    order: focus,
    patient: index.patient ?? null,
    plannedStart,
    cycle1Start,
    receivedDate: ctx.receivedDate,
    cycle,
    continuing,
    priorCycles: index.priorCycles,
    draftOrders: index.draftOrders,
  };
  const scope: OrderScope = { position, plannedStart, cycle1Start, focus, vars };
  for (const collection of policy.collections) {
    defineLazy(vars, collection.name, () => state.collection(collection));
  }
  for (const fact of policy.facts) {
    defineLazy(vars, fact.name, () =>
      valueOf(
        state.memo(
          `fact ${fact.name}`,
          keyOf(fact.dependsOn, scope),
          () => fact.expression.evaluate(focus, vars),
          `%${fact.name}`
        )
      )
    );
  }

  // Criteria: universal, every pathway's, and the continuation criteria from their cycle; declaration order.
  const needed = new Set<string>([
    ...policy.universal,
    ...policy.pathways.flatMap((p) => p.criteria),
    ...(continuing && policy.continuation ? policy.continuation.criteria : []),
  ]);
  const results = new Map<string, CriterionOutcome>();
  for (const criterion of policy.criteria) {
    if (needed.has(criterion.id)) {
      const outcome = valueOf(
        state.memo(`criterion ${criterion.id}`, keyOf(criterion.dependsOn, scope), () =>
          evaluateCriterion(criterion, state, scope, diagnostics)
        )
      );
      // Each decision gets its own copy: orders of one call may share a memoised result.
      results.set(criterion.id, {
        result: { ...outcome.result, evidence: [...outcome.result.evidence] },
        request: outcome.request,
      });
    }
  }
  const statusOfId = (id: string): CriterionStatus => results.get(id)?.result.status ?? 'unknown';

  // Exclusions (contract section 4).
  const notCoveredBy: string[] = [];
  const notCoveredReasons: string[] = [];
  for (const exclusion of policy.exclusions) {
    const outcome = state.memo(`exclusion ${exclusion.id}`, keyOf(exclusion.dependsOn, scope), () => {
      try {
        const result = exclusion.when.evaluate(focus, vars);
        return result.length > 0 && result.every((r) => r === true);
      } catch (e) {
        diagnostics.errors.push({ where: `exclusion ${exclusion.id}`, message: messageOf(e) });
        return false;
      }
    });
    if (valueOf(outcome)) {
      notCoveredBy.push(exclusion.id);
      notCoveredReasons.push(exclusion.reason);
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
      indicationMet: statusOfId(pathway.indication) === 'met',
      setAside: pathway.maxCycles !== undefined && pathway.maxCycles < cycle,
    };
  });
  const open = outcomes.filter((o) => !o.setAside);
  const viable = outcomes.filter((o) => o.notMet === 0);
  // Contract section 4: over the cycle limit when every pathway is set aside, or when some pathway has nothing not
  // met and every such pathway is set aside.
  const overCycleLimit = open.length === 0 || (viable.length > 0 && viable.every((o) => o.setAside));
  const limitedBest = viable.length > 0 ? rank(viable) : rank(outcomes);
  const best = excluded ? undefined : overCycleLimit ? limitedBest : rank(open);
  if (overCycleLimit) {
    // The best set-aside pathway names the limit (an exclusion may also apply: then there is no best pathway).
    const limited = (best ?? limitedBest)?.pathway;
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
      const outcome = results.get(id);
      if (outcome && outcome.result.status === 'unknown') {
        missingDocumentation.push({ criterion: id, kind: 'unknown-criterion', request: outcome.request });
      }
    }
  }
  for (const item of policy.items) {
    if (item.when === 'always' || continuing) {
      missingDocumentation.push({ criterion: item.id, kind: item.kind, request: item.request });
    }
  }

  const lengths = best ? best.pathway.authorization : policy.authorization;
  const indicationMet = best ? best.indicationMet : false;
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
      patient: state.doseMeasures(),
    });
  } catch (e) {
    // A bug of the dose check (src/dosing throws on its own bugs): logged, and the dose-check card says the dose could
    // not be checked. Dose findings never change the likelihood.
    diagnostics.errors.push({ where: 'dose', message: messageOf(e) });
    dose = { ...emptyAssessment(), unchecked: true };
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
    criteria: policy.criteria
      .filter((c) => results.has(c.id))
      .map((c) => (results.get(c.id) as CriterionOutcome).result),
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
 *   received date, deadline and connection; never written) and, optionally, the Medications governance read for the
 *   draft orders (so that a co-ordered drug written as a `Medication/{id}` reference counts in the regimen).
 * @returns one decision per governed order, in the order given, and the diagnostics (errors and notes) for the
 *   caller's log line.
 */
export function evaluateOrders(service: LoadedService, input: EvaluationInput): EvaluationResult {
  const policy = service.policy as CompiledPolicy;
  const { request, orders, data, ctx } = input;
  const diagnostics: Diagnostics = { errors: [], notes: [] };
  if (orders.length === 0) {
    return { decisions: [], diagnostics };
  }
  // Contract section 2: the governed orders of one call share one cycle number, so prior cycles are those planned
  // before the earliest of their planned starts.
  let earliest: string | undefined;
  for (const governed of orders) {
    earliest = earlierOf(earliest, plannedStartOf(governed.order) ?? ctx.receivedDate);
  }
  const index = indexCall(request, data, policy.drug, diagnostics.notes, input.medications, earliest);
  const state = new CallState(index, policy);
  const cycle = index.priorCycles.length + 1;
  const calls: CallCycle = {
    cycle,
    continuing: policy.continuation !== undefined && cycle >= policy.continuation.fromCycle,
  };
  const decisions: OrderDecision[] = [];
  orders.forEach((governed, position) => {
    // Contract section 2: a call past its deadline, or whose client has gone, stops between orders.
    assertCallContinues(ctx);
    decisions.push(evaluateOrder(service, policy, state, governed, position, calls, ctx, diagnostics));
  });
  return { decisions, diagnostics };
}
