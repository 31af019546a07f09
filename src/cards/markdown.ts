// Text helpers for card summaries and GitHub Flavored Markdown details (CDS Hooks 2.0 "detail": GFM). Details use
// paragraphs, bold labels and bulleted lists only (no tables, no raw HTML, no links): they read the same rendered by
// CommonMark, by GFM or not at all (contract section 6). Text that comes from patient data or any request is escaped
// before it is placed in markdown (the CDS Hooks sandbox renders `detail` with rehype-raw, so raw HTML would
// execute: checklist S-13) and cannot become a link.

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

/**
 * Cuts `text` (one line) to at most `max` characters (code points) at a word boundary, ending with an ellipsis when
 * cut; a single word longer than `max` is cut inside it (only data is ever cut, never our phrases).
 */
export function clipAtWord(text: string, max: number): string {
  const chars = Array.from(text);
  if (chars.length <= max) {
    return text;
  }
  const head = chars.slice(0, Math.max(0, max - 1)).join('');
  const space = head.lastIndexOf(' ');
  const cut = space > max / 2 ? head.slice(0, space) : head;
  return `${cut.replace(/[\s,;:.]+$/u, '')}…`;
}

// What a GFM or linkify renderer could turn into a link, after escapeMarkdown: a scheme's "://" (or a bare "//"),
// an e-mail's "@", a dot joining two labels of a domain name ("www.example.com", "пример.рф"), and the dots of an IP
// address. Each of those characters gets a backslash: CommonMark renders "\." as "." (so the text reads the same),
// and a link cannot form across an escape.
const LINK_SLASHES = /\/\//g;
const LINK_COLON = /:(?=\\\/)/g;
const DOMAIN_DOT = /(?<=[\p{L}\p{N}])\.(?=[\p{L}])/gu;
const IP_ADDRESS = /\d+(?:\.\d+){2,}/g;

function unlink(escaped: string): string {
  return escaped
    .replace(LINK_SLASHES, '\\/\\/')
    .replace(LINK_COLON, '\\:')
    .replace(/@/g, '\\@')
    .replace(DOMAIN_DOT, '\\.')
    .replace(IP_ADDRESS, (ip) => ip.replace(/\./g, '\\.'));
}

/**
 * Text from patient data or any request, for markdown: one line, cut at a word to `max` characters, escaped (no
 * HTML, link, emphasis, code or block syntax survives) and unable to become a link, rendered with or without GFM
 * autolinks (contract section 6).
 * @param text - untrusted text.
 * @param max - the most characters of the text kept (before escaping).
 */
export function escapeData(text: string | number | undefined, max = 120): string {
  const line = singleLine(typeof text === 'number' ? String(text) : typeof text === 'string' ? text : '');
  return unlink(escapeMarkdown(clipAtWord(line, max)));
}

/** The length budgets of contract section 6, in characters (code points). */
export function lengthOf(text: string): number {
  return Array.from(text).length;
}

/** Whether text fits a summary (one line, at most 139 characters). */
export function fitsSummary(text: string): boolean {
  return lengthOf(text) <= MAX_SUMMARY_LENGTH && singleLine(text) === text;
}

/** Longest card detail (contract section 6). */
export const MAX_DETAIL_LENGTH = 1500;

/** Capitalises the first letter (for a short name that starts a list item or a sentence). */
export function capitalise(text: string): string {
  const first = Array.from(text)[0];
  return first === undefined ? text : `${first.toUpperCase()}${text.slice(first.length)}`;
}

/**
 * Cuts markdown at a line boundary to fit `max` characters, with a closing note saying where the rest is (only
 * when nothing shorter can be said: every builder first tries shorter renderings).
 */
export function cutAtLine(text: string, max: number, note: string): string {
  if (lengthOf(text) <= max) {
    return text;
  }
  const lines = text.split('\n');
  const tail = `\n\n${note}`;
  while (lines.length > 1 && lengthOf(lines.join('\n')) + lengthOf(tail) > max) {
    lines.pop();
  }
  return `${lines.join('\n').replace(/\n+$/, '')}${tail}`;
}
