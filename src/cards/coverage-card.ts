// The coverage card (contract section 6): one per governed order, for a clinician who reads it in the seconds
// before signing. The summary says what will happen and the one reason that decides it, assembled only from fixed
// phrases and the criteria's declared short names; the detail (at most 1,500 characters, lists only) gives the
// sentence, the best pathway's criteria with their evidence in words, what to submit, the other routes checked and
// the policy clause; one link opens the policy page at that clause. `extension["coverage-assessment"]` carries
// every criterion of every pathway for machines.
import type { Card } from '../hooks/types';
import type {
  CriterionResult,
  CriterionStatus,
  EvidenceItem,
  Likelihood,
  LoadedService,
  MissingDocumentation,
  OrderDecision,
} from '../policy/types';
import {
  MAX_DETAIL_LENGTH,
  MAX_SUMMARY_LENGTH,
  capitalise,
  cutAtLine,
  escapeData,
  escapeMarkdown,
  lengthOf,
} from './markdown';
import { POLICY_LINK_LABEL, clauseAnchor, decidingClause, policyPageUrl } from './policy-page';
import { cardSource, describePolicyMarkdown, orderInWords, payerName, payerSubject, summaryPrefix } from './shared';

/** `extension["coverage-assessment"]`, exactly the JSON of contract section 6. */
export interface CoverageAssessment {
  order?: string;
  policy: string;
  policyVersion: string;
  likelihood: Likelihood;
  pathway?: string;
  criteria?: Array<{ id: string; clause: string; status: CriterionStatus; evidence?: string[] }>;
  missingDocumentation?: MissingDocumentation[];
  authorization: { type: 'initial' | 'continuation'; cycle: number; length: string };
}

/** A `Type/id` reference with a valid FHIR resource type and id (issue 8 finding 9: anything else is left out). */
const VALID_REFERENCE = /^[A-Z][A-Za-z]{1,63}\/[A-Za-z0-9\-.]{1,64}$/;

export function buildCoverageAssessment(service: LoadedService, decision: OrderDecision): CoverageAssessment {
  // Keys in the order the contract writes them; optional ones only when they have a value.
  const assessment: CoverageAssessment = {
    ...(decision.orderRef ? { order: decision.orderRef } : {}),
    policy: service.id,
    policyVersion: service.version,
    likelihood: decision.likelihood,
    ...(decision.pathway?.id ? { pathway: decision.pathway.id } : {}),
    authorization: {
      type: decision.authorization.type,
      cycle: decision.authorization.cycle,
      length: decision.authorization.length,
    },
  };
  if (decision.criteria.length > 0) {
    assessment.criteria = decision.criteria.map((c) => {
      const evidence = [...new Set(c.evidence.filter((e) => typeof e === 'string' && VALID_REFERENCE.test(e)))];
      return evidence.length > 0
        ? { id: c.id, clause: c.clause, status: c.status, evidence }
        : { id: c.id, clause: c.clause, status: c.status };
    });
  }
  if (decision.missingDocumentation.length > 0) {
    assessment.missingDocumentation = decision.missingDocumentation.map((m) => ({
      criterion: m.criterion,
      kind: m.kind,
      request: m.request,
    }));
  }
  const { authorization, ...head } = assessment;
  return { ...head, authorization };
}

// ---- summary ------------------------------------------------------------------------------------------------------

function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** The short names in a list that fits `room` characters: `a, b and c`, else `a, b and 2 more`. */
export function listThatFits(names: string[], room: number): string | undefined {
  for (let shown = names.length; shown >= 1; shown -= 1) {
    const head = names.slice(0, shown);
    const rest = names.length - shown;
    const text =
      rest > 0
        ? `${head.join(', ')} and ${rest} more`
        : head.length === 1
          ? (head[0] as string)
          : `${head.slice(0, -1).join(', ')} and ${head[head.length - 1] as string}`;
    if (lengthOf(text) <= room) {
      return text;
    }
  }
  return undefined;
}

/** The latest evidence date of a criterion, if any. */
function latestDate(items: readonly EvidenceItem[]): string | undefined {
  return items
    .map((i) => i.date)
    .filter((d): d is string => typeof d === 'string' && /^\d{4}(-\d{2}(-\d{2})?)?$/.test(d))
    .sort()
    .pop();
}

/**
 * A criterion that is not met, as a phrase: a criterion about an absence (`no disease progression`) names what
 * was recorded and when (`disease progression recorded 2026-11-28`); any other says it is not met.
 */
export function notMetPhrase(c: Pick<CriterionResult, 'short' | 'evidenceItems'>): string {
  const m = /^no (.+)$/i.exec(c.short.trim());
  if (m) {
    const date = latestDate(c.evidenceItems);
    return `${m[1] as string} recorded${date ? ` ${date}` : ''}`;
  }
  return `${c.short.trim()} not met`;
}

/** The criteria of the best pathway (universal and continuation ones included), in declaration order. */
export function pathwayCriteria(decision: OrderDecision): CriterionResult[] {
  const ids = new Set(decision.pathway?.criteria ?? []);
  return decision.criteria.filter((c) => ids.has(c.id));
}

function shortOf(service: LoadedService, decision: OrderDecision, id: string): string {
  return (
    decision.criteria.find((c) => c.id === id)?.short ??
    service.outline.criteria.find((c) => c.id === id)?.short ??
    service.outline.items.find((i) => i.id === id)?.short ??
    id
  );
}

/** The first phrase that fits after `head`, or `head` alone. */
function firstFitting(head: string, tails: Array<string | undefined>): string {
  for (const tail of tails) {
    if (tail !== undefined && lengthOf(`${head}${tail}`) <= MAX_SUMMARY_LENGTH) {
      return `${head}${tail}`;
    }
  }
  return head;
}

function needsDocumentationSummary(service: LoadedService, decision: OrderDecision, head: string): string {
  const unknown = decision.missingDocumentation.filter((m) => m.kind === 'unknown-criterion');
  if (unknown.length === 0) {
    return `${head}: prior authorization needs documentation`;
  }
  const lead = `${head}: prior authorization needs ${plural(unknown.length, 'document', 'documents')}`;
  const names = unknown.map((m) => shortOf(service, decision, m.criterion));
  const room = MAX_SUMMARY_LENGTH - lengthOf(`${lead}: `);
  const list = listThatFits(names, room);
  return list ? `${lead}: ${list}` : lead;
}

function unlikelySummary(decision: OrderDecision, head: string): string {
  const lead = `${head}: approval unlikely`;
  const notMet = pathwayCriteria(decision).filter((c) => c.status === 'not-met');
  const first = notMet[0];
  if (!first) {
    return firstFitting(lead, [': no approval route is met']);
  }
  const phrase = notMetPhrase(first);
  const more = notMet.length - 1;
  return firstFitting(lead, [
    more > 0 ? `: ${phrase}, and ${more} more not met` : `: ${phrase}`,
    `: ${phrase}`,
    more > 0 ? `: ${more + 1} criteria not met` : undefined,
  ]);
}

function notCoveredSummary(service: LoadedService, decision: OrderDecision, head: string): string {
  const lead = `${head}: not covered`;
  const by = decision.notCoveredBy?.[0];
  if (by === 'cycle-limit') {
    const max = decision.pathway?.maxCycles;
    const indication = decision.pathway ? shortOf(service, decision, decision.pathway.indication) : undefined;
    return firstFitting(lead, [
      max !== undefined && indication ? `: over the ${max}-cycle maximum for ${indication}` : undefined,
      max !== undefined ? `: over the ${max}-cycle maximum` : undefined,
      ': over the cycle maximum',
    ]);
  }
  if (by !== undefined && service.outline.exclusions.some((x) => x.id === by)) {
    return firstFitting(lead, [': the diagnosis on file is excluded by the policy', ': diagnosis excluded']);
  }
  const criterion = by !== undefined ? decision.criteria.find((c) => c.id === by) : undefined;
  if (criterion) {
    return firstFitting(lead, [`: ${notMetPhrase(criterion)}`]);
  }
  return lead;
}

/**
 * The summary (at most 139 characters): `Blinatumomab cycle <n>: <outcome>[: <decisive reason>]`, from whole phrases.
 * @param service - the service (its outline names the criteria).
 * @param decision - the order's decision.
 */
export function coverageSummary(service: LoadedService, decision: OrderDecision): string {
  const head = summaryPrefix(decision);
  if (!decision.coverage) {
    return firstFitting(`${head}: no active coverage found`, [": check the patient's insurance"]);
  }
  switch (decision.likelihood) {
    case 'likely':
      return `${head}: likely approved with prior authorization`;
    case 'needs-documentation':
      return needsDocumentationSummary(service, decision, head);
    case 'unlikely':
      return unlikelySummary(decision, head);
    case 'not-covered':
      return notCoveredSummary(service, decision, head);
  }
}

// ---- detail -------------------------------------------------------------------------------------------------------

/** A criterion's status, first on its line so the list scans by it; what is not met or unknown stands out. */
const STATUS_WORDS: Record<CriterionStatus, string> = {
  met: 'Met:',
  'not-met': '**Not met:**',
  unknown: '**Unknown:**',
};

/** What a criterion rests on when no resource is shown (never "none"). */
const NOTHING_SHOWN: Record<CriterionStatus, string> = {
  met: 'nothing recorded against it',
  'not-met': 'not found in the orders or the record',
  unknown: 'not in the record',
};

/** Longest resource text shown per evidence item, and items shown per criterion. */
const EVIDENCE_TEXT = 120;
const EVIDENCE_ITEMS = 2;

/** A criterion's evidence in words: `CD19 on leukemic blasts: positive, 2026-11-02`. */
export function evidenceWords(c: Pick<CriterionResult, 'status' | 'evidenceItems'>): string {
  const items = c.evidenceItems ?? [];
  if (items.length === 0) {
    return NOTHING_SHOWN[c.status];
  }
  const shown = items
    .slice(0, EVIDENCE_ITEMS)
    .map((i) => `${escapeData(i.text, EVIDENCE_TEXT)}${i.date ? `, ${escapeData(i.date)}` : ''}`);
  const more = items.length - shown.length;
  return more > 0 ? `${shown.join('; ')}; and ${more} more` : shown.join('; ');
}

function criterionLine(c: CriterionResult, withEvidence: boolean): string {
  const name = escapeMarkdown(c.short);
  return withEvidence
    ? `- ${STATUS_WORDS[c.status]} ${name} (${evidenceWords(c)})`
    : `- ${STATUS_WORDS[c.status]} ${name}`;
}

const KIND_WORDS: Record<MissingDocumentation['kind'], string> = {
  'unknown-criterion': 'not in the record',
  attestation: 'attestation',
  'submit-with-request': 'send with the request',
};

/** One bullet per missing item: what it is for and exactly what to submit (or only what it is, when short). */
export function missingDocumentationLines(
  service: LoadedService,
  decision: OrderDecision,
  items: MissingDocumentation[],
  short = false
): string[] {
  return items.map((m) => {
    const name = capitalise(escapeMarkdown(shortOf(service, decision, m.criterion)));
    return short
      ? `- ${name} (${KIND_WORDS[m.kind]})`
      : `- ${name} (${KIND_WORDS[m.kind]}): ${escapeMarkdown(m.request)}`;
  });
}

/** Prior cycles counted, in words: `Cycle 3 counts 2 earlier cycles on file, planned to start 2026-08-03 and ...`. */
function priorCyclesLine(decision: OrderDecision): string | undefined {
  const items = decision.priorCycleItems ?? [];
  if (decision.cycle <= 1 || items.length === 0) {
    return undefined;
  }
  const dates = items
    .map((i) => i.date)
    .filter((d): d is string => typeof d === 'string')
    .sort();
  const counted = `Cycle ${decision.cycle} counts ${plural(items.length, 'earlier cycle', 'earlier cycles')} on file`;
  if (dates.length === 0) {
    return `${counted}.`;
  }
  const first = escapeData(dates[0]);
  const last = escapeData(dates[dates.length - 1]);
  if (items.length === 1) {
    return `${counted}, planned to start ${first}.`;
  }
  if (items.length === 2 && dates.length === 2) {
    return `${counted}, planned to start ${first} and ${last}.`;
  }
  return `${counted}: the first planned to start ${first}, the last ${last}.`;
}

export interface CoverageCardContext {
  /** The public base URL (CDS_PUBLIC_BASE_URL): the policy link hangs off it. */
  baseUrl: string;
  /** Governed orders of the call: the detail names "draft order N" when there are several. */
  orderCount: number;
}

function openingSentence(service: LoadedService, decision: OrderDecision, ctx: CoverageCardContext): string {
  const payer = escapeMarkdown(payerName(service));
  const Payer = escapeMarkdown(payerSubject(service));
  const order = orderInWords(decision, ctx.orderCount);
  const toSubmit = decision.missingDocumentation.length > 0;
  let sentence: string;
  switch (decision.likelihood) {
    case 'likely':
      sentence = toSubmit
        ? `${Payer} is likely to approve ${order} with prior authorization: request it with the items below.`
        : `${Payer} is likely to approve ${order} with prior authorization: request it.`;
      break;
    case 'needs-documentation':
      sentence = `Prior authorization for ${order} can be approved once ${payer} has the documents below: send them with the request.`;
      break;
    case 'unlikely': {
      const n = pathwayCriteria(decision).filter((c) => c.status === 'not-met').length;
      const what =
        n === 0
          ? 'no approval route is met'
          : n === 1
            ? 'a criterion below is not met'
            : `${n} criteria below are not met`;
      sentence = `${Payer} is unlikely to approve ${order}: ${what}. Check the record before requesting prior authorization.`;
      break;
    }
    case 'not-covered':
      sentence = `${Payer} does not cover ${order} under this policy: a prior authorization request would be denied.`;
      break;
  }
  if (!decision.coverage) {
    return (
      `**No active coverage was found for this patient**: check the insurance on file (no coverage information was ` +
      `recorded on the order). With coverage: ${sentence}`
    );
  }
  return sentence;
}

/** The criteria that decide a not-covered order: the excluding criterion, or those every route needs that fail. */
function decidingCriteria(service: LoadedService, decision: OrderDecision): CriterionResult[] {
  const by = new Set(decision.notCoveredBy ?? []);
  const excluded = service.outline.exclusions.some((x) => by.has(x.id));
  const routes = service.outline.pathways;
  const everyRoute = new Set(
    [...service.outline.universal, ...(routes[0]?.criteria ?? [])].filter(
      (id) => service.outline.universal.includes(id) || routes.every((p) => p.criteria.includes(id))
    )
  );
  return decision.criteria.filter((c) => by.has(c.id) || (excluded && everyRoute.has(c.id) && c.status === 'not-met'));
}

interface DetailParts {
  opening: string;
  why: { title: string; met: CriterionResult[]; others: CriterionResult[]; extra: string[] };
  submit: MissingDocumentation[];
  routes?: string;
  policy: string;
}

function detailParts(service: LoadedService, decision: OrderDecision, ctx: CoverageCardContext): DetailParts {
  const outline = service.outline;
  const pathway = decision.pathway ? outline.pathways.find((p) => p.id === decision.pathway?.id) : undefined;
  const total = outline.pathways.length;
  const clause = decidingClause(outline, decision);
  const auth = decision.authorization;
  const authText =
    decision.likelihood === 'not-covered'
      ? ''
      : `; authorization ${escapeMarkdown(auth.length)} (${auth.type === 'continuation' ? 'continuation' : 'initial'})`;
  const clauseText = pathway
    ? `, pathway clauses ${escapeMarkdown(pathway.clause)}`
    : clause
      ? `, clause ${escapeMarkdown(clause)}`
      : '';
  const policy = `**Policy:** ${describePolicyMarkdown(service)}${clauseText}${authText}.`;

  const cyclesLine = priorCyclesLine(decision);
  if (decision.likelihood === 'not-covered') {
    const reasons = decision.notCoveredReasons.map((r) => r.trim()).filter((r) => r !== '');
    const deciding = decidingCriteria(service, decision);
    return {
      opening: openingSentence(service, decision, ctx),
      why: {
        title:
          reasons.length === 1
            ? `**Why:** ${escapeMarkdown(reasons[0])}`
            : ['**Why:**', ...reasons.map((r) => `- ${escapeMarkdown(r)}`)].join('\n'),
        met: [],
        others: deciding,
        extra: cyclesLine ? [cyclesLine] : [],
      },
      submit: [],
      routes: `All ${plural(total, 'approval route', 'approval routes')} of the policy were checked.`,
      policy,
    };
  }
  const criteria = pathwayCriteria(decision);
  const others = Math.max(0, total - 1);
  const setAside = outline.pathways.filter(
    (p) => p.id !== pathway?.id && p.maxCycles !== undefined && p.maxCycles < decision.cycle
  ).length;
  let routes: string | undefined;
  if (others > 0) {
    routes = `${plural(others, 'other approval route', 'other approval routes')} checked`;
    if (setAside > 0) {
      routes += ` (${setAside} past ${setAside === 1 ? 'its' : 'their'} cycle maximum)`;
    }
    routes += decision.likelihood === 'unlikely' ? ': each has a criterion not met.' : '.';
  }
  return {
    opening: openingSentence(service, decision, ctx),
    why: {
      title: pathway ? `**Why** (${escapeMarkdown(pathway.title)}):` : '**Why:** no approval route applies',
      met: criteria.filter((c) => c.status === 'met'),
      others: criteria.filter((c) => c.status !== 'met'),
      extra: cyclesLine ? [cyclesLine] : [],
    },
    submit: decision.missingDocumentation,
    ...(routes ? { routes } : {}),
    policy,
  };
}

interface Rendering {
  collapseMet: boolean;
  shortSubmit: boolean;
  evidence: boolean;
}

function renderDetail(service: LoadedService, decision: OrderDecision, parts: DetailParts, how: Rendering): string {
  const blocks: string[] = [parts.opening];
  // What decides comes first: the criteria not met or unknown, then those met.
  const why: string[] = [parts.why.title, ...parts.why.others.map((c) => criterionLine(c, how.evidence))];
  const met = parts.why.met;
  if (met.length > 0 && how.collapseMet) {
    why.push(
      `- ${plural(met.length, 'criterion', 'criteria')} met: ${met.map((c) => escapeMarkdown(c.short)).join(', ')}`
    );
  } else {
    why.push(...met.map((c) => criterionLine(c, how.evidence)));
  }
  blocks.push(why.join('\n'));
  blocks.push(...parts.why.extra);
  if (parts.submit.length > 0) {
    blocks.push(
      ['**To submit:**', ...missingDocumentationLines(service, decision, parts.submit, how.shortSubmit)].join('\n')
    );
  }
  if (parts.routes) {
    blocks.push(parts.routes);
  }
  blocks.push(parts.policy);
  return blocks.join('\n\n');
}

/**
 * The markdown detail (at most 1,500 characters), in the contract's order. Over the budget the met criteria
 * collapse first into one line, then the items to submit show only what they are, then the evidence goes.
 */
export function coverageDetail(service: LoadedService, decision: OrderDecision, ctx: CoverageCardContext): string {
  const parts = detailParts(service, decision, ctx);
  const renderings: Rendering[] = [
    { collapseMet: false, shortSubmit: false, evidence: true },
    { collapseMet: true, shortSubmit: false, evidence: true },
    { collapseMet: true, shortSubmit: true, evidence: true },
    { collapseMet: true, shortSubmit: true, evidence: false },
  ];
  let text = '';
  for (const how of renderings) {
    text = renderDetail(service, decision, parts, how);
    if (lengthOf(text) <= MAX_DETAIL_LENGTH) {
      return text;
    }
  }
  return cutAtLine(text, MAX_DETAIL_LENGTH, '(Shortened: the coverage assessment of this card lists every criterion.)');
}

/** The coverage card for one governed order. */
export function buildCoverageCard(
  service: LoadedService,
  decision: OrderDecision,
  uuid: string,
  ctx: CoverageCardContext
): Card {
  const card: Card = {
    uuid,
    summary: coverageSummary(service, decision),
    detail: coverageDetail(service, decision, ctx),
    indicator: decision.likelihood === 'likely' && decision.coverage ? 'info' : 'warning',
    source: cardSource(service, 'coverage-info'),
  };
  const clause = decidingClause(service.outline, decision);
  card.links = [
    {
      label: POLICY_LINK_LABEL,
      url: policyPageUrl(service, ctx.baseUrl, clause ? clauseAnchor(clause) : undefined),
      type: 'absolute',
    },
  ];
  card.extension = { 'coverage-assessment': buildCoverageAssessment(service, decision) };
  return card;
}
