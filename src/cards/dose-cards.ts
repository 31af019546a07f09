// Dose and quantity cards (contract sections 6 and 7): the correction card, with one suggestion that replaces the
// order by its corrected version and override reasons that fit what it corrects; the dose-check card, for what a
// person must look at when nothing is corrected; and the call's combined-quantity check (several orders of one cycle
// that together exceed the per-cycle limit).
import type { Coding, MedicationRequest } from 'fhir/r4';
import type { Card } from '../hooks/types';
import type { CombinedQuantityFinding } from '../dosing/combined';
import { sameJson } from '../dosing/json';
import type { DosePrompt } from '../dosing/types';
import type { LoadedService, OrderDecision } from '../policy/types';
import { orderForEhr } from './coverage-information';
import { MAX_DETAIL_LENGTH, MAX_SUMMARY_LENGTH, cutAtLine, escapeData, escapeMarkdown, lengthOf } from './markdown';
import { DRUG_NAME_LONG, cardSource, medicationText, orderInWords, pruneEmpty, summaryPrefix } from './shared';

export const OVERRIDE_REASON_SYSTEM = 'http://example.org/fhir/CodeSystem/dose-override-reason';

function reason(code: string, display: string): Coding {
  return { system: OVERRIDE_REASON_SYSTEM, code, display };
}

/** Why a prescriber may keep a dose as ordered. */
export const DOSE_OVERRIDE_REASONS: readonly Coding[] = [
  reason('re-escalation-after-toxicity', 'Dose re-escalation or reduction after toxicity'),
  reason('protocol-dosing', 'Dosing follows a treatment protocol'),
  reason('weight-or-bsa-verified', 'Weight or body surface area verified by the prescriber'),
];

/** Why a prescriber may keep a quantity over the per-cycle limit. */
export const QUANTITY_OVERRIDE_REASONS: readonly Coding[] = [
  reason('quantity-preparation-loss', 'Extra vials for preparation losses or wastage'),
  reason('quantity-exception-approved', 'The health plan approved an exception for this quantity'),
];

/** Why a prescriber may keep a supply duration other than the cycle length. */
export const SUPPLY_OVERRIDE_REASONS: readonly Coding[] = [
  reason('supply-partial-cycle', 'The supply covers part of the cycle (dispensed in several fills)'),
  reason('supply-treatment-interruption', 'The cycle is lengthened by a treatment interruption'),
  reason('supply-protocol-schedule', 'The supply follows a treatment protocol schedule'),
];

export const CLINICAL_JUDGEMENT = reason('clinical-judgement', 'Clinical judgement');

export type CorrectedPart = 'dose' | 'quantity' | 'supply duration';

/** What the corrected order changes, in words. */
export function correctedParts(order: MedicationRequest, corrected: MedicationRequest): CorrectedPart[] {
  const parts: CorrectedPart[] = [];
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

/** The override reasons for what a correction corrects (contract section 6), clinical judgement last. */
export function overrideReasonsFor(parts: readonly CorrectedPart[]): Coding[] {
  const reasons: Coding[] = [
    ...(parts.includes('dose') ? DOSE_OVERRIDE_REASONS : []),
    ...(parts.includes('quantity') ? QUANTITY_OVERRIDE_REASONS : []),
    ...(parts.includes('supply duration') ? SUPPLY_OVERRIDE_REASONS : []),
    CLINICAL_JUDGEMENT,
  ];
  return reasons.map((r) => ({ ...r }));
}

function joinWords(parts: readonly string[]): string {
  if (parts.length <= 1) {
    return parts[0] ?? '';
  }
  return `${parts.slice(0, -1).join(', ')} and ${parts[parts.length - 1] as string}`;
}

function suggestionLabel(parts: readonly CorrectedPart[]): string {
  return parts.length === 0 ? 'Apply the corrected order' : `Apply the corrected ${joinWords(parts)}`;
}

function bullets(title: string, lines: string[]): string | undefined {
  return lines.length > 0 ? [title, ...lines.map((l) => `- ${l}`)].join('\n') : undefined;
}

// Dose texts quote the request (units and values as charted or ordered): escaped whole, and unable to link.
function dataLines(lines: readonly string[]): string[] {
  return lines.map((l) => escapeData(l, 300)).filter((l) => l !== '');
}

/** Joins blocks and, over the detail budget, drops the arithmetic lines from the end (whole lines only). */
function fitBlocks(build: (arithmetic: string[]) => Array<string | undefined>, arithmetic: string[]): string {
  let lines = [...arithmetic];
  for (;;) {
    const text = build(lines)
      .filter((b): b is string => !!b)
      .join('\n\n');
    if (lengthOf(text) <= MAX_DETAIL_LENGTH) {
      return text;
    }
    if (lines.length === 0) {
      return cutAtLine(text, MAX_DETAIL_LENGTH, '(Shortened: the order holds more than a card can show.)');
    }
    lines = lines.slice(0, -1);
  }
}

/** A summary that starts with the drug and cycle when it fits, else the phrase as given (whole phrases only). */
function prefixed(decision: OrderDecision, phrase: string): string {
  const lowered = `${phrase.charAt(0).toLowerCase()}${phrase.slice(1)}`;
  const full = `${summaryPrefix(decision)}: ${lowered}`;
  return lengthOf(full) <= MAX_SUMMARY_LENGTH ? full : phrase;
}

/** What the combined-quantity check says, as a markdown block (for the correction card or its own card). */
export function combinedQuantityBlock(finding: CombinedQuantityFinding, decisions: readonly OrderDecision[]): string {
  const lines = finding.orders.map((o) => {
    const decision = decisions.find((d) => d.orderIndex === o.index);
    const text = decision ? medicationText(decision.order) : undefined;
    const name = text ? ` (${escapeData(text, 60)})` : '';
    return `- Draft order ${o.index + 1}${name}: ${escapeData(o.written, 40)} = ${escapeMarkdown(o.vials)} vials, ${escapeMarkdown(o.mcg)} mcg`;
  });
  return [
    `**Together over the cycle limit:** these blinatumomab orders are for the same cycle and ask for ` +
      `${escapeMarkdown(finding.totalVials)} vials (${escapeMarkdown(finding.totalMcg)} mcg) together, over the ` +
      `${finding.limits.vials} vials (${finding.limits.units} billable units) allowed per cycle. Reduce the quantities ` +
      'so that together they stay within it.',
    ...lines,
  ].join('\n');
}

/**
 * The correction card, when `decision.dose.correction` is set. The suggestion's single `update` carries the
 * corrected order whole as the system action carries the order (R4 arrays, `insurance`), without any
 * coverage-information extension; an order without an id gets no suggestion.
 * @param combined - the call's combined-quantity finding, when this is the card that carries it.
 * @param dispatched - on order-dispatch the order is already signed: the card asks for the correction before it is
 *   dispatched.
 */
export function buildCorrectionCard(
  service: LoadedService,
  decision: OrderDecision,
  uuid: () => string,
  opts: { orderCount?: number; combined?: string; dispatched?: boolean } = {}
): Card | undefined {
  const correction = decision.dose.correction;
  if (!correction) {
    return undefined;
  }
  const parts = correctedParts(decision.order, correction.resource);
  const orderId = decision.order.id;
  const applicable = Boolean(decision.orderRef && orderId);
  const what = parts.length > 0 ? `the ${joinWords(parts)}` : 'the order';
  const when = opts.dispatched ? 'before it is dispatched' : 'before signing';
  const opening = `Correct ${what} of ${orderInWords(decision, opts.orderCount ?? 1)} ${when}${
    applicable ? ': the suggestion applies the correction, the rest of the order unchanged.' : '.'
  }`;
  const closing = applicable
    ? undefined
    : 'This order has no id yet, so the correction cannot be applied for you: change the order by hand.';
  const detail = fitBlocks(
    (arithmetic) => [
      opening,
      bullets('**What to correct:**', dataLines(decision.dose.findings)),
      bullets('**How it was worked out:**', arithmetic),
      bullets('**Also check:**', dataLines(decision.dose.prompts.map((p) => p.text))),
      opts.combined,
      closing,
    ],
    dataLines(decision.dose.arithmetic)
  );
  const card: Card = {
    uuid: uuid(),
    summary: prefixed(decision, correction.summary || 'Correct the dose or quantity'),
    detail,
    indicator: 'warning',
    source: cardSource(service, 'limits'),
  };
  if (applicable && orderId) {
    const resource = pruneEmpty(orderForEhr(correction.resource, decision.coverage));
    // An update names the resource it replaces: the draft order's own id (checklist CI-6).
    resource.id = orderId;
    card.selectionBehavior = 'at-most-one';
    card.suggestions = [
      {
        label: suggestionLabel(parts),
        uuid: uuid(),
        isRecommended: true,
        actions: [
          {
            type: 'update',
            description: `Replace this ${DRUG_NAME_LONG} order (draft order ${decision.orderIndex + 1}) with its corrected version`,
            resource,
          },
        ],
      },
    ];
  }
  card.overrideReasons = overrideReasonsFor(parts);
  return card;
}

const PROMPT_ACTIONS: Record<DosePrompt['kind'], string> = {
  'missing-weight': 'record the weight',
  'stale-weight': 'record a current weight',
  'missing-height': 'record the height',
  'implausible-bsa': 'verify the charted body surface area',
  'unreadable-dose': 'write the dose in mcg/day',
};

/**
 * The dose-check card: when the dose check failed (`dose.unchecked`: the dose could not be checked), or when there
 * is no correction and `dose.prompts` is non-empty.
 */
export function buildDoseCheckCard(
  service: LoadedService,
  decision: OrderDecision,
  uuid: string,
  opts: { orderCount?: number } = {}
): Card | undefined {
  const prompts = decision.dose.prompts;
  if (decision.dose.unchecked) {
    const head = `${summaryPrefix(decision)}: dose not checked`;
    const candidates = [`${head}: check the dose by hand`, head];
    return {
      uuid,
      summary: candidates.find((c) => lengthOf(c) <= MAX_SUMMARY_LENGTH) ?? head,
      detail:
        `The dose of ${orderInWords(decision, opts.orderCount ?? 1)} could not be checked automatically. ` +
        'Check the daily dose, the step-up, the quantity and the supply duration by hand before signing.',
      indicator: 'warning',
      source: cardSource(service, 'limits'),
    };
  }
  if (decision.dose.correction || prompts.length === 0) {
    return undefined;
  }
  const actions = [...new Set(prompts.map((p) => PROMPT_ACTIONS[p.kind] ?? 'review the dose'))];
  const detail = fitBlocks(
    (arithmetic) => [
      `Before the dose of ${orderInWords(decision, opts.orderCount ?? 1)} can be confirmed, ${joinWords(actions)}.`,
      bullets('**To check:**', dataLines(prompts.map((p) => p.text))),
      bullets('**How it was worked out:**', arithmetic),
    ],
    dataLines(decision.dose.arithmetic)
  );
  const head = `${summaryPrefix(decision)}: dose check`;
  const candidates = [`${head}: ${actions.join('; ')}`, `${head}: ${actions[0] ?? 'review the dose'}`, head];
  return {
    uuid,
    summary: candidates.find((c) => lengthOf(c) <= MAX_SUMMARY_LENGTH) ?? head,
    detail,
    indicator: 'warning',
    source: cardSource(service, 'limits'),
  };
}

/** The dose-check card of the combined-quantity check, when no correction card of the call can carry it. */
export function buildCombinedQuantityCard(
  service: LoadedService,
  decisions: readonly OrderDecision[],
  finding: CombinedQuantityFinding,
  uuid: string
): Card {
  const first = decisions[0];
  const head = first ? summaryPrefix(first) : 'Blinatumomab';
  const n = finding.orders.length;
  const candidates = [
    `${head}: ${n} orders together exceed the ${finding.limits.vials}-vial cycle limit`,
    `${head}: orders together exceed the cycle limit`,
  ];
  return {
    uuid,
    summary: candidates.find((c) => lengthOf(c) <= MAX_SUMMARY_LENGTH) ?? head,
    detail: cutAtLine(
      [
        combinedQuantityBlock(finding, decisions),
        `How it was worked out: ${escapeData(finding.arithmetic, 400)}.`,
      ].join('\n\n'),
      MAX_DETAIL_LENGTH,
      '(Shortened: more orders than a card can show.)'
    ),
    indicator: 'warning',
    source: cardSource(service, 'limits'),
  };
}
