// Debian's chromium driven by playwright-core (never a downloaded browser), with the launch flags of
// ../shared/docs/dependency-notes.md: headless, no sandbox (CI runs as root), and no background networking (the
// closed network here would otherwise be flooded with refused connections). playwright gives each launch a fresh
// temporary profile of its own, removed when the browser closes.
import fs from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const INSTALL_SCRIPT = 'scripts/install-chromium.sh';

/** Whether the browser is installed; when not, prints the notice the browser tests skip with. */
export function chromiumAvailable(what: string): boolean {
  if (fs.existsSync(CHROMIUM_PATH)) {
    return true;
  }
  process.stderr.write(
    `\nNOTICE: ${what} skipped: no chromium at ${CHROMIUM_PATH}. Install it with ${INSTALL_SCRIPT} (as root; .ci/run does).\n\n`
  );
  return false;
}

export interface RunningBrowser {
  browser: Browser;
  close(): Promise<void>;
}

/** Launches headless chromium (a fresh temporary profile). */
export async function launchChromium(): Promise<RunningBrowser> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  return {
    browser,
    close: async () => {
      await browser.close().catch(() => undefined);
    },
  };
}
