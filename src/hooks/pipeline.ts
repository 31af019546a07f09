// The pipeline of every hook served (docs/architecture.md; contract sections 1 to 3), one for order-sign,
// order-select and order-dispatch: the orders under assessment (on order-dispatch, read first), governance before any
// other fetch, data only for governed orders, pure evaluation, then the response by the hook's card rules.
// Transport-free: the HTTP layer calls it with a validated request.
import type { AllowlistEntry } from '../fhir/allowlist';
import { openFhirSession } from '../fhir/client';
import { evaluateOrders } from '../policy/evaluate';
import { buildResponse } from '../cards/build';
import { assertCallContinues } from './call-limits';
import { readCrdConfiguration } from './crd-configuration';
import { findGovernedOrders } from './governance';
import { ordersUnderAssessment } from './orders';
import { gatherData } from './prefetch';
import type { CdsService } from './services';
import type { CallContext, CdsResponse, HookCall } from './types';

export interface PipelineOptions {
  allowlist: readonly AllowlistEntry[];
  fhirTimeoutMs: number;
  fhirMaxPages: number;
  /** Base URL clients call (CDS_PUBLIC_BASE_URL): the Questionnaire canonical hangs off it. */
  publicBaseUrl: string;
}

export type HookHandler = (service: CdsService, call: HookCall, ctx: CallContext) => Promise<CdsResponse>;

function elapsedSince(start: number): number {
  return Math.round((performance.now() - start) * 1000) / 1000;
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
    });

    let t = performance.now();
    const { request, assessed, medicationExpression } = await ordersUnderAssessment(service.hook, call, session, ctx);
    ctx.timings.orders = elapsedSince(t);

    t = performance.now();
    const policy = service.target.policy;
    const governed = await findGovernedOrders(policy, request, session, ctx, {
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
    const data = await gatherData(policy, request, session, ctx);
    ctx.timings.gather = elapsedSince(t);
    ctx.governedOrders = governed.orders.filter((o) => assessed.has(o.index)).length;
    assertCallContinues(ctx);

    t = performance.now();
    const decisions = evaluateOrders(policy, {
      request,
      orders: governed.orders,
      data,
      medications: governed.medications,
      ctx,
    });
    ctx.timings.evaluate = elapsedSince(t);
    assertCallContinues(ctx);

    t = performance.now();
    const response = buildResponse(policy, decisions, {
      request,
      receivedDate: ctx.receivedDate,
      baseUrl: options.publicBaseUrl,
      configuration: readCrdConfiguration(request.extension),
      hook: service.hook,
      assessed,
    });
    ctx.timings.respond = elapsedSince(t);
    return response;
  };
}
