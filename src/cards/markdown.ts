// Text helpers for card summaries and GitHub Flavored Markdown details (CDS Hooks 2.0 "detail": GFM).
// Text that comes from patient data or any request is escaped before it is placed in markdown: the CDS Hooks
// sandbox renders `detail` with rehype-raw, so raw HTML would execute (checklist S-13).

/** Longest summary we send: CDS Hooks says "<140 characters", and Inferno errors at 140. */
export const MAX_SUMMARY_LENGTH = 139;

/** Longest piece of request-derived text placed in a card; longer text is cut with an ellipsis. */
export const MAX_FIELD_LENGTH = 1000;

// Characters with a meaning in GFM inline syntax, tables or raw HTML. `<`, `>` and `&` become entities (safe
// for renderers that treat the text as HTML too); the others get a backslash (CommonMark: any ASCII punctuation
// may be backslash-escaped and then renders as itself).
const ENTITIES: Record<string, string> = { '<': '&lt;', '>': '&gt;', '&': '&amp;' };
// Escaping `[` and `]` is enough to stop links and images (`(` only matters right after `]`).
const BACKSLASHED = new Set(['\\', '`', '*', '_', '[', ']', '|', '~']);
// Characters that only start a block (heading, list, setext underline, quote) at the beginning of a line.
const BACKSLASHED_FIRST = new Set(['#', '+', '-', '=']);

// Anything the slow path below would change: an escaped character, a control character, a leading digit (a list
// marker), leading or trailing or doubled spaces.
// eslint-disable-next-line no-control-regex
const NEEDS_ESCAPING = /[<>&\\`*_[\]|~#+=\-\u0000-\u001f\u007f-\u009f\u2028\u2029]|^[\d ]| $| {2}/;

// eslint-disable-next-line no-control-regex
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g;

/** Replaces line breaks, tabs and other control characters by single spaces and trims the result. */
export function singleLine(text: string): string {
  return text.replace(CONTROL_CHARACTERS, ' ').replace(/ {2,}/g, ' ').trim();
}

/** Cuts `text` to at most `max` characters (code points), ending with an ellipsis when cut. */
export function truncate(text: string, max: number): string {
  const chars = Array.from(text);
  if (chars.length <= max) {
    return text;
  }
  return `${chars
    .slice(0, Math.max(0, max - 1))
    .join('')
    .trimEnd()}…`;
}

/**
 * Escapes text for use inside a markdown line or table cell: no HTML, link, emphasis, code or table syntax
 * survives, and the text stays on one line.
 * @param text - any untrusted text (patient data, order text, identifiers).
 */
export function escapeMarkdown(text: string | number | undefined): string {
  if (typeof text === 'string' && text.length <= MAX_FIELD_LENGTH && !NEEDS_ESCAPING.test(text)) {
    // Most text (codes, dates, clinical phrases) has nothing to escape, trim, cut or join: a single regex test.
    return text;
  }
  const s = truncate(
    singleLine(typeof text === 'number' ? String(text) : typeof text === 'string' ? text : ''),
    MAX_FIELD_LENGTH
  );
  let out = '';
  let first = true;
  for (const ch of s) {
    const entity = ENTITIES[ch];
    if (entity) {
      out += entity;
    } else if (BACKSLASHED.has(ch) || (first && BACKSLASHED_FIRST.has(ch))) {
      out += `\\${ch}`;
    } else {
      out += ch;
    }
    first = false;
  }
  // An ordered-list marker ("1." at the start) is neutralised by escaping its dot.
  return out.replace(/^(\d{1,9})([.)])/, '$1\\$2');
}

/** A plain-text summary: one line, at most 139 characters. */
export function toSummary(text: string): string {
  return truncate(singleLine(text), MAX_SUMMARY_LENGTH);
}

/** A GFM table; every cell is escaped (so `|` and line breaks in data cannot break the table). */
export function markdownTable(header: string[], rows: string[][]): string {
  const line = (cells: string[]): string => `| ${cells.join(' | ')} |`;
  return [
    line(header.map(escapeMarkdown)),
    line(header.map(() => '---')),
    ...rows.map((r) => line(r.map(escapeMarkdown))),
  ].join('\n');
}

/** A code span for text we wrote ourselves (URLs, identifiers); backticks and line breaks are removed. */
export function codeSpan(text: string): string {
  return `\`${singleLine(text).replace(/`/g, '')}\``;
}
