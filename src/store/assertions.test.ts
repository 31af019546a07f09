// The file store's coverage-assertion-ids (contract section 5, "Store" of section 1): one id while key and outcome
// hold, a new one (never the old restored) when the outcome changes, kept on disk across restarts for the retention
// whatever CDS_AUDIT says, a torn journal line skipped, concurrent calls agreeing, a failed write rejected.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createFileStore, type FileStore } from './file-store';
import type { AssertionKey, AssertionOutcome } from './types';

const DAY_MS = 24 * 60 * 60 * 1000;
const START = Date.parse('2026-11-22T10:00:00Z');
const KEY: AssertionKey = {
  orderId: 'mr-1',
  coverage: 'Coverage/cov-1',
  policy: 'blinatumomab-mmm',
  policyVersion: '2024-05-09',
};
const COVERED: AssertionOutcome = { covered: 'covered', paNeeded: 'auth-needed' };
const NOT_COVERED: AssertionOutcome = { covered: 'not-covered', paNeeded: '' };

let dir: string;
let clock: number;
const open: FileStore[] = [];

async function store(options: { audit?: boolean; retentionDays?: number } = {}): Promise<FileStore> {
  const s = await createFileStore({
    dataDir: dir,
    audit: options.audit ?? false,
    auditRetentionDays: options.retentionDays ?? 30,
    now: () => clock,
  });
  open.push(s);
  return s;
}

function journal(day: string): string[] {
  return fs
    .readFileSync(path.join(dir, 'assertions', `${day}.jsonl`), 'utf8')
    .split('\n')
    .filter(Boolean);
}

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cds-assertions-'));
  clock = START;
});

afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
  fs.chmodSync(dir, 0o700);
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('FileStore.assertionFor', () => {
  it('keeps one id while the outcome holds; a changed outcome gets the fresh id, and the old one never returns', async () => {
    const s = await store();
    expect(await s.assertionFor(KEY, COVERED, 'id-1')).toBe('id-1');
    expect(await s.assertionFor(KEY, COVERED, 'id-2')).toBe('id-1');
    expect(await s.assertionFor(KEY, { ...COVERED }, 'id-3')).toBe('id-1');
    expect(await s.assertionFor(KEY, NOT_COVERED, 'id-4')).toBe('id-4');
    expect(await s.assertionFor(KEY, NOT_COVERED, 'id-5')).toBe('id-4');
    expect(await s.assertionFor(KEY, COVERED, 'id-6')).toBe('id-6');
    // pa-needed alone changing is a change too.
    expect(await s.assertionFor(KEY, { covered: 'covered', paNeeded: 'no-auth' }, 'id-7')).toBe('id-7');
  });

  it('keeps each order, Coverage, policy and policy version apart', async () => {
    const s = await store();
    expect(await s.assertionFor(KEY, COVERED, 'base')).toBe('base');
    const others: AssertionKey[] = [
      { ...KEY, orderId: 'mr-2' },
      { ...KEY, coverage: 'Coverage/cov-2' },
      { ...KEY, policy: 'blinatumomab-single-agent' },
      { ...KEY, policyVersion: '2025-01-01' },
      // Parts that would run together if the key were a plain concatenation.
      { ...KEY, orderId: 'mr-1Coverage/cov-1', coverage: '' },
    ];
    for (const [i, k] of others.entries()) {
      expect(await s.assertionFor(k, COVERED, `other-${i}`)).toBe(`other-${i}`);
    }
    expect(await s.assertionFor(KEY, COVERED, 'later')).toBe('base');
  });

  it('survives a restart on the same data dir, whatever CDS_AUDIT says, in an append-only journal', async () => {
    const first = await store({ audit: false });
    await first.assertionFor(KEY, COVERED, 'id-1');
    await first.assertionFor({ ...KEY, orderId: 'mr-2' }, NOT_COVERED, 'id-2');
    await first.assertionFor({ ...KEY, orderId: 'mr-2' }, COVERED, 'id-3');
    await first.close();
    const hash = (k: AssertionKey): string =>
      createHash('sha256')
        .update(JSON.stringify([k.orderId, k.coverage, k.policy, k.policyVersion]))
        .digest('hex');
    const t = '2026-11-22T10:00:00.000Z';
    const lines = journal('2026-11-22').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toEqual([
      { t, k: hash(KEY), o: ['covered', 'auth-needed'], id: 'id-1' },
      { t, k: hash({ ...KEY, orderId: 'mr-2' }), o: ['not-covered', ''], id: 'id-2' },
      { t, k: hash({ ...KEY, orderId: 'mr-2' }), o: ['covered', 'auth-needed'], id: 'id-3' },
    ]);
    expect(fs.statSync(path.join(dir, 'assertions', '2026-11-22.jsonl')).mode & 0o777).toBe(0o600);

    clock += 3 * DAY_MS;
    const second = await store({ audit: true });
    expect(await second.assertionFor(KEY, COVERED, 'x')).toBe('id-1');
    expect(await second.assertionFor({ ...KEY, orderId: 'mr-2' }, COVERED, 'y')).toBe('id-3');
    // The replaced id is not restored after a restart either.
    expect(await second.assertionFor({ ...KEY, orderId: 'mr-2' }, NOT_COVERED, 'z')).toBe('z');
  });

  it('writes a bounded line whatever the key holds (the key is hashed)', async () => {
    const s = await store();
    const huge: AssertionKey = { ...KEY, orderId: 'x'.repeat(100000), coverage: `Coverage/${'y'.repeat(100000)}` };
    expect(await s.assertionFor(huge, COVERED, 'id-huge')).toBe('id-huge');
    expect(await s.assertionFor(huge, COVERED, 'other')).toBe('id-huge');
    const [line] = journal('2026-11-22');
    expect(line?.length).toBeLessThan(200);
    expect(line).not.toContain('xxxx');
  });

  it('writes a kept id again once a day, so the retention counts from its last use', async () => {
    const s = await store({ retentionDays: 10 });
    await s.assertionFor(KEY, COVERED, 'id-1');
    await s.assertionFor(KEY, COVERED, 'again');
    expect(journal('2026-11-22')).toHaveLength(1);
    clock += 8 * DAY_MS;
    expect(await s.assertionFor(KEY, COVERED, 'x')).toBe('id-1');
    await s.assertionFor(KEY, COVERED, 'x');
    await s.flush();
    expect(journal('2026-11-30')).toHaveLength(1);
    expect(JSON.parse(journal('2026-11-30')[0]!)).toMatchObject({ id: 'id-1', o: ['covered', 'auth-needed'] });
    await s.assertionFor({ ...KEY, orderId: 'unused' }, COVERED, 'unused-1');
    await s.close();

    // 15 days after the first use, 7 after the last: the first day file is gone, the id kept.
    clock = START + 15 * DAY_MS;
    const later = await store({ retentionDays: 10 });
    expect(fs.existsSync(path.join(dir, 'assertions', '2026-11-22.jsonl'))).toBe(false);
    expect(await later.assertionFor(KEY, COVERED, 'y')).toBe('id-1');
    await later.close();

    // Past the retention since its last use, an assertion is forgotten.
    clock = START + 30 * DAY_MS;
    const much = await store({ retentionDays: 10 });
    expect(await much.assertionFor({ ...KEY, orderId: 'unused' }, COVERED, 'unused-2')).toBe('unused-2');
  });

  it('forgets, at the daily sweep, what only the deleted day files held', async () => {
    const s = await store({ retentionDays: 2 });
    await s.assertionFor(KEY, COVERED, 'id-1');
    clock += 5 * DAY_MS;
    await s.applyRetention();
    expect(await s.assertionFor(KEY, COVERED, 'id-2')).toBe('id-2');
  });

  it('skips a line torn by a crash and appends after it on a line of its own', async () => {
    const first = await store();
    await first.assertionFor(KEY, COVERED, 'id-1');
    await first.close();
    fs.appendFileSync(path.join(dir, 'assertions', '2026-11-22.jsonl'), '{"t":"2026-11-22T10:00:01Z","k":["mr-9"');
    const second = await store();
    expect(await second.assertionFor(KEY, COVERED, 'x')).toBe('id-1');
    expect(await second.assertionFor({ ...KEY, orderId: 'mr-9' }, COVERED, 'id-9')).toBe('id-9');
    await second.close();
    const third = await store();
    expect(await third.assertionFor({ ...KEY, orderId: 'mr-9' }, COVERED, 'y')).toBe('id-9');
    expect(await third.assertionFor(KEY, COVERED, 'z')).toBe('id-1');
  });

  it('gives concurrent calls for one key one id', async () => {
    const s = await store();
    const ids = await Promise.all(Array.from({ length: 40 }, (_, i) => s.assertionFor(KEY, COVERED, `fresh-${i}`)));
    expect(new Set(ids)).toEqual(new Set(['fresh-0']));
    expect(journal('2026-11-22')).toHaveLength(1);
  });

  it('rejects when the id cannot be written, and keeps nothing it could not write', async () => {
    const s = await store();
    await s.assertionFor(KEY, COVERED, 'id-1');
    // Tomorrow's journal cannot be created: a folder stands where the file would go.
    clock += DAY_MS;
    fs.mkdirSync(path.join(dir, 'assertions', '2026-11-23.jsonl'));
    await expect(s.assertionFor(KEY, NOT_COVERED, 'lost')).rejects.toThrow();
    // A kept id is still answered (its older line is durable); its daily rewrite failing changes nothing.
    expect(await s.assertionFor(KEY, COVERED, 'x')).toBe('id-1');
    fs.rmdirSync(path.join(dir, 'assertions', '2026-11-23.jsonl'));
    expect(await s.assertionFor(KEY, NOT_COVERED, 'id-2')).toBe('id-2');
    await s.close();
    const again = await store();
    expect(await again.assertionFor(KEY, NOT_COVERED, 'y')).toBe('id-2');
  });

  it('refuses once closed', async () => {
    const s = await store();
    await s.close();
    await expect(s.assertionFor(KEY, COVERED, 'id')).rejects.toThrow(/closed/);
  });
});
