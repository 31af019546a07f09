// The one card a routed service answers when the patient has no active Coverage (contract section 1, "One endpoint
// per hook for every payer"): the payer, hence the policy, cannot be determined, so nothing is assessed and no
// coverage information is recorded.
import { randomUUID } from 'node:crypto';
import type { Card, CdsResponse } from '../hooks/types';
import type { CrdConfiguration } from '../hooks/crd-configuration';
import { DRUG_NAME, topicCoding } from './shared';

/** `source.label` when no payer is known (contract section 6 names cards by the payer's label: there is none). */
export const PAYER_UNKNOWN_LABEL = 'Coverage requirements (health plan not determined)';

/**
 * The routed answer without an active Coverage: one warning card, no system action. `max-cards` 0 and
 * `coverage-info` false (it is a coverage card) leave `{"cards": []}`.
 * @param configuration - the request's CRD configuration
 * @param uuid - identifier source (tests)
 */
export function buildPayerUnknownResponse(
  configuration: CrdConfiguration,
  uuid: () => string = randomUUID
): CdsResponse {
  if (!configuration.coverageInfo || configuration.maxCards === 0) {
    return { cards: [] };
  }
  const card: Card = {
    uuid: uuid(),
    summary: `${DRUG_NAME}: health plan not determined: no active coverage found`,
    detail:
      'No active coverage was found for this patient, so the health plan, and the policy that decides this order, ' +
      'could not be determined. Nothing was assessed and no coverage information was recorded on the order. Check ' +
      "the patient's insurance; the assessment follows once an active coverage is on file.",
    indicator: 'warning',
    source: { label: PAYER_UNKNOWN_LABEL, topic: topicCoding('coverage-info') },
  };
  return { cards: [card] };
}
