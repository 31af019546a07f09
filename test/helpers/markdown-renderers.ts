// The two renderers a card detail is checked with (contract section 6: markdown that reads the same rendered or not):
// the CommonMark reference implementation (commonmark.js) and a GFM-like one (markdown-it: tables, strikethrough and,
// with every fuzzy option on, autolinks of URLs, www. names, bare domains, e-mails and IP addresses). Raw HTML is
// parsed as HTML by both, so that any raw HTML in a detail shows up as such.
import * as commonmark from 'commonmark';
import MarkdownIt from 'markdown-it';

const gfm = new MarkdownIt({ html: true, linkify: true });
gfm.linkify.set({ fuzzyLink: true, fuzzyEmail: true, fuzzyIP: true });
const cmParser = new commonmark.Parser();
const cmRenderer = new commonmark.HtmlRenderer();

export interface Rendered {
  commonmarkHtml: string;
  gfmHtml: string;
  /** The visible text of each rendering (tags removed, entities decoded, white space collapsed). */
  commonmarkText: string;
  gfmText: string;
  /** What either renderer found: tables, raw HTML, links (autolinked or written). */
  tables: number;
  rawHtml: string[];
  links: string[];
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ' };

/** The visible text of rendered HTML. */
export function visibleText(html: string): string {
  return html
    .replace(/<[^>]*>/g, ' ')
    .replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (m, name: string) => {
      if (name.startsWith('#x') || name.startsWith('#X')) {
        return String.fromCodePoint(parseInt(name.slice(2), 16));
      }
      if (name.startsWith('#')) {
        return String.fromCodePoint(parseInt(name.slice(1), 10));
      }
      return ENTITIES[name.toLowerCase()] ?? m;
    })
    .replace(/\s+/g, ' ')
    .trim();
}

/** Renders markdown with both renderers and lists what each found. */
export function renderMarkdown(markdown: string): Rendered {
  const tokens = gfm.parse(markdown, {});
  let tables = 0;
  const rawHtml: string[] = [];
  const links: string[] = [];
  const walk = (list: ReturnType<typeof gfm.parse>): void => {
    for (const t of list) {
      if (t.type === 'table_open') {
        tables += 1;
      } else if (t.type === 'html_block' || t.type === 'html_inline') {
        rawHtml.push(t.content);
      } else if (t.type === 'link_open' || t.type === 'image') {
        links.push(String(t.attrGet('href') ?? t.attrGet('src') ?? '?'));
      }
      if (t.children) {
        walk(t.children);
      }
    }
  };
  walk(tokens);
  const doc = cmParser.parse(markdown);
  const walker = doc.walker();
  for (let event = walker.next(); event; event = walker.next()) {
    const node = event.node;
    if (!event.entering) {
      continue;
    }
    if (node.type === 'html_block' || node.type === 'html_inline') {
      rawHtml.push(node.literal ?? '');
    } else if (node.type === 'link' || node.type === 'image') {
      links.push(node.destination ?? '?');
    }
  }
  const commonmarkHtml = cmRenderer.render(doc);
  const gfmHtml = gfm.renderer.render(tokens, gfm.options, {});
  return {
    commonmarkHtml,
    gfmHtml,
    commonmarkText: visibleText(commonmarkHtml),
    gfmText: visibleText(gfmHtml),
    tables,
    rawHtml,
    links,
  };
}
