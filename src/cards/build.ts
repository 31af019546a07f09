// Decisions -> the CDS Hooks response (contract sections 1, 5 and 6): cards sorted by kind then draft-order position,
// cut to `max-cards`, and the CRD coverage-information `update` system actions, which neither `max-cards` nor, on the
// primary hooks, `coverage-info: false` removes (CRD requires them there). The hook's rules: order-select gets no
// documentation card and no `doc-needed` or `questionnaire`; order-dispatch repeats no unchanged assertion. The
// coverage-assertion-ids come resolved from the store (assertionsDue says which); the builder does no I/O.
import { randomUUID } from 'node:crypto';
import type { Action, Card, CdsResponse, HookName, HookRequest } from '../hooks/types';
import type { CrdConfiguration } from '../hooks/crd-configuration';
import { checkCombinedQuantity } from '../dosing/combined';
import type { LoadedService, OrderDecision } from '../policy/types';
import type { AssertionKey, AssertionOutcome } from '../store/types';
import { buildCoverageCard } from './coverage-card';
import { alreadyAsserted, buildCoverageSystemAction, outcomeFor } from './coverage-information';
import { buildDocumentationCard } from './documentation';
import {
  buildCombinedQuantityCard,
  buildCorrectionCard,
  buildDoseCheckCard,
  combinedQuantityBlock,
} from './dose-cards';
import { questionnaireCanonical } from './questionnaire';
import { CARD_KIND_ORDER, type CardKind } from './shared';

export interface BuildResponseOptions {
  request: HookRequest;
  /** The UTC date the call was received (YYYY-MM-DD): coverage-information `date` and Task `authoredOn`. */
  receivedDate: string;
  /** The public base URL (CDS_PUBLIC_BASE_URL): the Questionnaire canonical and the policy page hang off it. */
  baseUrl: string;
  configuration: CrdConfiguration;
  /** Identifier source for cards, suggestions and coverage-assertion-ids (tests); crypto.randomUUID otherwise. */
  uuid?: () => string;
  /**
   * The hook answered (default order-sign). The rules of contract section 1: on order-select no documentation card
   * (hence no Task) and coverage information without `doc-needed` or `questionnaire`; on order-dispatch an order
   * that already carries the same assertion for its Coverage gets its correction card only, and no system action.
   */
  hook?: HookName;
  /**
   * `orderIndex` of the orders under assessment (default: every decision). The others were evaluated as context
   * only (order-select's draft orders that are not selected): they get no card and no system action.
   */
  assessed?: ReadonlySet<number>;
  /**
   * The coverage-assertion-id of each order under assessment that gets a system action, by `orderIndex`, resolved
   * beforehand from the store (see {@link assertionsDue}); an order missing here gets a fresh one from `uuid`.
   */
  assertionIds?: ReadonlyMap<number, ResolvedAssertion>;
}

/** A coverage-assertion-id as the pipeline resolved it. */
export interface ResolvedAssertion {
  id: string;
  /**
   * True when the store kept or stored it: then an assertion the order already carries is ours only with this id.
   * False for a fresh id used because the store failed (then the outcome alone is compared, as without a store).
   */
  kept: boolean;
}

/** An order whose system action needs a coverage-assertion-id, and what decides whether the stored one holds. */
export interface AssertionDue {
  orderIndex: number;
  key: AssertionKey;
  outcome: AssertionOutcome;
}

/**
 * The orders of the call that get a coverage-information system action if anything is new (contract section 5):
 * under assessment, with an id and an active Coverage, on a primary hook or with `coverage-info` on; a second
 * draft order with an id already seen in the call gets none (one assertion per order: the first by position). Keyed
 * by order id, Coverage, policy and policy version; the outcome is `covered` and `pa-needed` ("" when absent),
 * which order-select and the primary hooks share, so the id is kept across hooks.
 * @param service - the policy answering (per-policy and routed services alike)
 * @param decisions - every governed order's decision
 * @param opts - the hook, the orders under assessment and the CRD configuration
 */
export function assertionsDue(
  service: LoadedService,
  decisions: readonly OrderDecision[],
  opts: Pick<BuildResponseOptions, 'hook' | 'assessed' | 'configuration'>
): AssertionDue[] {
  const secondary = (opts.hook ?? 'order-sign') === 'order-select';
  if (!opts.configuration.coverageInfo && secondary) {
    return [];
  }
  const due: AssertionDue[] = [];
  const seen = new Set<string>();
  for (const d of [...decisions].sort((a, b) => a.orderIndex - b.orderIndex)) {
    const orderId = d.order.id;
    if ((opts.assessed !== undefined && !opts.assessed.has(d.orderIndex)) || !d.orderRef || !orderId || !d.coverage) {
      continue;
    }
    if (seen.has(orderId)) {
      continue;
    }
    seen.add(orderId);
    const outcome = outcomeFor(d.likelihood);
    due.push({
      orderIndex: d.orderIndex,
      key: { orderId, coverage: d.coverage, policy: service.id, policyVersion: service.version },
      outcome: { covered: outcome.covered, paNeeded: outcome.paNeeded ?? '' },
    });
  }
  return due;
}

interface Entry {
  kind: CardKind;
  /** Position in `draftOrders` the card sorts by (the combined-quantity card comes after every order's). */
  position: number;
  seq: number;
  card: Card;
}

const DEFAULT_MAX_CARDS = 10;

/**
 * Builds the whole response for the governed orders' decisions.
 * @param service - the service called.
 * @param decisions - one per governed order (any order; sorted here by `orderIndex`).
 * @param opts - the request, the received date, the public base URL, the CRD configuration and an optional uuid source.
 */
export function buildResponse(
  service: LoadedService,
  decisions: OrderDecision[],
  opts: BuildResponseOptions
): CdsResponse {
  const uuid = opts.uuid ?? randomUUID;
  const config = opts.configuration;
  const maxCards = Number.isInteger(config.maxCards) && config.maxCards >= 0 ? config.maxCards : DEFAULT_MAX_CARDS;
  const hook = opts.hook ?? 'order-sign';
  const secondary = hook === 'order-select';
  /** Every governed order of the call, the context ones too (contract section 1: they count as context). */
  const all = [...decisions].sort((a, b) => a.orderIndex - b.orderIndex);
  /** The orders under assessment: only they get cards and system actions. */
  const ordered = all.filter((d) => opts.assessed === undefined || opts.assessed.has(d.orderIndex));
  const orderCount = all.length;
  const keptId = (decision: OrderDecision): string | undefined => {
    const resolved = opts.assertionIds?.get(decision.orderIndex);
    return resolved?.kept ? resolved.id : undefined;
  };
  /** order-dispatch: the order already carries our assertion (the kept id), so nothing about its coverage is new. */
  const unchanged = (decision: OrderDecision): boolean =>
    hook === 'order-dispatch' &&
    decision.coverage !== undefined &&
    alreadyAsserted(decision.order, decision.coverage, outcomeFor(decision.likelihood), keptId(decision));

  const entries: Entry[] = [];
  const add = (kind: CardKind, position: number, card: Card | undefined): void => {
    if (card) {
      entries.push({ kind, position, seq: entries.length, card });
    }
  };

  // Several governed orders of the call (one cycle) checked together against the per-cycle quantity (sections 6
  // and 7): every governed draft order counts, the context ones too; the finding is sent only with an order under
  // assessment whose cards are due.
  const combined =
    config.limits && ordered.some((d) => d.dose.correction || !unchanged(d))
      ? checkCombinedQuantity(
          all.map((d) => ({ index: d.orderIndex, order: d.order })),
          service.dosing
        )
      : undefined;
  // With a correction card in the call, the combined finding goes in the last one's detail instead of a card.
  const lastCorrected = combined ? [...ordered].reverse().find((d) => d.dose.correction) : undefined;

  for (const decision of ordered) {
    const known = unchanged(decision);
    if (config.coverageInfo && !known) {
      add(
        'coverage',
        decision.orderIndex,
        buildCoverageCard(service, decision, uuid(), { baseUrl: opts.baseUrl, orderCount })
      );
      if (decision.likelihood === 'needs-documentation' && !secondary) {
        add(
          'documentation',
          decision.orderIndex,
          buildDocumentationCard(service, decision, {
            request: opts.request,
            receivedDate: opts.receivedDate,
            baseUrl: opts.baseUrl,
            uuid,
            orderCount,
          })
        );
      }
    }
    if (config.limits) {
      const correction = buildCorrectionCard(service, decision, uuid, {
        orderCount,
        dispatched: hook === 'order-dispatch',
        ...(combined && decision === lastCorrected ? { combined: combinedQuantityBlock(combined, all) } : {}),
      });
      add('correction', decision.orderIndex, correction);
      if (!correction && !known) {
        add('dose-check', decision.orderIndex, buildDoseCheckCard(service, decision, uuid(), { orderCount }));
      }
    }
  }
  if (combined && !lastCorrected) {
    add('dose-check', Number.POSITIVE_INFINITY, buildCombinedQuantityCard(service, all, combined, uuid()));
  }

  const rank = (k: CardKind): number => CARD_KIND_ORDER.indexOf(k);
  entries.sort((a, b) => rank(a.kind) - rank(b.kind) || a.position - b.position || a.seq - b.seq);
  // Contract section 6: max-cards limits cards only (0 gives "cards": []); the system actions below stay.
  const kept = entries.slice(0, maxCards);

  // Contract section 5: the coverage-information system action on every governed order under assessment with an id
  // and an active Coverage (none when the order already carries the same assertion), whatever `max-cards` says, and
  // on the primary hooks whatever `coverage-info` says (section 6: "the system action stays on primary hooks"; on
  // order-select `coverage-info: false` turns it off with the cards); `questionnaire` exactly when the likelihood is
  // needs-documentation on a primary hook.
  const systemActions: Action[] = [];
  // One system action per order id: a second draft order with the same id gets none (see assertionsDue).
  const asserted = new Set<string>();
  for (const decision of config.coverageInfo || !secondary ? ordered : []) {
    const orderId = decision.order.id;
    if (orderId !== undefined && asserted.has(orderId)) {
      continue;
    }
    if (orderId !== undefined) {
      asserted.add(orderId);
    }
    const resolved = opts.assertionIds?.get(decision.orderIndex);
    const action = buildCoverageSystemAction(service, decision, {
      receivedDate: opts.receivedDate,
      assertionId: resolved?.id ?? uuid(),
      ...(resolved?.kept ? { keptAssertion: true } : {}),
      orderCount,
      questionnaire:
        decision.likelihood === 'needs-documentation' && !secondary
          ? questionnaireCanonical(service, opts.baseUrl)
          : undefined,
      secondary,
    });
    if (action) {
      systemActions.push(action);
    }
  }

  const response: CdsResponse = { cards: kept.map((e) => e.card) };
  if (systemActions.length > 0) {
    response.systemActions = systemActions;
  }
  return response;
}
