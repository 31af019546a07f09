// The policy page in a real browser (contract section 6): Debian's chromium, driven by playwright-core, opens every
// link that any fixture's coverage card carries (every request variant, both policies, from the running demo
// servers: the embedded FHIR server and the service on loopback) and checks that it lands on an anchor the page has,
// that the page runs no script, and that its strict Content-Security-Policy blocks nothing of its own (its style
// applies). Without chromium (no root to install it) the test is skipped with a notice naming scripts/install-chromium.sh.
import { startDemoServers, replay, type DemoServers } from '../src/dev/demo';
import { loadFixtureRequests, readManifest } from '../src/dev/demo-fixtures';
import { chromiumAvailable, launchChromium, type RunningBrowser } from './helpers/chromium';

const available = chromiumAvailable('the policy-page browser test');
const maybe = available ? describe : describe.skip;

maybe('the policy page in headless chromium', () => {
  let servers: DemoServers;
  let chromium: RunningBrowser;
  const links = new Map<string, string>();

  beforeAll(async () => {
    servers = await startDemoServers({ env: { CDS_LOG_LEVEL: 'silent' } });
    const requests = loadFixtureRequests({ manifest: readManifest() });
    const results = await replay(servers, requests, () => undefined);
    for (const r of results) {
      const cards = (r.body as { cards?: Array<{ links?: Array<{ url: string }>; extension?: object }> }).cards ?? [];
      for (const card of cards) {
        for (const link of card.links ?? []) {
          links.set(link.url, `${r.file} -> ${r.serviceId}`);
        }
      }
    }
    chromium = await launchChromium();
  }, 180000);

  afterAll(async () => {
    await chromium?.close();
    await servers?.close();
  });

  test('the fixtures carry policy links to both services', () => {
    const urls = [...links.keys()];
    expect(urls.some((u) => u.startsWith(`${servers.serviceUrl}/policies/blinatumomab-mmm#`))).toBe(true);
    expect(urls.some((u) => u.startsWith(`${servers.serviceUrl}/policies/blinatumomab-single-agent#`))).toBe(true);
  });

  test('every link lands on an anchor that exists on the page, with no script and nothing blocked', async () => {
    const problems: string[] = [];
    const console: string[] = [];
    for (const [url, from] of links) {
      // A fresh page per link: a real navigation (not a same-document jump), with its own status.
      const page = await chromium.browser.newPage();
      page.on('console', (m) => console.push(m.text()));
      const res = await page.goto(url);
      const anchor = decodeURIComponent(new URL(url).hash.slice(1));
      const found = await page.locator(`[id="${anchor}"]`).count();
      const scripts = await page.locator('script').count();
      const target = page.locator(':target');
      const targeted = (await target.count()) > 0 ? ((await target.first().getAttribute('id')) ?? '') : '';
      if (res?.status() !== 200 || found !== 1 || scripts !== 0 || targeted !== anchor) {
        problems.push(
          `${url} (from ${from}): status ${res?.status()}, anchors ${found}, scripts ${scripts}, target "${targeted}"`
        );
      }
      await page.close();
    }
    const page = await chromium.browser.newPage();
    page.on('console', (m) => console.push(m.text()));
    await page.goto([...links.keys()][0] ?? servers.serviceUrl);
    // The CSP allows exactly the page's own style block: it applies, and nothing is reported as blocked.
    const maxWidth = await page.evaluate('getComputedStyle(document.body).maxWidth');
    await page.close();
    expect(problems).toEqual([]);
    expect(maxWidth).toBe('960px');
    expect(console.filter((m) => /Content Security Policy|Refused/i.test(m))).toEqual([]);
  }, 120000);
});
