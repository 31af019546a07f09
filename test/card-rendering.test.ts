// Cards checked where they are read (contract section 6; issue 9 deliverable 4). test/fixtures-e2e.test.ts runs the
// card rules, rendering rules included, over every fixture request (both policies, every variant); this test sends
// every fixture request whose prefetch is complete again with hostile text planted in every text field of the
// patient's data and of the order (markup, raw HTML, javascript: links, bare URLs, www. names, e-mail addresses):
// rendered by CommonMark and by GFM with every autolink option on, the cards must still read the same in both, show
// no tables, no raw HTML and no links, and show the planted text as the text it is.
import request from 'supertest';
import type { CdsResponse, HookRequest } from '../src/hooks/types';
import { loadFixtureRequests, readManifest } from '../src/dev/demo-fixtures';
import { cardRuleViolations } from './card-rules';
import { renderMarkdown } from './helpers/markdown-renderers';
import { BASE_URL, SERVICE_IDS, buildServiceApp, type ServiceApp } from './helpers/service-app';

const PLANTED =
  '<img src=x onerror=alert(1)> [click](javascript:alert(1)) *em* _u_ `c` ~~s~~ | www.evil.example ' +
  'http://evil.example/a //evil.example a@evil.example 10.0.0.1';
const TEXT_FIELDS = new Set(['text', 'display', 'title', 'valueString']);

/** A copy of the request with PLANTED appended to every text field of its resources (codes and ids untouched). */
function plant(body: Record<string, unknown>): HookRequest {
  const copy = structuredClone(body);
  const stack: unknown[] = [copy.prefetch, (copy.context as Record<string, unknown> | undefined)?.draftOrders];
  while (stack.length > 0) {
    const v = stack.pop();
    if (Array.isArray(v)) {
      stack.push(...v);
    } else if (v && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      for (const [k, x] of Object.entries(o)) {
        if (typeof x === 'string' && TEXT_FIELDS.has(k) && k !== 'div') {
          o[k] = `${x} ${PLANTED}`;
        } else {
          stack.push(x);
        }
      }
    }
  }
  return copy as unknown as HookRequest;
}

const fixtures = loadFixtureRequests({ manifest: readManifest() }).filter(
  (f) => f.name.variant === 'full' && (f.manifest?.governedOrders ?? 1) > 0
);
let h: ServiceApp;
/** Calls whose cards show the planted text (as text). */
let callsShowingIt = 0;

beforeAll(async () => {
  h = await buildServiceApp();
});

afterAll(async () => {
  await h?.close();
});

test('every full fixture request is checked', () => {
  expect(fixtures.length).toBeGreaterThanOrEqual(25);
});

describe.each(fixtures.map((f) => [f.name.file, f] as const))('%s, with hostile text planted', (_file, fixture) => {
  test.each([...SERVICE_IDS])('%s', async (serviceId) => {
    const sent = plant(fixture.body);
    const res = await request(h.app).post(`/cds-services/${serviceId}`).send(sent);
    expect(res.status).toBe(200);
    const response = res.body as CdsResponse;
    expect(cardRuleViolations(response, sent, { service: h.service(serviceId), baseUrl: BASE_URL })).toEqual([]);
    let shown = 0;
    for (const card of response.cards) {
      const rendered = renderMarkdown(card.detail ?? '');
      expect({ links: rendered.links, html: rendered.rawHtml, tables: rendered.tables }).toEqual({
        links: [],
        html: [],
        tables: 0,
      });
      expect(rendered.gfmHtml).not.toMatch(/<(img|a|script|em|code|del|table)\b/);
      // Where the planted text is shown, it reads as written (cut at a word at most): markup shown as text.
      if (rendered.gfmText.includes('<img')) {
        shown += 1;
      }
    }
    if (shown > 0) {
      callsShowingIt += 1;
    }
  });
});

test('evidence in words quotes the data: the planted text, escaped, reaches the cards of most calls', () => {
  expect(callsShowingIt).toBeGreaterThan(fixtures.length);
});
