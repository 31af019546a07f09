// The last coverage-assertion-id per order, Coverage, policy and policy version (contract section 5), for the file
// store: kept in memory and in an append-only journal under CDS_DATA_DIR, one file per UTC day,
//   assertions/YYYY-MM-DD.jsonl   one JSON line per stored assertion: {"t", "k": sha256 of [order id, Coverage,
//                                 policy, version], "o": [covered, pa-needed], "id"}
// The key is hashed: a line has a bounded size whatever ids a request carries, and names no order or Coverage.
// replayed at start-up (the last line of a key wins). A kept id is written again, at most once a day per key, so
// that an assertion in use is never dropped by the retention (CDS_AUDIT_RETENTION_DAYS): day files older than it are
// deleted, and the assertions last written in them are forgotten. One writer (this process; with several workers the
// cluster primary); lines go through the file store's appender (batched, one fdatasync per batch, a failed batch cut
// back off the file), so an id is answered only once its line is on disk; a line torn by a crash is skipped on
// replay.
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { AssertionKey, AssertionOutcome } from './types';

const DAY_MS = 24 * 60 * 60 * 1000;
const JOURNAL_FILE = /^(\d{4}-\d{2}-\d{2})\.jsonl$/;

interface Entry {
  covered: string;
  paNeeded: string;
  id: string;
  /** The UTC day of the journal line that last wrote it. */
  day: string;
  /** Settles when the line that wrote it is on disk (rejects when that write failed). */
  durable: Promise<void>;
}

/** The hash of the key's four parts (as a JSON array, so that no two keys run together). */
function keyOf(k: AssertionKey): string {
  return createHash('sha256')
    .update(JSON.stringify([k.orderId, k.coverage, k.policy, k.policyVersion]))
    .digest('hex');
}

const KEY_HASH = /^[0-9a-f]{64}$/;

function isText(v: unknown): v is string {
  return typeof v === 'string';
}

/** One journal line, or undefined when it is torn or not ours. */
function readLine(line: string): { key: string; covered: string; paNeeded: string; id: string } | undefined {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) {
    return undefined;
  }
  const { k, o, id } = v as { k?: unknown; o?: unknown; id?: unknown };
  if (typeof k !== 'string' || !KEY_HASH.test(k) || !Array.isArray(o) || o.length !== 2) {
    return undefined;
  }
  const [covered, paNeeded] = o as unknown[];
  if (!isText(covered) || !isText(paNeeded) || !isText(id) || id === '') {
    return undefined;
  }
  return { key: k, covered, paNeeded, id };
}

export interface AssertionJournalOptions {
  /** The folder of the day files (CDS_DATA_DIR/assertions). */
  dir: string;
  retentionDays: number;
  now: () => number;
  /** Appends `data` to `file` and resolves once it is on disk (the file store's appender); appends run in order. */
  append: (file: string, data: string) => Promise<void>;
}

/** The assertion memory of one process; {@link open} it before use. */
export class AssertionJournal {
  private readonly entries = new Map<string, Entry>();
  /** The appends not yet settled (flush). */
  private readonly unsettled = new Set<Promise<void>>();

  constructor(private readonly options: AssertionJournalOptions) {}

  /** Creates the folder, applies the retention and replays the day files kept, oldest first. */
  async open(): Promise<void> {
    await fs.mkdir(this.options.dir, { recursive: true });
    await this.applyRetention();
    const days = (await fs.readdir(this.options.dir))
      .map((name) => JOURNAL_FILE.exec(name)?.[1])
      .filter((d): d is string => d !== undefined)
      .sort();
    for (const day of days) {
      const file = this.fileOf(day);
      const text = await fs.readFile(file, 'utf8');
      for (const line of text.split('\n')) {
        const read = line === '' ? undefined : readLine(line);
        if (read) {
          const { key, ...rest } = read;
          this.entries.set(key, { ...rest, day, durable: Promise.resolve() });
        }
      }
      if (text !== '' && !text.endsWith('\n')) {
        // A line torn by a crash: end it, so the next append starts a line of its own.
        await fs.appendFile(file, '\n', 'utf8');
      }
    }
  }

  /** The stored id when `outcome` equals the last stored for `key`; else `fresh`, stored. Resolves once durable. */
  async assertionFor(key: AssertionKey, outcome: AssertionOutcome, fresh: string): Promise<string> {
    const k = keyOf(key);
    const today = this.today();
    const last = this.entries.get(k);
    if (last && last.covered === outcome.covered && last.paNeeded === outcome.paNeeded) {
      if (last.day !== today) {
        // Written again today, so that the retention counts from its last use. The id itself is already durable
        // (or about to be: awaited below), so a failure here only leaves the older line, tried again next time.
        this.record(k, { ...last, day: today }).durable.catch(() => undefined);
      }
      await last.durable;
      return last.id;
    }
    const entry = this.record(k, { covered: outcome.covered, paNeeded: outcome.paNeeded, id: fresh, day: today });
    await entry.durable;
    return fresh;
  }

  /** Deletes day files older than the retention and forgets what only they held; returns the names deleted. */
  async applyRetention(): Promise<string[]> {
    const oldestKept = new Date(this.options.now() - this.options.retentionDays * DAY_MS).toISOString().slice(0, 10);
    for (const [k, e] of this.entries) {
      if (e.day < oldestKept) {
        this.entries.delete(k);
      }
    }
    let names: string[];
    try {
      names = await fs.readdir(this.options.dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
        return [];
      }
      throw e;
    }
    const deleted: string[] = [];
    for (const name of names) {
      const day = JOURNAL_FILE.exec(name)?.[1];
      if (day && day < oldestKept) {
        await fs.rm(path.join(this.options.dir, name), { force: true });
        deleted.push(name);
      }
    }
    return deleted;
  }

  /** Waits for the appends under way. */
  async flush(): Promise<void> {
    await Promise.allSettled([...this.unsettled]);
  }

  /** Sets the entry now (later calls see it at once) and appends its line; a failed append restores the previous. */
  private record(k: string, value: Omit<Entry, 'durable'>): Entry {
    const previous = this.entries.get(k);
    const line = `${JSON.stringify({
      t: new Date(this.options.now()).toISOString(),
      k,
      o: [value.covered, value.paNeeded],
      id: value.id,
    })}\n`;
    const file = this.fileOf(value.day);
    const durable = this.options.append(file, line);
    this.unsettled.add(durable);
    const settled = (): void => {
      this.unsettled.delete(durable);
    };
    durable.then(settled, settled);
    const entry: Entry = { ...value, durable };
    this.entries.set(k, entry);
    durable.catch(() => {
      if (this.entries.get(k) === entry) {
        if (previous) {
          this.entries.set(k, previous);
        } else {
          this.entries.delete(k);
        }
      }
    });
    return entry;
  }

  private fileOf(day: string): string {
    return path.join(this.options.dir, `${day}.jsonl`);
  }

  private today(): string {
    return new Date(this.options.now()).toISOString().slice(0, 10);
  }
}
