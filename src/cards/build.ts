// Decisions -> the CDS Hooks response (contract sections 5 and 6): cards sorted by kind then draft-order position,
// cut to `max-cards`, and the CRD coverage-information `update` system actions.
import { randomUUID } from 'node:crypto';
import type { Action, Card, CdsResponse, HookName, HookRequest } from '../hooks/types';
import type { CrdConfiguration } from '../hooks/crd-configuration';
import type { LoadedService, OrderDecision } from '../policy/types';
import { buildCoverageCard } from './coverage-card';
import { alreadyAsserted, buildCoverageSystemAction, outcomeFor } from './coverage-information';
import { buildDocumentationCard } from './documentation';
import { buildCorrectionCard, buildDoseCheckCard } from './dose-cards';
import { questionnaireCanonical } from './questionnaire';
import { CARD_KIND_ORDER, type CardKind } from './shared';

export interface BuildResponseOptions {
  request: HookRequest;
  /** The UTC date the call was received (YYYY-MM-DD): coverage-information `date` and Task `authoredOn`. */
  receivedDate: string;
  /** The public base URL (CDS_PUBLIC_BASE_URL): the Questionnaire canonical hangs off it. */
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
}

interface Entry {
  kind: CardKind;
  decision: OrderDecision;
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
  if (maxCards === 0) {
    // Contract section 6: max-cards 0 gives {"cards": []}.
    return { cards: [] };
  }
  const hook = opts.hook ?? 'order-sign';
  const secondary = hook === 'order-select';
  const ordered = [...decisions]
    .filter((d) => opts.assessed === undefined || opts.assessed.has(d.orderIndex))
    .sort((a, b) => a.orderIndex - b.orderIndex);
  /** order-dispatch: the order already carries this assertion, so nothing about its coverage is new. */
  const unchanged = (decision: OrderDecision): boolean =>
    hook === 'order-dispatch' &&
    decision.coverage !== undefined &&
    alreadyAsserted(decision.order, decision.coverage, outcomeFor(decision.likelihood));

  const entries: Entry[] = [];
  const add = (kind: CardKind, decision: OrderDecision, card: Card | undefined): void => {
    if (card) {
      entries.push({ kind, decision, seq: entries.length, card });
    }
  };
  for (const decision of ordered) {
    const known = unchanged(decision);
    if (config.coverageInfo && !known) {
      add('coverage', decision, buildCoverageCard(service, decision, uuid()));
      if (decision.likelihood === 'needs-documentation' && !secondary) {
        add(
          'documentation',
          decision,
          buildDocumentationCard(service, decision, {
            request: opts.request,
            receivedDate: opts.receivedDate,
            baseUrl: opts.baseUrl,
            uuid,
          })
        );
      }
    }
    if (config.limits) {
      const correction = buildCorrectionCard(service, decision, uuid);
      add('correction', decision, correction);
      if (!correction && !known) {
        add('dose-check', decision, buildDoseCheckCard(service, decision, uuid()));
      }
    }
  }

  const rank = (k: CardKind): number => CARD_KIND_ORDER.indexOf(k);
  entries.sort((a, b) => rank(a.kind) - rank(b.kind) || a.decision.orderIndex - b.decision.orderIndex || a.seq - b.seq);
  const kept = entries.slice(0, maxCards);

  const systemActions: Action[] = [];
  if (config.coverageInfo) {
    const documented = new Set(kept.filter((e) => e.kind === 'documentation').map((e) => e.decision));
    for (const decision of ordered) {
      const action = buildCoverageSystemAction(service, decision, {
        receivedDate: opts.receivedDate,
        assertionId: uuid(),
        // Contract section 5: `questionnaire` exactly when a documentation card is sent.
        questionnaire: documented.has(decision) ? questionnaireCanonical(service, opts.baseUrl) : undefined,
        secondary,
      });
      if (action) {
        systemActions.push(action);
      }
    }
  }

  const response: CdsResponse = { cards: kept.map((e) => e.card) };
  if (systemActions.length > 0) {
    response.systemActions = systemActions;
  }
  return response;
}
