// The order-sign pipeline (docs/architecture.md): governance before any fetch, data only for governed orders,
// pure evaluation, then the response. Transport-free: the HTTP layer calls it with a validated request.
import type { CdsResponse, CallContext, HookRequest } from './types';
import type { LoadedService } from '../policy/types';
import type { AllowlistEntry } from '../fhir/allowlist';
import { openFhirSession } from '../fhir/client';
import { findGovernedOrders } from './governance';
import { gatherData } from './prefetch';
import { readCrdConfiguration } from './crd-configuration';
import { evaluateOrders } from '../policy/evaluate';
import { buildResponse } from '../cards/build';

export interface OrderSignOptions {
  allowlist: readonly AllowlistEntry[];
  fhirTimeoutMs: number;
  fhirMaxPages: number;
  /** Base URL clients call (CDS_PUBLIC_BASE_URL): the Questionnaire canonical hangs off it. */
  publicBaseUrl: string;
}

export type OrderSignHandler = (service: LoadedService, request: HookRequest, ctx: CallContext) => Promise<CdsResponse>;

function elapsedSince(start: number): number {
  return Math.round((performance.now() - start) * 1000) / 1000;
}

/** Builds the handler for `POST /cds-services/{id}` once the configuration is known. */
export function createOrderSignHandler(options: OrderSignOptions): OrderSignHandler {
  return async (service, request, ctx) => {
    const session = openFhirSession(request, {
      allowlist: options.allowlist,
      timeoutMs: options.fhirTimeoutMs,
      maxPages: options.fhirMaxPages,
      deadline: ctx.deadline,
    });

    let t = performance.now();
    const governed = await findGovernedOrders(service, request, session, ctx);
    ctx.timings.governance = elapsedSince(t);
    if (governed.orders.length === 0) {
      // Contract section 2: a call with no governed order answers {"cards": []}.
      return { cards: [] };
    }

    t = performance.now();
    const data = await gatherData(service, request, session, ctx);
    ctx.timings.gather = elapsedSince(t);

    t = performance.now();
    const decisions = evaluateOrders(service, {
      request,
      orders: governed.orders,
      data,
      medications: governed.medications,
      ctx,
    });
    ctx.timings.evaluate = elapsedSince(t);

    t = performance.now();
    const response = buildResponse(service, decisions, {
      request,
      receivedDate: ctx.receivedDate,
      baseUrl: options.publicBaseUrl,
      configuration: readCrdConfiguration(request.extension),
    });
    ctx.timings.respond = elapsedSince(t);
    return response;
  };
}
