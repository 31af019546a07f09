// Dose and quantity cards (contract sections 6 and 7): the correction card, with one suggestion that replaces the
// order by its corrected version, and the dose-check card, for what a person must look at when nothing is corrected.
import type { Coding, MedicationRequest } from 'fhir/r4';
import type { Card } from '../hooks/types';
import { sameJson } from '../dosing/json';
import type { DosePrompt } from '../dosing/types';
import type { LoadedService, OrderDecision } from '../policy/types';
import { withoutCoverageInformation } from './coverage-information';
import { escapeMarkdown, toSummary } from './markdown';
import { DRUG_NAME_LONG, cardSource, describeOrderMarkdown, pruneEmpty, summaryPrefix } from './shared';

export const OVERRIDE_REASON_SYSTEM = 'http://example.org/fhir/CodeSystem/dose-override-reason';

/** Why a prescriber may keep the dose as ordered (CDS Hooks override reasons: each Coding has a display). */
export const DOSE_OVERRIDE_REASONS: readonly Coding[] = [
  {
    system: OVERRIDE_REASON_SYSTEM,
    code: 're-escalation-after-toxicity',
    display: 'Dose re-escalation or reduction after toxicity',
  },
  { system: OVERRIDE_REASON_SYSTEM, code: 'protocol-dosing', display: 'Dosing follows a treatment protocol' },
  {
    system: OVERRIDE_REASON_SYSTEM,
    code: 'weight-or-bsa-verified',
    display: 'Weight or body surface area verified by the prescriber',
  },
  { system: OVERRIDE_REASON_SYSTEM, code: 'clinical-judgement', display: 'Clinical judgement' },
];

function bullets(title: string, lines: string[]): string | undefined {
  return lines.length > 0 ? [title, ...lines.map((l) => `- ${l}`)].join('\n') : undefined;
}

function promptTexts(prompts: DosePrompt[]): string[] {
  return prompts.map((p) => escapeMarkdown(p.text)).filter((t) => t !== '');
}

// The arithmetic is plain text that quotes the request (units and values as charted or ordered): escaped whole.
function arithmeticLines(lines: string[]): string[] {
  return lines.map(escapeMarkdown).filter((l) => l !== '');
}

/** What the corrected order changes, in words, for the suggestion's label. */
export function correctedParts(order: MedicationRequest, corrected: MedicationRequest): string[] {
  const parts: string[] = [];
  if (!sameJson(order.dosageInstruction, corrected.dosageInstruction)) {
    parts.push('dose');
  }
  if (!sameJson(order.dispenseRequest?.quantity, corrected.dispenseRequest?.quantity)) {
    parts.push('quantity');
  }
  if (!sameJson(order.dispenseRequest?.expectedSupplyDuration, corrected.dispenseRequest?.expectedSupplyDuration)) {
    parts.push('supply duration');
  }
  return parts;
}

function suggestionLabel(parts: string[]): string {
  if (parts.length === 0) {
    return 'Apply the corrected order';
  }
  const last = parts[parts.length - 1] ?? '';
  const words = parts.length === 1 ? last : `${parts.slice(0, -1).join(', ')} and ${last}`;
  return `Apply the corrected ${words}`;
}

/**
 * The correction card, when `decision.dose.correction` is set. The suggestion's single `update` carries the
 * corrected order whole, without any coverage-information extension; an order without an id gets no suggestion.
 */
export function buildCorrectionCard(
  service: LoadedService,
  decision: OrderDecision,
  uuid: () => string
): Card | undefined {
  const correction = decision.dose.correction;
  if (!correction) {
    return undefined;
  }
  const blocks: Array<string | undefined> = [
    describeOrderMarkdown(decision),
    bullets(
      '**What to correct:**',
      decision.dose.findings.map(escapeMarkdown).filter((t) => t !== '')
    ),
    bullets('**How it was worked out:**', arithmeticLines(decision.dose.arithmetic)),
    bullets('**Also check:**', promptTexts(decision.dose.prompts)),
  ];
  const orderId = decision.order.id;
  const applicable = Boolean(decision.orderRef && orderId);
  blocks.push(
    applicable
      ? 'The suggestion replaces the order with a corrected copy; the order is otherwise unchanged.'
      : 'The order has no id yet, so the correction cannot be applied for you: change the order by hand.'
  );
  const card: Card = {
    uuid: uuid(),
    summary: toSummary(correction.summary || `${summaryPrefix(decision)}: the dose or quantity needs correcting`),
    detail: blocks.filter((b): b is string => !!b).join('\n\n'),
    indicator: 'warning',
    source: cardSource(service, 'limits'),
  };
  if (applicable && orderId) {
    const resource = pruneEmpty(withoutCoverageInformation(correction.resource));
    // An update names the resource it replaces: the draft order's own id (checklist CI-6).
    resource.id = orderId;
    card.selectionBehavior = 'at-most-one';
    card.suggestions = [
      {
        label: suggestionLabel(correctedParts(decision.order, correction.resource)),
        uuid: uuid(),
        isRecommended: true,
        actions: [
          {
            type: 'update',
            description: `Replace the ${DRUG_NAME_LONG} order ${decision.orderRef ?? ''} with its corrected version`,
            resource,
          },
        ],
      },
    ];
  }
  card.overrideReasons = DOSE_OVERRIDE_REASONS.map((r) => ({ ...r }));
  return card;
}

const PROMPT_ACTIONS: Record<DosePrompt['kind'], string> = {
  'missing-weight': 'record the weight',
  'stale-weight': 'record a current weight',
  'missing-height': 'record the height',
  'implausible-bsa': 'verify the charted body surface area',
  'unreadable-dose': 'write the dose in mcg/day',
};

/** The dose-check card: only when there is no correction and `dose.prompts` is non-empty. */
export function buildDoseCheckCard(service: LoadedService, decision: OrderDecision, uuid: string): Card | undefined {
  const prompts = decision.dose.prompts;
  if (decision.dose.correction || prompts.length === 0) {
    return undefined;
  }
  const actions = [...new Set(prompts.map((p) => PROMPT_ACTIONS[p.kind] ?? 'review the dose'))];
  const blocks: Array<string | undefined> = [
    describeOrderMarkdown(decision),
    bullets('**Before the dose can be confirmed:**', promptTexts(prompts)),
    bullets('**How it was worked out:**', arithmeticLines(decision.dose.arithmetic)),
  ];
  return {
    uuid,
    summary: toSummary(`${summaryPrefix(decision)} dose check: ${actions.join('; ')}`),
    detail: blocks.filter((b): b is string => !!b).join('\n\n'),
    indicator: 'warning',
    source: cardSource(service, 'limits'),
  };
}
