// Decisions -> the CDS Hooks response (contract sections 5 and 6): cards sorted by kind then draft-order position,
// cut to `max-cards`, and the CRD coverage-information `update` system actions, which neither `max-cards` nor
// `coverage-info: false` removes (CRD requires them on primary hooks).
import { randomUUID } from 'node:crypto';
import type { Action, Card, CdsResponse, HookRequest } from '../hooks/types';
import type { CrdConfiguration } from '../hooks/crd-configuration';
import { checkCombinedQuantity } from '../dosing/combined';
import type { LoadedService, OrderDecision } from '../policy/types';
import { buildCoverageCard } from './coverage-card';
import { buildCoverageSystemAction } from './coverage-information';
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
  const ordered = [...decisions].sort((a, b) => a.orderIndex - b.orderIndex);
  const orderCount = ordered.length;

  const entries: Entry[] = [];
  const add = (kind: CardKind, position: number, card: Card | undefined): void => {
    if (card) {
      entries.push({ kind, position, seq: entries.length, card });
    }
  };

  // Several governed orders of the call (one cycle) checked together against the per-cycle quantity (section 7).
  const combined = config.limits
    ? checkCombinedQuantity(
        ordered.map((d) => ({ index: d.orderIndex, order: d.order })),
        service.dosing
      )
    : undefined;
  // With a correction card in the call, the combined finding goes in the last one's detail instead of a card.
  const lastCorrected = combined ? [...ordered].reverse().find((d) => d.dose.correction) : undefined;

  for (const decision of ordered) {
    if (config.coverageInfo) {
      add(
        'coverage',
        decision.orderIndex,
        buildCoverageCard(service, decision, uuid(), { baseUrl: opts.baseUrl, orderCount })
      );
      if (decision.likelihood === 'needs-documentation') {
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
        ...(combined && decision === lastCorrected ? { combined: combinedQuantityBlock(combined, ordered) } : {}),
      });
      add('correction', decision.orderIndex, correction);
      if (!correction) {
        add('dose-check', decision.orderIndex, buildDoseCheckCard(service, decision, uuid(), { orderCount }));
      }
    }
  }
  if (combined && !lastCorrected) {
    add('dose-check', Number.POSITIVE_INFINITY, buildCombinedQuantityCard(service, ordered, combined, uuid()));
  }

  const rank = (k: CardKind): number => CARD_KIND_ORDER.indexOf(k);
  entries.sort((a, b) => rank(a.kind) - rank(b.kind) || a.position - b.position || a.seq - b.seq);
  // Contract section 6: max-cards limits cards only (0 gives "cards": []); the system actions below stay.
  const kept = entries.slice(0, maxCards);

  // Contract section 5: the coverage-information system action on every governed order with an id and an active
  // Coverage, whatever `coverage-info` and `max-cards` say; `questionnaire` exactly when documentation is needed.
  const systemActions: Action[] = [];
  for (const decision of ordered) {
    const action = buildCoverageSystemAction(service, decision, {
      receivedDate: opts.receivedDate,
      assertionId: uuid(),
      orderCount,
      questionnaire:
        decision.likelihood === 'needs-documentation' ? questionnaireCanonical(service, opts.baseUrl) : undefined,
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
