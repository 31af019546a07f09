// What `npm run demo` prints for one call: each card as an EHR shows it (indicator, summary, source, the detail
// rendered from its markdown, suggestion labels, links, override reasons), then each system action's
// coverage-information codes. It works on the JSON as received over HTTP and never trusts its shape (the view below
// also reads the coverage assessment, to compare with the fixtures' manifest). Development only.
import { markdownToText, renderedCard } from './demo-render';

type Json = Record<string, unknown>;

const COVERAGE_INFORMATION_URL = 'http://hl7.org/fhir/us/davinci-crd/StructureDefinition/ext-coverage-information';

export type CardKind = 'coverage' | 'documentation' | 'correction' | 'dose-check' | 'other';

export interface CriterionView {
  id: string;
  clause: string;
  status: string;
}

export interface MissingView {
  criterion: string;
  kind: string;
  request: string;
}

export interface CardView {
  kind: CardKind;
  indicator: string;
  summary: string;
  /** From `extension["coverage-assessment"]` (coverage cards). */
  likelihood?: string;
  pathway?: string;
  order?: string;
  authorization?: string;
  criteria: CriterionView[];
  missing: MissingView[];
  /** Suggestion labels. */
  suggestions: string[];
}

export interface SystemActionView {
  type: string;
  /** `MedicationRequest/<id>` of the updated resource. */
  resource: string;
  covered?: string;
  paNeeded?: string;
  docNeeded?: string;
  questionnaire?: string;
  reason?: string;
  /** `detail` codes, e.g. `allowed-quantity 28 {vial} (per cycle)`. */
  details: string[];
}

export interface ResponseView {
  cards: CardView[];
  systemActions: SystemActionView[];
  /** Our error codes and diagnostics of an OperationOutcome body. */
  issues: string[];
}

/** One replayed call, as the demo records it. */
export interface CallResult {
  file: string;
  story: string;
  variant: string;
  serviceId: string;
  status: number;
  ms: number;
  body: unknown;
  /** The manifest's expectation for this service, when it has one. */
  expected?: { likelihood: string; pathway?: string };
  /** Governed orders the manifest expects (0: `{"cards": []}`). */
  governedOrders?: number;
  /** A 412 the contract expects for this request. */
  preconditionExpected: boolean;
  /** A transport failure (no HTTP answer). */
  error?: string;
}

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function list(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function kindOf(card: Json, assessment: Json | undefined): CardKind {
  if (assessment) {
    return 'coverage';
  }
  const topic = isObject(card.source) && isObject(card.source.topic) ? card.source.topic.code : undefined;
  if (topic === 'coverage-info') {
    return 'documentation';
  }
  if (topic === 'limits') {
    // A correction card offers the corrected order and carries override reasons; a dose-check card has neither.
    return list(card.suggestions).length > 0 || list(card.overrideReasons).length > 0 ? 'correction' : 'dose-check';
  }
  return 'other';
}

function viewCard(card: Json): CardView {
  const ext = isObject(card.extension) ? card.extension['coverage-assessment'] : undefined;
  const assessment = isObject(ext) ? ext : undefined;
  const view: CardView = {
    kind: kindOf(card, assessment),
    indicator: text(card.indicator) ?? '?',
    summary: text(card.summary) ?? '',
    criteria: [],
    missing: [],
    suggestions: list(card.suggestions)
      .map((s) => (isObject(s) ? text(s.label) : undefined))
      .filter((s): s is string => s !== undefined),
  };
  if (assessment) {
    view.likelihood = text(assessment.likelihood);
    view.pathway = text(assessment.pathway);
    view.order = text(assessment.order);
    const auth = assessment.authorization;
    if (isObject(auth)) {
      const cycle = typeof auth.cycle === 'number' ? `cycle ${auth.cycle}` : undefined;
      view.authorization = [text(auth.type), cycle, text(auth.length)].filter((p) => p !== undefined).join(', ');
    }
    view.criteria = list(assessment.criteria)
      .filter(isObject)
      .map((c) => ({ id: text(c.id) ?? '?', clause: text(c.clause) ?? '', status: text(c.status) ?? '?' }));
    view.missing = list(assessment.missingDocumentation)
      .filter(isObject)
      .map((m) => ({ criterion: text(m.criterion) ?? '?', kind: text(m.kind) ?? '?', request: text(m.request) ?? '' }));
  }
  return view;
}

function subExtension(ext: Json, url: string): Json | undefined {
  return list(ext.extension).find((s): s is Json => isObject(s) && s.url === url);
}

function describeDetail(detail: Json): string {
  const code = subExtension(detail, 'code')?.valueCodeableConcept;
  const coding = isObject(code) ? list(code.coding).find(isObject) : undefined;
  const name = (coding && text(coding.code)) ?? '?';
  const value = subExtension(detail, 'value');
  let shown = '';
  if (value && isObject(value.valueQuantity)) {
    shown = ` ${String(value.valueQuantity.value)} ${text(value.valueQuantity.code) ?? text(value.valueQuantity.unit) ?? ''}`;
  } else if (value && isObject(value.valuePeriod)) {
    shown = ` ${text(value.valuePeriod.start) ?? '?'}..${text(value.valuePeriod.end) ?? '?'}`;
  }
  const qualification = text(subExtension(detail, 'qualification')?.valueString);
  return `${name}${shown.trimEnd()}${qualification ? ` (${qualification})` : ''}`;
}

function viewSystemAction(action: Json): SystemActionView {
  const resource = isObject(action.resource) ? action.resource : {};
  const view: SystemActionView = {
    type: text(action.type) ?? '?',
    resource: `${text(resource.resourceType) ?? '?'}/${text(resource.id) ?? '?'}`,
    details: [],
  };
  // The newest assertion is the one we add (an earlier one for the same Coverage is replaced, others kept last).
  const infos = list(resource.extension).filter((e): e is Json => isObject(e) && e.url === COVERAGE_INFORMATION_URL);
  const info = infos[infos.length - 1];
  if (info) {
    view.covered = text(subExtension(info, 'covered')?.valueCode);
    view.paNeeded = text(subExtension(info, 'pa-needed')?.valueCode);
    view.docNeeded = text(subExtension(info, 'doc-needed')?.valueCode);
    view.questionnaire = text(subExtension(info, 'questionnaire')?.valueCanonical);
    const reason = subExtension(info, 'reason')?.valueCodeableConcept;
    view.reason = isObject(reason) ? text(reason.text) : undefined;
    view.details = list(info.extension)
      .filter((s): s is Json => isObject(s) && s.url === 'detail')
      .map(describeDetail);
  }
  return view;
}

/**
 * Reads a response body (a CDS Hooks response or an OperationOutcome) into a view.
 * @param body - the parsed JSON body
 */
export function viewResponse(body: unknown): ResponseView {
  const view: ResponseView = { cards: [], systemActions: [], issues: [] };
  if (!isObject(body)) {
    return view;
  }
  if (body.resourceType === 'OperationOutcome') {
    view.issues = list(body.issue)
      .filter(isObject)
      .map((issue) => {
        const details = isObject(issue.details) ? list(issue.details.coding).find(isObject) : undefined;
        const code = (details && text(details.code)) ?? text(issue.code) ?? '?';
        const where = list(issue.expression).filter((e): e is string => typeof e === 'string');
        const diagnostics = text(issue.diagnostics);
        return `${code}${where.length ? ` at ${where.join(', ')}` : ''}${diagnostics ? `: ${diagnostics}` : ''}`;
      });
    return view;
  }
  view.cards = list(body.cards).filter(isObject).map(viewCard);
  view.systemActions = list(body.systemActions).filter(isObject).map(viewSystemAction);
  return view;
}

/** The likelihood of the first coverage card, if any. */
export function likelihoodOf(body: unknown): string | undefined {
  return viewResponse(body).cards.find((c) => c.kind === 'coverage')?.likelihood;
}

/** Whether the call answered as the contract allows: 200, or a 412 the request makes inevitable. */
export function answered(result: CallResult): boolean {
  return (
    result.error === undefined && (result.status === 200 || (result.status === 412 && result.preconditionExpected))
  );
}

/**
 * Differences between what the manifest expects and what came back (likelihood, pathway label, governed count).
 * The pathway is compared loosely: the manifest names it by clause (`000 A.i+ii+iii.A`), the card by id, so only
 * its presence is checked here.
 * @param result - the call
 */
export function expectationMismatches(result: CallResult): string[] {
  if (result.status !== 200) {
    return [];
  }
  const view = viewResponse(result.body);
  const coverage = view.cards.filter((c) => c.kind === 'coverage');
  const out: string[] = [];
  if (result.governedOrders === 0 && view.cards.length > 0) {
    out.push('expected {"cards": []} (no governed order)');
  }
  if (result.expected && result.governedOrders !== 0) {
    const got = coverage[0]?.likelihood ?? 'no coverage card';
    if (got !== result.expected.likelihood) {
      out.push(`expected ${result.expected.likelihood}, got ${got}`);
    }
  }
  return out;
}

/** ANSI styling, or none. */
export interface Style {
  bold: (s: string) => string;
  dim: (s: string) => string;
  red: (s: string) => string;
  green: (s: string) => string;
  yellow: (s: string) => string;
  cyan: (s: string) => string;
}

const plain = (s: string): string => s;

/**
 * ANSI colours when `color` is true, plain text otherwise.
 * @param color - whether to colour
 */
export function makeStyle(color: boolean): Style {
  if (!color) {
    return { bold: plain, dim: plain, red: plain, green: plain, yellow: plain, cyan: plain };
  }
  const wrap =
    (open: number, close: number) =>
    (s: string): string =>
      `\u001b[${open}m${s}\u001b[${close}m`;
  return {
    bold: wrap(1, 22),
    dim: wrap(2, 22),
    red: wrap(31, 39),
    green: wrap(32, 39),
    yellow: wrap(33, 39),
    cyan: wrap(36, 39),
  };
}

function indicatorText(indicator: string, style: Style): string {
  switch (indicator) {
    case 'info':
      return style.green('info');
    case 'warning':
      return style.yellow('warning');
    case 'critical':
      return style.red('critical');
    default:
      return indicator;
  }
}

/**
 * The lines printed for one call (without trailing newline).
 * @param result - the call
 * @param style - colours or none
 */
export function formatCall(result: CallResult, style: Style): string[] {
  const lines: string[] = [];
  const status =
    result.error !== undefined
      ? style.red(`no answer (${result.error})`)
      : answered(result)
        ? style.green(String(result.status))
        : style.red(String(result.status));
  const expected412 =
    result.status === 412 && result.preconditionExpected ? style.dim(' (412 expected: no fhirServer)') : '';
  lines.push(`  ${style.bold(result.serviceId)}  ${status}${expected412}  ${style.dim(`${Math.round(result.ms)} ms`)}`);
  if (result.error !== undefined) {
    return lines;
  }
  const view = viewResponse(result.body);
  for (const issue of view.issues) {
    lines.push(`    ${style.red('issue')} ${issue}`);
  }
  if (result.status === 200 && view.cards.length === 0) {
    lines.push(`    ${style.dim('{"cards": []}: no governed order')}`);
  }
  const cards = isObject(result.body) ? list(result.body.cards) : [];
  cards.forEach((raw, i) => {
    const card = renderedCard(raw);
    const kind = view.cards[i]?.kind ?? 'other';
    lines.push(`    ${style.bold(`[${indicatorText(card.indicator, style)}]`)} ${style.bold(card.summary)}`);
    lines.push(`      ${style.dim(`${card.source} · ${kind} card`)}`);
    for (const line of markdownToText(card.detail, style.bold).split('\n')) {
      lines.push(line === '' ? '' : `      ${line}`);
    }
    for (const label of card.suggestions) {
      lines.push(`      ${style.cyan('[suggestion]')} ${label}`);
    }
    for (const link of card.links) {
      lines.push(`      ${style.cyan(`[${link.label}]`)} ${style.dim(link.url)}`);
    }
    if (card.overrideReasons.length > 0) {
      lines.push(`      ${style.dim(`override reasons: ${card.overrideReasons.join('; ')}`)}`);
    }
  });
  for (const action of view.systemActions) {
    const codes = [action.covered, action.paNeeded, action.docNeeded].map((c) => c ?? '-').join(' / ');
    lines.push(`    ${style.dim('system action')} ${action.type} ${action.resource}: ${style.bold(codes)}`);
    if (action.questionnaire) {
      lines.push(`      questionnaire ${action.questionnaire}`);
    }
    if (action.details.length > 0) {
      lines.push(`      detail ${action.details.join('; ')}`);
    }
    if (action.reason) {
      lines.push(`      reason ${action.reason}`);
    }
  }
  for (const mismatch of expectationMismatches(result)) {
    lines.push(`    ${style.red('differs from manifest.json:')} ${mismatch}`);
  }
  return lines;
}
