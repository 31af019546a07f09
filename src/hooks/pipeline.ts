// The pipeline of every hook served (docs/architecture.md; contract sections 1 to 3), one for order-sign,
// order-select and order-dispatch, per-policy and routed services alike: the orders under assessment (on
// order-dispatch, read first), governance before any other fetch, the route by payer (routed services), data only
// for governed orders, pure evaluation, the coverage-assertion-ids from the store, then the response by the hook's
// card rules. Transport-free: the HTTP layer calls it with a validated request.
import { randomUUID } from 'node:crypto';
import type { Extension, FhirResource } from 'fhir/r4';
import type { AllowlistEntry } from '../fhir/allowlist';
import { openFhirSession, type FhirSession, type FhirSessionOptions } from '../fhir/client';
import type { LoadedService } from '../policy/types';
import { evaluateOrders } from '../policy/evaluate';
import { assertionsDue, buildResponse, type AssertionDue, type ResolvedAssertion } from '../cards/build';
import { assertionIdOf, isCoverageInformation } from '../cards/coverage-information';
import { HttpError } from '../errors';
import type { OrderDecision } from '../policy/types';
import type { SharedStore } from '../store/types';
import { buildPayerUnknownResponse } from '../cards/payer';
import { assertCallContinues } from './call-limits';
import { readCrdConfiguration } from './crd-configuration';
import { findGovernedOrders, governedBy, type GovernanceResult } from './governance';
import { ordersUnderAssessment } from './orders';
import { gatherData } from './prefetch';
import { coverageKeyOf, dataForPolicy, routeByPayer, templatesForPolicy } from './routing';
import type { CdsService, RoutedTarget } from './services';
import type { CallContext, CdsResponse, GovernedOrder, HookCall, HookRequest, PrefetchData } from './types';

export interface PipelineOptions {
  allowlist: readonly AllowlistEntry[];
  fhirTimeoutMs: number;
  fhirMaxPages: number;
  /** Base URL clients call (CDS_PUBLIC_BASE_URL): the Questionnaire canonical hangs off it. */
  publicBaseUrl: string;
  /** Told about every HTTP request sent to a FHIR server (metrics). */
  observeFhir?: FhirSessionOptions['observe'];
  /** Where the coverage-assertion-ids are kept (the shared store). */
  store: Pick<SharedStore, 'assertionFor'>;
}

export type HookHandler = (service: CdsService, call: HookCall, ctx: CallContext) => Promise<CdsResponse>;

function elapsedSince(start: number): number {
  return Math.round((performance.now() - start) * 1000) / 1000;
}

/** What the chosen policy assesses, and with which data. */
interface Plan {
  policy: LoadedService;
  orders: GovernedOrder[];
  data: PrefetchData;
}

/**
 * A routed call after governance: the coverage key (from prefetch or one search), the route, then the chosen
 * policy's data under the routed keys, renamed to its own.
 * @returns the plan, or the answer itself when there is no active Coverage.
 */
async function routedPlan(
  target: RoutedTarget,
  request: HookRequest,
  governed: GovernanceResult,
  session: FhirSession | undefined,
  ctx: CallContext
): Promise<Plan | CdsResponse> {
  const coverageKey = coverageKeyOf(target);
  let coverageData: FhirResource | null = null;
  if (coverageKey !== undefined) {
    const template = target.prefetch.templates[coverageKey] as string;
    const gathered = await gatherData({ [coverageKey]: template }, request, session, ctx);
    coverageData = gathered[coverageKey] ?? null;
  }
  // The 400 names the prefetch key when the Coverages came from it (not when they were fetched instead).
  const prefetched: unknown = coverageKey === undefined ? undefined : request.prefetch?.[coverageKey];
  const fromPrefetch =
    typeof prefetched === 'object' &&
    prefetched !== null &&
    (prefetched as { resourceType?: unknown }).resourceType !== 'OperationOutcome';
  const route = routeByPayer(
    target,
    coverageData,
    request.context.patientId,
    fromPrefetch ? `prefetch.${coverageKey}` : undefined
  );
  if (route.kind === 'no-active-coverage') {
    ctx.notes.push('no active Coverage: the payer, hence the policy, could not be determined');
    return buildPayerUnknownResponse(readCrdConfiguration(request.extension));
  }
  ctx.notes.push(`routed to ${route.policy.id} by the payer of ${route.coverage}`);
  // What is already in hand is not fetched again: the coverage key, with the chosen Coverage first.
  const withCoverage: HookRequest =
    coverageKey === undefined
      ? request
      : { ...request, prefetch: { ...(request.prefetch ?? {}), [coverageKey]: route.coverageData } };
  const data = await gatherData(templatesForPolicy(target, route.policy), withCoverage, session, ctx);
  return {
    policy: route.policy,
    orders: governedBy(governed, route.policy, request.fhirServer),
    data: dataForPolicy(target, route.policy, data),
  };
}

/**
 * The coverage-assertion-ids of the orders due one (contract section 5), from the store, all at once. A store that
 * fails gives a fresh id (logged; the call is still answered: the id is then new, as after a lost store). A store
 * still silent at the call's deadline is not waited for: the call is past its deadline, 503 `deadline-exceeded`,
 * as for any stage (section 3's order); a client that has gone abandons the wait too.
 */
async function resolveAssertions(
  store: Pick<SharedStore, 'assertionFor'>,
  due: readonly AssertionDue[],
  ctx: CallContext
): Promise<Map<number, ResolvedAssertion>> {
  const resolved = new Map<number, ResolvedAssertion>();
  if (due.length === 0) {
    return resolved;
  }
  const failures: string[] = [];
  const all = Promise.all(
    due.map(async ({ orderIndex, key, outcome }) => {
      const fresh = randomUUID();
      try {
        resolved.set(orderIndex, { id: await store.assertionFor(key, outcome, fresh), kept: true });
      } catch (e) {
        failures.push(e instanceof Error ? e.message : String(e));
        resolved.set(orderIndex, { id: fresh, kept: false });
      }
    })
  );
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const stop = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, Math.max(0, ctx.deadline - Date.now() + 1));
    onAbort = (): void => resolve();
    ctx.signal?.addEventListener('abort', onAbort, { once: true });
  });
  try {
    await Promise.race([all, stop]);
  } finally {
    clearTimeout(timer);
    if (onAbort) {
      ctx.signal?.removeEventListener('abort', onAbort);
    }
  }
  assertCallContinues(ctx);
  if (resolved.size < due.length) {
    // The timer fired a moment before the clock says the deadline passed: the same rule.
    throw new HttpError({
      code: 'deadline-exceeded',
      message: 'The call could not be answered within its deadline (CDS_DEADLINE_MS).',
    });
  }
  if (failures.length > 0) {
    ctx.errors.push({
      where: 'store',
      message: `coverage-assertion-id not kept for ${failures.length} of ${due.length} orders, fresh ids sent: ${failures[0] ?? ''}`,
    });
  }
  return resolved;
}

/** The coverage-assertion-ids a response carries in its system actions (ours: the ones resolved for it). */
function sentAssertionIds(response: CdsResponse, resolved: ReadonlyMap<number, ResolvedAssertion>): string[] {
  const ours = new Set([...resolved.values()].map((r) => r.id));
  const sent: string[] = [];
  for (const action of response.systemActions ?? []) {
    const extensions = (action.resource as { extension?: Extension[] } | undefined)?.extension ?? [];
    for (const ext of extensions.filter(isCoverageInformation)) {
      const id = assertionIdOf(ext);
      if (id !== undefined && ours.has(id)) {
        sent.push(id);
      }
    }
  }
  return sent;
}

/** One decision as the audit record keeps it: the order id, the likelihood and the best pathway. */
function auditDecision(d: OrderDecision): { orderId?: string; likelihood: string; pathway?: string } {
  return {
    ...(d.order.id !== undefined ? { orderId: d.order.id } : {}),
    likelihood: d.likelihood,
    ...(d.pathway ? { pathway: d.pathway.id } : {}),
  };
}

/**
 * Builds the handler for `POST /cds-services/{id}` once the configuration is known.
 * @param options - the FHIR client's limits and the public base URL
 */
export function createHookHandler(options: PipelineOptions): HookHandler {
  return async (service, call, ctx) => {
    const session = openFhirSession(call, {
      allowlist: options.allowlist,
      timeoutMs: options.fhirTimeoutMs,
      maxPages: options.fhirMaxPages,
      deadline: ctx.deadline,
      ...(ctx.signal ? { signal: ctx.signal } : {}),
      ...(options.observeFhir ? { observe: options.observeFhir } : {}),
    });

    let t = performance.now();
    const { request, assessed, medicationExpression } = await ordersUnderAssessment(service.hook, call, session, ctx);
    ctx.timings.orders = elapsedSince(t);
    assertCallContinues(ctx);

    t = performance.now();
    const target = service.target;
    const codes = target.kind === 'policy' ? target.policy : target;
    const governed = await findGovernedOrders(codes, request, session, ctx, {
      assessed,
      expression: medicationExpression,
    });
    ctx.timings.governance = elapsedSince(t);
    assertCallContinues(ctx);
    if (!governed.orders.some((o) => assessed.has(o.index))) {
      // Contract section 2: a call with no governed order (under assessment) answers {"cards": []}.
      return { cards: [] };
    }

    t = performance.now();
    let plan: Plan;
    if (target.kind === 'policy') {
      plan = {
        policy: target.policy,
        orders: governed.orders,
        data: await gatherData(target.policy.definition.prefetch, request, session, ctx),
      };
    } else {
      const routed = await routedPlan(target, request, governed, session, ctx);
      if (!('policy' in routed)) {
        ctx.timings.gather = elapsedSince(t);
        return routed;
      }
      plan = routed;
    }
    ctx.timings.gather = elapsedSince(t);
    ctx.governedOrders = plan.orders.filter((o) => assessed.has(o.index)).length;
    assertCallContinues(ctx);
    if (ctx.governedOrders === 0) {
      return { cards: [] };
    }

    t = performance.now();
    const { decisions, diagnostics } = evaluateOrders(plan.policy, {
      request,
      orders: plan.orders,
      data: plan.data,
      medications: governed.medications,
      ctx,
    });
    // The engine returns what went wrong; the call's log line says it (contract section 8).
    ctx.errors.push(...diagnostics.errors);
    ctx.notes.push(...diagnostics.notes);
    ctx.timings.evaluate = elapsedSince(t);
    assertCallContinues(ctx);
    ctx.decided = {
      policy: plan.policy.id,
      likelihoods: decisions.filter((d) => assessed.has(d.orderIndex)).map((d) => d.likelihood),
    };

    t = performance.now();
    const configuration = readCrdConfiguration(request.extension);
    const due = assertionsDue(plan.policy, decisions, { hook: service.hook, assessed, configuration });
    const assertionIds = await resolveAssertions(options.store, due, ctx);
    ctx.timings.assertions = elapsedSince(t);

    t = performance.now();
    const response = buildResponse(plan.policy, decisions, {
      request,
      receivedDate: ctx.receivedDate,
      baseUrl: options.publicBaseUrl,
      configuration,
      hook: service.hook,
      assessed,
      assertionIds,
    });
    ctx.timings.respond = elapsedSince(t);
    ctx.answered = {
      policyId: plan.policy.id,
      policyVersion: plan.policy.version,
      assertionIds: sentAssertionIds(response, assertionIds),
      decisions: decisions
        .filter((d) => assessed.has(d.orderIndex))
        .sort((a, b) => a.orderIndex - b.orderIndex)
        .map(auditDecision),
    };
    return response;
  };
}
