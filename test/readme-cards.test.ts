// The README shows one coverage card of each likelihood exactly as the service sends it (contract section 6; issue
// 9): each block between `<!-- card <request> <service> -->` and `<!-- /card -->` is the card's indicator, source
// label and summary, its detail as a blockquote (GitHub renders it as an EHR would) and its link. This test sends
// each named fixture request to the real app and compares, so the README cannot drift from what is sent.
import fs from 'node:fs';
import path from 'node:path';
import request from 'supertest';
import { REQUESTS_DIR } from '../src/dev/demo-fixtures';
import type { Card, CdsResponse } from '../src/hooks/types';
import { buildServiceApp, coverageCards, type ServiceApp } from './helpers/service-app';

const README = path.resolve(__dirname, '..', 'README.md');
/** The base URL the README's examples are written for (`npm start` on the default port). */
const README_BASE_URL = 'http://localhost:3000';

interface Block {
  file: string;
  serviceId: string;
  text: string;
}

function blocks(): Block[] {
  const text = fs.readFileSync(README, 'utf8');
  const out: Block[] = [];
  const re = /<!-- card (\S+) (\S+) -->\n([\s\S]*?)\n<!-- \/card -->/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    out.push({ file: m[1] as string, serviceId: m[2] as string, text: m[3] as string });
  }
  return out;
}

/** How the README writes a card. */
function readmeBlock(card: Card): string {
  const link = card.links?.[0];
  return [
    `**${card.indicator}** · ${card.source.label} · **${card.summary}**`,
    '',
    (card.detail ?? '')
      .split('\n')
      .map((l) => (l === '' ? '>' : `> ${l}`))
      .join('\n'),
    '',
    link ? `[${link.label}](${link.url})` : '',
  ].join('\n');
}

let h: ServiceApp;

beforeAll(async () => {
  h = await buildServiceApp({ env: { CDS_PUBLIC_BASE_URL: README_BASE_URL } });
});

afterAll(async () => {
  await h?.close();
});

test('the README shows a coverage card of each likelihood', () => {
  expect(blocks().map((b) => `${b.file} ${b.serviceId}`)).toEqual([
    'adult-relapsed-ph-neg-cycle1-stepup--full blinatumomab-mmm',
    'adult-relapsed-blood-cd19-count-only--full blinatumomab-single-agent',
    'adult-continuation-cycle3-crs--full blinatumomab-mmm',
    'adult-relapsed-cycle10--full blinatumomab-mmm',
  ]);
});

test.each(blocks().map((b) => [b.file, b.serviceId, b] as const))(
  '%s -> %s: as the service sends it',
  async (file, id, block) => {
    const body = JSON.parse(fs.readFileSync(path.join(REQUESTS_DIR, `${file}.json`), 'utf8')) as object;
    const res = await request(h.app).post(`/cds-services/${id}`).send(body);
    expect(res.status).toBe(200);
    const [card] = coverageCards(res.body as CdsResponse);
    expect(card).toBeDefined();
    expect(block.text).toBe(readmeBlock(card as Card));
  }
);
