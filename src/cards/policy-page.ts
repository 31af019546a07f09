// The policy page (contract section 6): `GET /policies/{service-id}` serves one HTML page per policy, generated from
// the policy file at start-up: its pathways, criteria, exclusions, limits, lengths of authorization and documentation
// requests, with every clause as an anchor. Every coverage card links to the anchor of its pathway's indication
// clause (or of the deciding exclusion), which makes the card CRD's External Reference as well. The page holds no
// patient data and no script; everything on it is escaped; its one inline style block is allowed by its hash.
import { createHash } from 'node:crypto';
import type { DoseSchedule } from '../dosing/types';
import type { LoadedService, OrderDecision, PolicyOutline } from '../policy/types';
import { capitalise } from './markdown';
import { DRUG_NAME_LONG, policyName } from './shared';

/** What the link of every coverage card says (contract section 6). */
export const POLICY_LINK_LABEL = 'Read the policy';

/**
 * The clauses a clause citation names, each with its document number: `000 A.i, A.iv` names `000 A.i` and
 * `000 A.iv`; `001 III, Appendix 1` names `001 III` and `001 Appendix 1`; a note in parentheses
 * (`001 III (Universal Criteria)`) is not part of the clause.
 * @param citation - a `clause` of the policy file.
 */
export function clausesOf(citation: string): string[] {
  const out: string[] = [];
  let document = '';
  for (const raw of citation.split(',')) {
    const part = raw
      .replace(/\([^)]*\)/g, ' ')
      .replace(/\s+/g, ' ')
      .trim();
    if (part === '') {
      continue;
    }
    const m = /^(\d{3})\s+(.+)$/.exec(part);
    if (m) {
      document = m[1] as string;
      out.push(`${document} ${m[2] as string}`);
    } else {
      out.push(document ? `${document} ${part}` : part);
    }
  }
  return [...new Set(out)];
}

/** A clause's anchor: lower-cased, spaces as `-` (`000 A.iii.B` -> `000-a.iii.b`; contract section 6). */
export function clauseAnchor(clause: string): string {
  return clause.trim().toLowerCase().replace(/\s+/g, '-');
}

/** The order-sign service id the page is served under (`GET /policies/{service-id}`). */
export function policyPageId(service: Pick<LoadedService, 'id'>): string {
  return service.id;
}

/** `{base}/policies/{service-id}`, with `#anchor` when given. */
export function policyPageUrl(service: Pick<LoadedService, 'id'>, baseUrl: string, anchor?: string): string {
  const base = `${baseUrl.replace(/\/+$/, '')}/policies/${encodeURIComponent(policyPageId(service))}`;
  return anchor ? `${base}#${anchor}` : base;
}

/**
 * The clause a coverage card links to: the deciding exclusion's (or the criterion's whose failure excludes, such as
 * the minimum age), else the clause of the best pathway's indication criterion that the pathway itself cites, else
 * that criterion's first clause. Undefined when the policy declares none of them.
 */
export function decidingClause(outline: PolicyOutline, decision: OrderDecision): string | undefined {
  for (const id of decision.notCoveredBy ?? []) {
    const exclusion = outline.exclusions.find((x) => x.id === id);
    const criterion = outline.criteria.find((c) => c.id === id);
    const clause = exclusion?.clause ?? criterion?.clause;
    if (clause) {
      return clausesOf(clause)[0];
    }
  }
  const pathway = decision.pathway ? outline.pathways.find((p) => p.id === decision.pathway?.id) : undefined;
  if (!pathway) {
    return undefined;
  }
  const indication = outline.criteria.find((c) => c.id === pathway.indication);
  const own = new Set(clausesOf(pathway.clause));
  const clauses = clausesOf(indication?.clause ?? pathway.clause);
  return clauses.find((c) => own.has(c)) ?? clauses[0];
}

// ---- the page -----------------------------------------------------------------------------------------------------

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text for HTML content and attribute values. */
export function escapeHtml(text: string | number): string {
  return String(text).replace(/[&<>"']/g, (c) => HTML_ESCAPES[c] ?? c);
}

const STYLE = [
  'body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1d2733}',
  'h1{font-size:1.5rem;margin-bottom:.25rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ccd3da}',
  'h3{font-size:1.05rem;margin:1.2rem 0 .3rem}.meta{color:#4d5b69}.clause{font-family:ui-monospace,monospace;font-size:.9em}',
  'section.clause-section{padding:.1rem .8rem;border-left:3px solid #ccd3da;margin:.8rem 0}',
  'section.clause-section:target{border-left-color:#c77d00;background:#fff7e6}',
  'ul{padding-left:1.3rem}li{margin:.2rem 0}nav ul{columns:2}a{color:#0b5cad}',
].join('\n');

/** The page's Content-Security-Policy: nothing may load or run; only its own style block applies. */
export const POLICY_PAGE_CSP = [
  "default-src 'none'",
  `style-src 'sha256-${createHash('sha256').update(STYLE).digest('base64')}'`,
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

function clauseLinks(citation: string): string {
  return clausesOf(citation)
    .map((c) => `<a class="clause" href="#${escapeHtml(clauseAnchor(c))}">${escapeHtml(c)}</a>`)
    .join(', ');
}

function cyclesText(maxCycles: number | undefined): string {
  return maxCycles !== undefined ? `at most ${maxCycles} cycles` : 'no stated maximum number of cycles';
}

function scheduleText(schedule: DoseSchedule | undefined): string[] {
  if (!schedule) {
    return [];
  }
  return schedule.cycles.map((spec) => {
    const cycles =
      spec.to === undefined
        ? `cycles ${spec.from} on`
        : spec.from === spec.to
          ? `cycle ${spec.from}`
          : `cycles ${spec.from}–${spec.to}`;
    const bands = spec.bands
      .map(
        (b) =>
          `days ${b.days[0]}–${b.days[1]}: ${b.fixedMcgPerDay} mcg/day, or ${b.mcgPerM2PerDay} mcg/m²/day (at most ${b.capMcgPerDay} mcg/day) below the weight threshold`
      )
      .join('; ');
    return `${cycles}: ${spec.lengthDays}-day cycles; ${bands}`;
  });
}

interface ClauseEntry {
  clause: string;
  lines: string[];
}

/**
 * The policy page, as one HTML document (UTF-8), built once at start-up.
 * @param service - the loaded service (its outline, dosing rules, label and version).
 */
export function buildPolicyPage(service: LoadedService): string {
  const outline = service.outline;
  const criterion = new Map(outline.criteria.map((c) => [c.id, c]));
  const title = `${capitalise(DRUG_NAME_LONG)}: ${policyName(service)}${service.policyId ? ` ${service.policyId}` : ''}`;
  const html: string[] = [];
  const add = (line: string): void => {
    html.push(line);
  };

  add('<!doctype html>');
  add('<html lang="en">');
  add('<head>');
  add('<meta charset="utf-8">');
  add('<meta name="viewport" content="width=device-width, initial-scale=1">');
  add('<meta name="referrer" content="no-referrer">');
  add(`<title>${escapeHtml(title)}</title>`);
  add(`<style>${STYLE}</style>`);
  add('</head>');
  add('<body>');
  add('<header>');
  add(`<h1>${escapeHtml(title)}</h1>`);
  const version = [`Version ${service.version}`];
  if (service.effectiveDate) {
    version.push(`effective ${service.effectiveDate}`);
  }
  add(
    `<p class="meta">${escapeHtml(version.join(', '))}. ${service.labelNamesPayer ? `Payer: ${escapeHtml(service.label)}` : 'The policy names no payer'}. ` +
      `Source: ${escapeHtml(service.sourceDocument)}.</p>`
  );
  add(
    '<p class="meta">What this coverage service checks for a blinatumomab order, generated from its policy file. ' +
      'This page holds no patient data. Each clause has its own anchor; the coverage cards link to them.</p>'
  );
  add('<nav><ul>');
  for (const [id, label] of [
    ['pathways', 'Approval routes (pathways)'],
    ['exclusions', 'Not covered'],
    ['limits', 'Dose and quantity limits'],
    ['authorization', 'Lengths of authorization'],
    ['documentation', 'Documentation requests'],
    ['clauses', 'Criteria by clause'],
  ] as const) {
    add(`<li><a href="#${id}">${label}</a></li>`);
  }
  add('</ul></nav>');
  add('</header>');

  // Pathways.
  add('<section id="pathways">');
  add('<h2>Approval routes (pathways)</h2>');
  add(
    '<p>An order is likely to be approved when every criterion of one route is met. Criteria are met, not met or ' +
      'unknown (the record does not show them: documentation is requested).</p>'
  );
  const every = outline.universal.map((id) => criterion.get(id)).filter((c) => c !== undefined);
  const later = (outline.continuation?.criteria ?? []).map((id) => criterion.get(id)).filter((c) => c !== undefined);
  const criterionItem = (c: PolicyOutline['criteria'][number], note = ''): string =>
    `<li><strong>${escapeHtml(capitalise(c.short))}</strong>${note}: ${escapeHtml(c.description)} (${clauseLinks(c.clause)})</li>`;
  if (every.length > 0) {
    add('<p>Every route requires:</p>');
    add(`<ul>${every.map((c) => criterionItem(c)).join('')}</ul>`);
  }
  if (outline.continuation && later.length > 0) {
    add(`<p>From cycle ${outline.continuation.fromCycle} (continuation), every route also requires:</p>`);
    add(`<ul>${later.map((c) => criterionItem(c)).join('')}</ul>`);
  }
  for (const p of outline.pathways) {
    add(`<article id="pathway-${escapeHtml(p.id)}">`);
    add(`<h3>${escapeHtml(p.title)}</h3>`);
    const auth =
      p.authorization.initial === p.authorization.continuation
        ? `authorized ${p.authorization.initial}`
        : `authorized ${p.authorization.initial} initially, then ${p.authorization.continuation} per renewal`;
    add(
      `<p class="meta">Clauses ${clauseLinks(p.clause)}; ${escapeHtml(cyclesText(p.maxCycles))}; ${escapeHtml(auth)}.</p>`
    );
    add('<ul>');
    for (const id of p.criteria) {
      const c = criterion.get(id);
      if (c) {
        add(criterionItem(c, id === p.indication ? ' (its indication)' : ''));
      }
    }
    add('</ul>');
    add('</article>');
  }
  add('</section>');

  // Exclusions.
  add('<section id="exclusions">');
  add('<h2>Not covered</h2>');
  add('<ul>');
  for (const x of outline.exclusions) {
    add(`<li>${escapeHtml(x.reason)} (${clauseLinks(x.clause)})</li>`);
  }
  for (const c of outline.criteria) {
    if (c.notCoveredWhenNotMet) {
      add(`<li>${escapeHtml(c.notCoveredWhenNotMet)} (${clauseLinks(c.clause)})</li>`);
    }
  }
  add('<li>An order past the cycle maximum of every route that fits it.</li>');
  add('</ul>');
  add('</section>');

  // Limits (hand-made test services may declare no dosing rules).
  const limits = service.dosing.limits ?? { vialsPerCycle: 0, vialStrengthMcg: 0, unitsPerCycle: 0 };
  add('<section id="limits">');
  add('<h2>Dose and quantity limits</h2>');
  add('<ul>');
  add(
    `<li>Quantity: at most ${limits.vialsPerCycle} vials of ${limits.vialStrengthMcg} mcg, ${limits.unitsPerCycle} ` +
      `billable units of HCPCS ${escapeHtml(service.billingCode.code)}, per cycle, whatever the supply duration; ` +
      'several blinatumomab orders of one call are counted together.</li>'
  );
  add(
    `<li>Weight ${service.dosing.weightThresholdKg} kg or more (exactly ${service.dosing.weightThresholdKg} included): ` +
      'the fixed dose; below it, the dose per m² of body surface area, never above the cap.</li>'
  );
  const schedules = new Map<string, string[]>();
  for (const p of outline.pathways) {
    schedules.set(p.schedule, [...(schedules.get(p.schedule) ?? []), p.title]);
  }
  for (const [id, titles] of schedules) {
    const lines = scheduleText(service.dosing.schedules?.[id]);
    add(`<li>${escapeHtml(titles.join('; '))}:<ul>${lines.map((l) => `<li>${escapeHtml(l)}</li>`).join('')}</ul></li>`);
  }
  add('</ul>');
  add('</section>');

  // Lengths of authorization.
  add('<section id="authorization">');
  add('<h2>Lengths of authorization</h2>');
  const lengths = (a: { initial: string; continuation: string }): string =>
    a.initial === a.continuation
      ? `${a.initial}, initial and continuation`
      : `${a.initial} initially, ${a.continuation} per continuation`;
  const groups = new Map<string, string[]>();
  for (const p of outline.pathways) {
    const key = lengths(p.authorization);
    groups.set(key, [...(groups.get(key) ?? []), p.title]);
  }
  add('<ul>');
  if (outline.continuation) {
    add(`<li>An order is a continuation from cycle ${outline.continuation.fromCycle}.</li>`);
  }
  for (const [key, titles] of groups) {
    const which = titles.length === outline.pathways.length ? 'Every route' : titles.join('; ');
    add(`<li>${escapeHtml(which)}: ${escapeHtml(key)}.</li>`);
  }
  add('</ul>');
  add('</section>');

  // Documentation requests.
  add('<section id="documentation">');
  add('<h2>Documentation requests</h2>');
  add('<p>Asked for when the record does not show a criterion, and always for the items listed first.</p>');
  add('<ul>');
  for (const item of outline.items) {
    const kind = item.kind === 'attestation' ? 'attestation' : 'sent with the request';
    const when = item.when === 'continuation' ? ', on continuation' : '';
    add(
      `<li><strong>${escapeHtml(capitalise(item.short))}</strong> (${kind}${when}; ${clauseLinks(item.clause)}): ${escapeHtml(item.request)}</li>`
    );
  }
  for (const c of outline.criteria) {
    add(
      `<li><strong>${escapeHtml(capitalise(c.short))}</strong> (when unknown; ${clauseLinks(c.clause)}): ${escapeHtml(c.documentation)}</li>`
    );
  }
  add('</ul>');
  add('</section>');

  // Criteria by clause: one anchor per clause.
  add('<section id="clauses">');
  add('<h2>Criteria by clause</h2>');
  for (const entry of clauseEntries(service)) {
    add(`<section class="clause-section" id="${escapeHtml(clauseAnchor(entry.clause))}">`);
    add(`<h3 class="clause">${escapeHtml(entry.clause)}</h3>`);
    add(`<ul>${entry.lines.map((l) => `<li>${l}</li>`).join('')}</ul>`);
    add('</section>');
  }
  add('</section>');
  add('</body>');
  add('</html>');
  return `${html.join('\n')}\n`;
}

/** Every clause any declaration cites, in order of first citation (pathways first), with what cites it. */
function clauseEntries(service: LoadedService): ClauseEntry[] {
  const outline = service.outline;
  const entries = new Map<string, ClauseEntry>();
  const cite = (citation: string, line: string): void => {
    for (const clause of clausesOf(citation)) {
      const entry = entries.get(clause) ?? { clause, lines: [] };
      if (!entry.lines.includes(line)) {
        entry.lines.push(line);
      }
      entries.set(clause, entry);
    }
  };
  for (const p of outline.pathways) {
    cite(p.clause, `Route <a href="#pathway-${escapeHtml(p.id)}">${escapeHtml(p.title)}</a>`);
  }
  for (const c of outline.criteria) {
    const routes = outline.pathways.filter((p) => p.criteria.includes(c.id)).length;
    const where = outline.universal.includes(c.id)
      ? 'every route'
      : outline.continuation?.criteria.includes(c.id)
        ? `every route from cycle ${outline.continuation.fromCycle}`
        : `${routes} route${routes === 1 ? '' : 's'}`;
    cite(c.clause, `<strong>${escapeHtml(capitalise(c.short))}</strong>: ${escapeHtml(c.description)} (${where})`);
  }
  for (const x of outline.exclusions) {
    cite(x.clause, `Not covered: ${escapeHtml(x.reason)}`);
  }
  for (const item of outline.items) {
    cite(item.clause, `<strong>${escapeHtml(capitalise(item.short))}</strong>: ${escapeHtml(item.request)}`);
  }
  return [...entries.values()];
}

/**
 * Every anchor the page carries for clauses (tests and the card builder check links against it).
 * @param service - the loaded service.
 */
export function policyPageAnchors(service: LoadedService): string[] {
  return clauseEntries(service).map((e) => clauseAnchor(e.clause));
}
