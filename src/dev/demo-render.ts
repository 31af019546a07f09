// How an EHR shows our cards, for `npm run demo`: each card's summary, indicator, source, detail rendered from its
// markdown (markdown-it, GFM-like, raw HTML off, linkify on: what the CDS Hooks sandbox's renderer does, minus raw
// HTML), suggestion labels and links; as terminal text, or as one HTML page with every fixture's cards (no script).
// Development only (markdown-it is a dev dependency).
import MarkdownIt from 'markdown-it';
type Token = MarkdownIt.Token;

type Json = Record<string, unknown>;

/** The renderer EHRs that follow GitHub-flavoured markdown resemble: tables and autolinks on, raw HTML escaped. */
export const gfm = new MarkdownIt({ html: false, linkify: true });

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function list(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

function text(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

/** A card as an EHR shows it. */
export interface RenderedCard {
  indicator: string;
  source: string;
  summary: string;
  /** The detail's markdown. */
  detail: string;
  suggestions: string[];
  links: Array<{ label: string; url: string }>;
  overrideReasons: string[];
}

/** Reads a card of a response into what an EHR shows (never trusting its shape). */
export function renderedCard(card: unknown): RenderedCard {
  const c = isObject(card) ? card : {};
  const source = isObject(c.source) ? c.source : {};
  return {
    indicator: text(c.indicator) || '?',
    source: text(source.label),
    summary: text(c.summary),
    detail: text(c.detail),
    suggestions: list(c.suggestions)
      .filter(isObject)
      .map((s) => text(s.label)),
    links: list(c.links)
      .filter(isObject)
      .map((l) => ({ label: text(l.label), url: text(l.url) })),
    overrideReasons: list(c.overrideReasons)
      .filter(isObject)
      .map((r) => text(r.display)),
  };
}

/** Inline tokens as plain text (bold kept as the terminal's bold when a styler is given). */
function inlineText(tokens: readonly Token[], bold: (s: string) => string): string {
  let out = '';
  let strong = false;
  let buffer = '';
  for (const t of tokens) {
    if (t.type === 'strong_open') {
      strong = true;
      buffer = '';
    } else if (t.type === 'strong_close') {
      strong = false;
      out += bold(buffer);
    } else if (t.type === 'softbreak' || t.type === 'hardbreak') {
      out += '\n';
    } else if (t.children && t.children.length > 0) {
      out += inlineText(t.children, bold);
    } else if (t.content) {
      if (strong) {
        buffer += t.content;
      } else {
        out += t.content;
      }
    }
  }
  return out;
}

/**
 * Markdown rendered as terminal text: paragraphs separated by blank lines, bulleted lists as `•` lines.
 * @param markdown - a card detail.
 * @param bold - how bold text looks (identity for plain text).
 */
export function markdownToText(markdown: string, bold: (s: string) => string = (s) => s): string {
  const tokens = gfm.parse(markdown, {});
  const blocks: string[] = [];
  let depth = 0;
  let item = false;
  for (const t of tokens) {
    if (t.type === 'bullet_list_open' || t.type === 'ordered_list_open') {
      depth += 1;
    } else if (t.type === 'bullet_list_close' || t.type === 'ordered_list_close') {
      depth -= 1;
    } else if (t.type === 'list_item_open') {
      item = true;
    } else if (t.type === 'inline') {
      const line = inlineText(t.children ?? [], bold);
      if (item) {
        blocks.push(`${'  '.repeat(Math.max(0, depth - 1))}• ${line.replace(/\n/g, '\n  ')}`);
        item = false;
      } else {
        blocks.push(depth > 0 ? `  ${line}` : `\n${line}`);
      }
    } else if (t.type === 'fence' || t.type === 'code_block') {
      blocks.push(`\n${t.content.trimEnd()}`);
    }
  }
  return blocks.join('\n').replace(/^\n+/, '');
}

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c] ?? c);
}

/** One section of the HTML page: a call and the cards it returned. */
export interface PageSection {
  title: string;
  subtitle: string;
  cards: RenderedCard[];
  /** What came back besides cards (system actions, status), one line each. */
  notes: string[];
}

const PAGE_STYLE = [
  'body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;background:#eef1f4;color:#1d2733;margin:0;padding:1.5rem}',
  'h1{font-size:1.4rem;margin:0 0 .3rem}header p{margin:.2rem 0 1rem;color:#4d5b69}',
  'section.call{max-width:46rem;margin:0 0 1.6rem}h2{font-size:1rem;margin:0 0 .1rem}.sub{color:#4d5b69;font-size:.85rem;margin:0 0 .5rem}',
  '.card{background:#fff;border:1px solid #cfd6dd;border-left:6px solid #999;border-radius:4px;padding:.6rem .9rem;margin:.5rem 0}',
  '.card.info{border-left-color:#2f7fd1}.card.warning{border-left-color:#e0a100}.card.critical{border-left-color:#c62828}',
  '.summary{font-weight:600;font-size:1.02rem}.card.warning .summary{color:#7a5200}.card.info .summary{color:#1b4f86}',
  '.source{color:#5b6873;font-size:.8rem;margin:.1rem 0 .4rem}.detail p{margin:.4rem 0}.detail ul{margin:.3rem 0;padding-left:1.3rem}',
  '.actions{margin-top:.5rem}.button{display:inline-block;border:1px solid #2f7fd1;color:#2f7fd1;border-radius:3px;padding:.15rem .55rem;margin:.15rem .3rem .15rem 0;font-size:.85rem}',
  '.link{border-color:#5b6873;color:#33414e}.override{color:#5b6873;font-size:.8rem;margin-top:.3rem}.notes{color:#4d5b69;font-size:.8rem;margin:.2rem 0 0}',
].join('\n');

/** One card as HTML, its detail rendered by the GFM renderer (raw HTML escaped, no script). */
export function cardHtml(card: RenderedCard): string {
  const indicator = ['info', 'warning', 'critical'].includes(card.indicator) ? card.indicator : 'other';
  const parts = [
    `<div class="card ${indicator}">`,
    `<div class="summary">${escapeHtml(card.summary)}</div>`,
    `<div class="source">${escapeHtml(card.indicator)} · ${escapeHtml(card.source)}</div>`,
    card.detail ? `<div class="detail">${gfm.render(card.detail)}</div>` : '',
  ];
  const buttons = [
    ...card.suggestions.map((s) => `<span class="button">${escapeHtml(s)}</span>`),
    ...card.links.map(
      (l) => `<a class="button link" href="${escapeHtml(l.url)}" rel="noreferrer">${escapeHtml(l.label)}</a>`
    ),
  ];
  if (buttons.length > 0) {
    parts.push(`<div class="actions">${buttons.join('')}</div>`);
  }
  if (card.overrideReasons.length > 0) {
    parts.push(`<div class="override">Override reasons: ${card.overrideReasons.map(escapeHtml).join('; ')}</div>`);
  }
  parts.push('</div>');
  return parts.filter((p) => p !== '').join('\n');
}

/**
 * The whole page: every call's cards, as an EHR would show them. No script; a CSP meta tag forbids any.
 * @param sections - one per call.
 * @param heading - what the page shows.
 */
export function cardsPage(sections: readonly PageSection[], heading: string): string {
  const body = sections.map((s) =>
    [
      '<section class="call">',
      `<h2>${escapeHtml(s.title)}</h2>`,
      `<p class="sub">${escapeHtml(s.subtitle)}</p>`,
      ...(s.cards.length > 0 ? s.cards.map(cardHtml) : ['<p class="notes">No cards.</p>']),
      ...s.notes.map((n) => `<p class="notes">${escapeHtml(n)}</p>`),
      '</section>',
    ].join('\n')
  );
  return [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escapeHtml(heading)}</title>`,
    `<style>${PAGE_STYLE}</style>`,
    '</head>',
    '<body>',
    `<header><h1>${escapeHtml(heading)}</h1><p>Every card as the service sent it, its detail rendered by a GFM renderer (markdown-it, raw HTML escaped). Suggestions are shown as labels.</p></header>`,
    ...body,
    '</body>',
    '</html>',
    '',
  ].join('\n');
}
