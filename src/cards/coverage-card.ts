// The coverage card (contract section 6): one per governed order, with the machine-readable
// `extension["coverage-assessment"]` and a markdown detail that explains the decision criterion by criterion.
import type { Card } from '../hooks/types';
import type { CriterionStatus, Likelihood, LoadedService, MissingDocumentation, OrderDecision } from '../policy/types';
import { escapeMarkdown, markdownTable, toSummary } from './markdown';
import { cardSource, describeOrderMarkdown, describePolicyMarkdown, policyName, summaryPrefix } from './shared';

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
      const evidence = c.evidence.filter((e) => typeof e === 'string' && e !== '');
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

function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

const NO_COVERAGE_PHRASE: Record<Likelihood, string> = {
  likely: 'criteria met',
  'needs-documentation': 'documentation needed',
  unlikely: 'criteria not met',
  'not-covered': 'not covered',
};

/** A plain summary (at most 139 characters) saying what will happen. */
export function coverageSummary(service: LoadedService, decision: OrderDecision): string {
  const prefix = summaryPrefix(decision);
  const policy = policyName(service);
  if (!decision.coverage) {
    return toSummary(
      `${prefix}: no active coverage found for this patient; ${policy} check: ${NO_COVERAGE_PHRASE[decision.likelihood]}`
    );
  }
  switch (decision.likelihood) {
    case 'likely':
      return toSummary(`${prefix}: likely approved under ${policy} (prior authorization required)`);
    case 'needs-documentation': {
      const n = decision.missingDocumentation.length;
      const items = n > 0 ? `${plural(n, 'documentation item', 'documentation items')}` : 'documentation';
      return toSummary(`${prefix}: prior authorization required; submit ${items} to be approved under ${policy}`);
    }
    case 'unlikely': {
      const n = decision.criteria.filter((c) => c.status === 'not-met').length;
      const why = n > 0 ? ` (${plural(n, 'criterion', 'criteria')} not met)` : '';
      return toSummary(`${prefix}: approval unlikely under ${policy}${why}`);
    }
    case 'not-covered': {
      const reason = decision.notCoveredReasons.find((r) => r.trim() !== '');
      return toSummary(`${prefix}: not covered under ${policy}${reason ? `: ${reason.trim()}` : ''}`);
    }
  }
}

const STATUS_WORDS: Record<CriterionStatus, string> = { met: 'met', 'not-met': 'not met', unknown: 'unknown' };

const KIND_WORDS: Record<MissingDocumentation['kind'], string> = {
  'unknown-criterion': 'Documentation needed',
  attestation: 'Attestation',
  'submit-with-request': 'Submit with the request',
};

/** One bullet per missing item: what it is for and exactly what to submit. */
export function missingDocumentationLines(items: MissingDocumentation[]): string[] {
  return items.map((m) => `- **${KIND_WORDS[m.kind]}** (${escapeMarkdown(m.criterion)}): ${escapeMarkdown(m.request)}`);
}

function outlook(service: LoadedService, decision: OrderDecision): string {
  const payer = escapeMarkdown(service.label);
  switch (decision.likelihood) {
    case 'likely':
      return `Prior authorization is required. Every criterion of the pathway below is met, so ${payer} is likely to approve the request.`;
    case 'needs-documentation':
      return (
        'Prior authorization is required. No criterion is contradicted by the record, but some cannot be confirmed ' +
        'from it: submit the documentation listed below with the request.'
      );
    case 'unlikely':
      return (
        'Prior authorization is required, and approval is unlikely: every pathway of the policy has a criterion ' +
        'that is not met (see below).'
      );
    case 'not-covered':
      return `${payer} does not cover this order under the policy; a prior authorization request would be denied.`;
  }
}

/** The markdown detail: order, policy, outcome, pathway, every criterion, what is not met, what is missing. */
export function coverageDetail(service: LoadedService, decision: OrderDecision): string {
  const blocks: string[] = [];
  blocks.push(describeOrderMarkdown(decision));
  blocks.push(
    `**Policy:** ${describePolicyMarkdown(service)}; assessment: **${escapeMarkdown(decision.likelihood)}**.`
  );
  if (!decision.coverage) {
    blocks.push(
      '**No active coverage was found for this patient**, so no coverage information was recorded on the order. ' +
        "Check the patient's insurance; the assessment below applies once the coverage is on file."
    );
  }
  blocks.push(outlook(service, decision));

  const reasons = decision.notCoveredReasons.map((r) => r.trim()).filter((r) => r !== '');
  if (decision.likelihood === 'not-covered' && reasons.length > 0) {
    blocks.push(['**Why it is not covered:**', ...reasons.map((r) => `- ${escapeMarkdown(r)}`)].join('\n'));
  }

  const facts: string[] = [];
  facts.push(
    decision.pathway
      ? `**Pathway:** ${escapeMarkdown(decision.pathway.title)} (${escapeMarkdown(decision.pathway.id)})`
      : '**Pathway:** none (an exclusion decides)'
  );
  const auth = decision.authorization;
  facts.push(
    `**Authorization:** ${escapeMarkdown(auth.type)}, cycle ${escapeMarkdown(auth.cycle)}, ${escapeMarkdown(auth.length)}`
  );
  blocks.push(facts.join('  \n'));

  if (decision.criteria.length > 0) {
    blocks.push(
      [
        '**Criteria**',
        '',
        markdownTable(
          ['Criterion', 'Clause', 'Status', 'Evidence'],
          decision.criteria.map((c) => [
            c.description || c.id,
            c.clause,
            STATUS_WORDS[c.status] ?? String(c.status),
            c.evidence.length > 0 ? c.evidence.join(', ') : 'none',
          ])
        ),
      ].join('\n')
    );
  }

  const notMet = decision.criteria.filter((c) => c.status === 'not-met');
  if (notMet.length > 0) {
    blocks.push(
      [
        '**Not met:**',
        ...notMet.map((c) => `- ${escapeMarkdown(c.description || c.id)} (${escapeMarkdown(c.clause)})`),
      ].join('\n')
    );
  }
  if (decision.missingDocumentation.length > 0) {
    blocks.push(['**Missing documentation:**', ...missingDocumentationLines(decision.missingDocumentation)].join('\n'));
  }
  return blocks.join('\n\n');
}

/** The coverage card for one governed order. */
export function buildCoverageCard(service: LoadedService, decision: OrderDecision, uuid: string): Card {
  return {
    uuid,
    summary: coverageSummary(service, decision),
    detail: coverageDetail(service, decision),
    indicator: decision.likelihood === 'likely' && decision.coverage ? 'info' : 'warning',
    source: cardSource(service, 'coverage-info'),
    extension: { 'coverage-assessment': buildCoverageAssessment(service, decision) },
  };
}
