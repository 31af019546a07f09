// Vocabulary and small helpers shared by the card builders (contract sections 5 and 6).
import type { Coding, MedicationRequest } from 'fhir/r4';
import type { CardSource } from '../hooks/types';
import type { LoadedService, OrderDecision } from '../policy/types';
import { escapeMarkdown } from './markdown';

/** CRD STU2 2.0.1 temporary code system (card types, coverage detail codes, task inputs). */
export const CRD_TEMP_SYSTEM = 'http://hl7.org/fhir/us/davinci-crd/CodeSystem/temp';
/** SDC temporary code system (Task code `complete-questionnaire`, input type `questionnaire`). */
export const SDC_TEMP_SYSTEM = 'http://hl7.org/fhir/uv/sdc/CodeSystem/temp';
export const UCUM_SYSTEM = 'http://unitsofmeasure.org';

export type CardTopic = 'coverage-info' | 'limits';

/** The kinds of card we send, in the order the response lists them (contract section 6). */
export type CardKind = 'coverage' | 'correction' | 'dose-check' | 'documentation';
export const CARD_KIND_ORDER: readonly CardKind[] = ['coverage', 'correction', 'dose-check', 'documentation'];

const TOPIC_DISPLAY: Record<CardTopic, string> = {
  'coverage-info': 'Coverage Information',
  limits: 'Limits',
};

/** The drug in human terms; both services govern blinatumomab only (contract section 1). */
export const DRUG_NAME = 'Blinatumomab';
export const DRUG_NAME_LONG = 'blinatumomab (Blincyto)';

/** `source` of every card: the payer label and the CRD card type. */
export function cardSource(service: LoadedService, topic: CardTopic): CardSource {
  return { label: service.label, topic: topicCoding(topic) };
}

export function topicCoding(topic: CardTopic): Coding {
  return { system: CRD_TEMP_SYSTEM, code: topic, display: TOPIC_DISPLAY[topic] };
}

/** The medication's own name as the order states it (free text from the request, unescaped), if any. */
export function medicationText(order: MedicationRequest): string | undefined {
  const concept = order.medicationCodeableConcept;
  const candidates: unknown[] = [concept?.text];
  const coding: unknown = concept?.coding;
  if (Array.isArray(coding)) {
    for (const c of coding) {
      candidates.push((c as Coding | undefined)?.display);
    }
  }
  candidates.push(order.medicationReference?.display);
  const found = candidates.find((c): c is string => typeof c === 'string' && c.trim() !== '');
  return found?.trim();
}

/** `Blinatumomab cycle <n>`: how every summary starts (contract section 6). */
export function summaryPrefix(decision: Pick<OrderDecision, 'cycle'>): string {
  return Number.isInteger(decision.cycle) && decision.cycle > 0 ? `${DRUG_NAME} cycle ${decision.cycle}` : DRUG_NAME;
}

/** The payer in words: its label when the label names it, else "the health plan" (contract section 6). */
export function payerName(service: Pick<LoadedService, 'label' | 'labelNamesPayer'>): string {
  return service.labelNamesPayer ? service.label.trim() : 'the health plan';
}

/** The payer at the start of a sentence. */
export function payerSubject(service: Pick<LoadedService, 'label' | 'labelNamesPayer'>): string {
  return service.labelNamesPayer ? service.label.trim() : 'The health plan';
}

/** The payer before a noun, with its article: `the MMM Healthcare (questionnaire)`, `the health plan's (...)`. */
export function payerAttributive(service: Pick<LoadedService, 'label' | 'labelNamesPayer'>): string {
  return service.labelNamesPayer ? `the ${service.label.trim()}` : "the health plan's";
}

/** The policy's name: the payer label plus "policy", unless the label already says it (service 001's does). */
export function policyName(service: Pick<LoadedService, 'label'>): string {
  return /\bpolicy$/i.test(service.label.trim()) ? service.label.trim() : `${service.label.trim()} policy`;
}

/** The payer's policy in human terms, e.g. `MMM Healthcare policy MP-RX-FP-14-23, version 2024-05-09`. */
export function describePolicyMarkdown(service: LoadedService): string {
  const id = service.policyId ? ` ${escapeMarkdown(service.policyId)}` : '';
  return `${escapeMarkdown(policyName(service))}${id}, version ${escapeMarkdown(service.version)}`;
}

/**
 * The order in words for a sentence (CRD: a card about some of the draft orders names it in `detail`), never by its
 * id: `blinatumomab cycle 1 (planned start 2026-11-30)`, with its position when the call has several governed orders.
 * @param decision - the order's decision.
 * @param orderCount - how many governed orders the call has.
 */
export function orderInWords(decision: OrderDecision, orderCount = 1): string {
  const facts: string[] = [];
  if (decision.dates.plannedStart) {
    facts.push(`planned start ${escapeMarkdown(decision.dates.plannedStart)}`);
  }
  if (orderCount > 1) {
    facts.push(`draft order ${decision.orderIndex + 1}`);
  }
  const name = summaryPrefix(decision).replace(DRUG_NAME, DRUG_NAME.toLowerCase());
  return facts.length > 0 ? `${name} (${facts.join(', ')})` : name;
}

/**
 * A copy of a JSON value without empty values (CDS Hooks and FHIR JSON: `null`, `""`, `[]` and `{}` are never
 * sent; in FHIR an empty element means an absent one). Inside `_`-prefixed arrays (FHIR's primitive extension
 * arrays, aligned by position) `null` is kept.
 */
export function pruneEmpty<T>(value: T): T {
  return prune(value) as T;
}

function isEmpty(v: unknown): boolean {
  return (
    v === undefined ||
    v === null ||
    v === '' ||
    (Array.isArray(v) && v.length === 0) ||
    (typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length === 0)
  );
}

interface PruneFrame {
  source: object;
  entries: Array<[string, unknown]>;
  next: number;
  out: Record<string, unknown> | unknown[];
  /** Inside a `_`-prefixed array: `null` items are kept. */
  keepNullItems: boolean;
  parent?: PruneFrame;
  key?: string;
}

function place(frame: PruneFrame, key: string, value: unknown): void {
  if (Array.isArray(frame.out)) {
    frame.out.push(value);
  } else {
    frame.out[key] = value;
  }
}

function frameFor(value: object, keepNullItems: boolean, parent?: PruneFrame, key?: string): PruneFrame {
  const array = Array.isArray(value);
  return {
    source: value,
    entries: array ? value.map((v, i): [string, unknown] => [String(i), v]) : Object.entries(value),
    next: 0,
    out: array ? [] : {},
    keepNullItems,
    ...(parent ? { parent, key } : {}),
  };
}

// Iterative (a request may nest thousands of levels deep): a stack of frames, each placed in its parent when done.
function prune(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) {
    return value;
  }
  // The objects being copied (ancestors of the current one): an object that contains itself is cut where it recurs.
  const active = new Set<object>([value]);
  const root = frameFor(value, false);
  const stack: PruneFrame[] = [root];
  while (stack.length > 0) {
    const frame = stack[stack.length - 1] as PruneFrame;
    const entry = frame.entries[frame.next];
    if (!entry) {
      stack.pop();
      active.delete(frame.source);
      if (frame.parent && !isEmpty(frame.out)) {
        place(frame.parent, frame.key ?? '', frame.out);
      }
      continue;
    }
    frame.next += 1;
    const [key, v] = entry;
    const inArray = Array.isArray(frame.out);
    if (inArray && v === null && frame.keepNullItems) {
      place(frame, key, null);
    } else if (typeof v === 'object' && v !== null) {
      if (!active.has(v)) {
        active.add(v);
        stack.push(frameFor(v, !inArray && key.startsWith('_'), frame, key));
      }
    } else if (!isEmpty(v)) {
      place(frame, key, v);
    }
  }
  return root.out;
}
