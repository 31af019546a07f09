// File-backed SharedStore for one process (contract sections 1 and 8), under CDS_DATA_DIR:
//   audit/YYYY-MM-DD.jsonl                  one JSON line per audited call, by UTC day; older than retention: deleted
//   feedback/<service id>/<sha256>.json     one file per feedback item, named by the hash of its identity
//   assertions/YYYY-MM-DD.jsonl             the coverage-assertion-ids, an append-only journal (assertion-journal.ts);
//                                           kept CDS_AUDIT_RETENTION_DAYS whatever CDS_AUDIT says
//   replay/jti.log                          the JWT replay cache's journal, one line "<expires at> <sha256 of issuer
//                                           and id>" per token first seen; read back at start-up (so a token is
//                                           refused after a restart too), rewritten without the expired ids
//   cards/<service id>/<hh>/<sha256>        one empty file per card uuid issued, named by the uuid's hash (hh: its
//                                           first two digits); its mtime is when it was issued; older than the
//                                           audit retention: deleted (kept whatever CDS_AUDIT says)
// One process writes (the single process, or the cluster primary for its workers, see cluster-store.ts). Journal and
// audit lines are appended in batches, each batch with one write and one fdatasync, so a promise resolves only once
// its line is on disk; a batch that fails is cut back off the file and every one of its promises rejects.
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { AssertionJournal } from './assertion-journal';
import { redactRequestBody } from './redact';
import type { AssertionKey, AssertionOutcome, AuditRecord, FeedbackItem, SharedStore } from './types';

export interface FileStoreOptions {
  dataDir: string;
  /** Write the audit trail (CDS_AUDIT). */
  audit: boolean;
  /**
   * Audit day files and issued card uuids older than this many days are deleted at start-up and once a day
   * (CDS_AUDIT_RETENTION_DAYS).
   */
  auditRetentionDays: number;
  /** Wall clock (tests). */
  now?: () => number;
  /** Where background failures (retention sweep, journal compaction) are reported. */
  onError?: (message: string, error: unknown) => void;
}

const DAY_MS = 24 * 60 * 60 * 1000;
const JTI_SWEEP_MS = 60 * 1000;
const AUDIT_FILE = /^(\d{4}-\d{2}-\d{2})\.jsonl$/;
const JOURNAL_LINE = /^(\d{1,16}) ([0-9a-f]{64})$/;
const HASH_NAME = /^[0-9a-f]{64}$/;
/** The replay journal is rewritten when it holds this many more lines than live ids (and twice as many). */
const JOURNAL_SLACK = 1000;

type Queued =
  | { kind: 'append'; file: string; data: string; resolve: () => void; reject: (e: unknown) => void }
  | { kind: 'task'; run: () => Promise<void>; resolve: () => void; reject: (e: unknown) => void };

/**
 * Appends lines to files, one batch at a time: the lines waiting when a batch starts are written together (one
 * write and one fdatasync per file) and their promises resolve once the data is on disk. Tasks (a journal rewrite)
 * run alone, between batches, in the order they were queued.
 */
class Appender {
  private readonly queue: Queued[] = [];
  private busy = false;

  append(file: string, data: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ kind: 'append', file, data, resolve, reject });
      this.kick();
    });
  }

  task(run: () => Promise<void>): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ kind: 'task', run, resolve, reject });
      this.kick();
    });
  }

  private kick(): void {
    if (this.busy || this.queue.length === 0) {
      return;
    }
    this.busy = true;
    const head = this.queue[0];
    let work: Promise<void>;
    if (head?.kind === 'task') {
      this.queue.shift();
      work = head.run().then(head.resolve, head.reject);
    } else {
      const batch: Array<Extract<Queued, { kind: 'append' }>> = [];
      while (this.queue[0]?.kind === 'append') {
        batch.push(this.queue.shift() as Extract<Queued, { kind: 'append' }>);
      }
      work = writeBatch(batch);
    }
    void work.finally(() => {
      this.busy = false;
      this.kick();
    });
  }
}

async function writeBatch(batch: Array<Extract<Queued, { kind: 'append' }>>): Promise<void> {
  const byFile = new Map<string, Array<Extract<Queued, { kind: 'append' }>>>();
  for (const entry of batch) {
    const list = byFile.get(entry.file) ?? [];
    list.push(entry);
    byFile.set(entry.file, list);
  }
  for (const [file, entries] of byFile) {
    try {
      await appendDurably(
        file,
        entries.map((e) => e.data)
      );
      for (const e of entries) {
        e.resolve();
      }
    } catch (error) {
      for (const e of entries) {
        e.reject(error);
      }
    }
  }
}

/** Appends and syncs; on a failure, cuts the file back to its former length so that no partial line stays. */
async function appendDurably(file: string, data: string[]): Promise<void> {
  const handle = await fs.open(file, 'a', 0o600);
  let size: number | undefined;
  try {
    size = (await handle.stat()).size;
    await handle.appendFile(data.join(''), 'utf8');
    await handle.datasync();
  } catch (error) {
    if (size !== undefined) {
      await handle.truncate(size).catch(() => undefined);
    }
    throw error;
  } finally {
    await handle.close().catch(() => undefined);
  }
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** One folder name for a service id, whatever it holds ('/' and '.' encoded, so '..' cannot climb out). */
function serviceFolder(serviceId: string): string {
  return encodeURIComponent(serviceId).replace(/\./g, '%2E');
}

/** The single-process store; create it with {@link createFileStore}. */
export class FileStore implements SharedStore {
  /** sha256(issuer NUL jti) -> expires at (epoch ms). */
  private readonly jtis = new Map<string, number>();
  /** Lines in the replay journal (live and expired). */
  private journalLines = 0;
  private readonly pending = new Set<Promise<unknown>>();
  private readonly appender = new Appender();
  private readonly cardFolders = new Set<string>();
  private readonly timers: NodeJS.Timeout[] = [];
  private closed = false;
  private readonly now: () => number;
  private readonly assertions: AssertionJournal;

  constructor(private readonly options: FileStoreOptions) {
    this.now = options.now ?? Date.now;
    this.assertions = new AssertionJournal({
      dir: path.join(options.dataDir, 'assertions'),
      retentionDays: options.auditRetentionDays,
      now: this.now,
      append: (file, data) => this.appender.append(file, data),
    });
  }

  get auditDir(): string {
    return path.join(this.options.dataDir, 'audit');
  }

  get feedbackDir(): string {
    return path.join(this.options.dataDir, 'feedback');
  }

  get replayJournal(): string {
    return path.join(this.options.dataDir, 'replay', 'jti.log');
  }

  get cardsDir(): string {
    return path.join(this.options.dataDir, 'cards');
  }

  /**
   * Creates the folders, reads the replay journal back, applies the retention and starts the daily and replay-cache
   * sweeps.
   */
  async open(): Promise<void> {
    await fs.mkdir(this.feedbackDir, { recursive: true });
    await fs.mkdir(this.cardsDir, { recursive: true });
    await fs.mkdir(path.dirname(this.replayJournal), { recursive: true });
    if (this.options.audit) {
      await fs.mkdir(this.auditDir, { recursive: true });
    }
    await this.loadJournal();
    await this.applyAuditRetention();
    await this.assertions.open();
    // The card uuids may be many files: swept in the background, so that start-up does not wait for it.
    void this.track(this.sweepCards()).catch((e: unknown) =>
      this.options.onError?.('issued cards retention failed', e)
    );
    const daily = setInterval(() => {
      this.applyRetention().catch((e: unknown) => this.options.onError?.('audit retention failed', e));
      this.sweepCards().catch((e: unknown) => this.options.onError?.('issued cards retention failed', e));
    }, DAY_MS);
    const sweep = setInterval(() => {
      this.sweepJtis().catch((e: unknown) => this.options.onError?.('replay journal rewrite failed', e));
    }, JTI_SWEEP_MS);
    daily.unref();
    sweep.unref();
    this.timers.push(daily, sweep);
  }

  rememberJti(iss: string, jti: string, expiresAt: number): Promise<boolean> {
    if (this.closed) {
      return Promise.reject(new Error('store closed'));
    }
    const key = sha256(`${iss}\u0000${jti}`);
    const now = this.now();
    const seen = this.jtis.get(key);
    if (seen !== undefined && seen > now) {
      return Promise.resolve(false);
    }
    // Taken at once, so a concurrent second use is refused while the first is being written.
    this.jtis.set(key, expiresAt);
    this.journalLines += 1;
    const write = this.appender.append(this.replayJournal, `${Math.max(0, Math.trunc(expiresAt))} ${key}\n`).then(
      () => true,
      (error: unknown) => {
        // Not on disk: forget it, so that the store says nothing it could not keep after a restart.
        if (this.jtis.get(key) === expiresAt) {
          this.jtis.delete(key);
        }
        throw error;
      }
    );
    if (this.jtis.size > 100000) {
      this.sweepJtis().catch((e: unknown) => this.options.onError?.('replay journal rewrite failed', e));
    }
    return this.track(write);
  }

  appendAudit(record: AuditRecord): Promise<void> {
    if (!this.options.audit) {
      return Promise.resolve();
    }
    if (this.closed) {
      return Promise.reject(new Error('store closed'));
    }
    const safe: AuditRecord = {
      ...record,
      request: { ...record.request, body: redactRequestBody(record.request.body) },
    };
    // Belt and braces: an Authorization header never reaches the disk, whoever built the record.
    const headers = Object.fromEntries(
      Object.entries(safe.request.headers).filter(([name]) => name.toLowerCase() !== 'authorization')
    );
    safe.request.headers = headers;
    const line = `${JSON.stringify(safe)}\n`;
    const file = path.join(this.auditDir, `${dayOf(record.time, this.now())}.jsonl`);
    return this.track(this.appender.append(file, line));
  }

  async putFeedback(serviceId: string, item: FeedbackItem): Promise<boolean> {
    const identity = sha256(JSON.stringify([item.card, item.outcome, item.outcomeTimestamp]));
    const dir = path.join(this.feedbackDir, serviceFolder(serviceId));
    const target = path.join(dir, `${identity}.json`);
    const work = (async (): Promise<boolean> => {
      await fs.mkdir(dir, { recursive: true });
      // Write a private temporary file, then link it into place: link() fails with EEXIST atomically, so a
      // duplicate is detected even across processes, and a reader never sees a half-written item.
      const tmp = path.join(dir, `.${identity}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
      const content = JSON.stringify({ serviceId, storedAt: new Date(this.now()).toISOString(), item });
      await fs.writeFile(tmp, content, { flag: 'wx', mode: 0o600 });
      try {
        await fs.link(tmp, target);
        return true;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EEXIST') {
          return false;
        }
        throw e;
      } finally {
        await fs.rm(tmp, { force: true });
      }
    })();
    return this.track(work);
  }

  assertionFor(key: AssertionKey, outcome: AssertionOutcome, fresh: string): Promise<string> {
    if (this.closed) {
      return Promise.reject(new Error('file store: closed'));
    }
    return this.track(this.assertions.assertionFor(key, outcome, fresh));
  }

  rememberCards(serviceId: string, uuids: string[]): Promise<void> {
    if (this.closed) {
      return Promise.reject(new Error('store closed'));
    }
    const issuedAt = this.now() / 1000;
    const work = Promise.all(
      [...new Set(uuids)].map(async (uuid) => {
        const file = this.cardFile(serviceId, uuid);
        const dir = path.dirname(file);
        if (!this.cardFolders.has(dir)) {
          await fs.mkdir(dir, { recursive: true });
          this.cardFolders.add(dir);
        }
        await fs.writeFile(file, '', { mode: 0o600 });
        await fs.utimes(file, issuedAt, issuedAt);
      })
    ).then(() => undefined);
    return this.track(work);
  }

  async isIssuedCard(serviceId: string, uuid: string): Promise<boolean> {
    try {
      const stat = await fs.stat(this.cardFile(serviceId, uuid));
      return stat.isFile() && stat.mtimeMs >= this.now() - this.options.auditRetentionDays * DAY_MS;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
        return false;
      }
      throw e;
    }
  }

  /** Resolves when a file can be created (and removed) in the data folder. */
  async ready(): Promise<void> {
    if (this.closed) {
      throw new Error('store closed');
    }
    const probe = path.join(this.options.dataDir, `.ready.${process.pid}.${randomBytes(6).toString('hex')}`);
    await fs.writeFile(probe, 'ready', { flag: 'wx', mode: 0o600 });
    await fs.rm(probe, { force: true });
  }

  /** Waits for the writes under way (not part of SharedStore: tests and shutdown use it). */
  async flush(): Promise<void> {
    await Promise.allSettled([...this.pending]);
    await this.assertions.flush();
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers.splice(0)) {
      clearInterval(t);
    }
    await Promise.allSettled([...this.pending]);
    await this.assertions.flush();
  }

  /**
   * Deletes audit and assertion day files older than the retention (assertions last written in them are
   * forgotten); returns the names deleted (the assertion journal's as `assertions/<name>`).
   */
  async applyRetention(): Promise<string[]> {
    const audit = await this.applyAuditRetention();
    const assertions = await this.assertions.applyRetention();
    return [...audit, ...assertions.map((name) => `assertions/${name}`)];
  }

  private async applyAuditRetention(): Promise<string[]> {
    let names: string[];
    try {
      names = await fs.readdir(this.auditDir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
        return [];
      }
      throw e;
    }
    const oldestKept = new Date(this.now() - this.options.auditRetentionDays * DAY_MS).toISOString().slice(0, 10);
    const deleted: string[] = [];
    for (const name of names) {
      const day = AUDIT_FILE.exec(name)?.[1];
      if (day && day < oldestKept) {
        await fs.rm(path.join(this.auditDir, name), { force: true });
        deleted.push(name);
      }
    }
    return deleted;
  }

  /** Deletes the issued card uuids older than the retention; returns how many. */
  async sweepCards(): Promise<number> {
    const oldest = this.now() - this.options.auditRetentionDays * DAY_MS;
    let deleted = 0;
    for (const service of await readdirOrEmpty(this.cardsDir)) {
      for (const bucket of await readdirOrEmpty(path.join(this.cardsDir, service))) {
        const dir = path.join(this.cardsDir, service, bucket);
        for (const name of await readdirOrEmpty(dir)) {
          if (!HASH_NAME.test(name)) {
            continue;
          }
          const file = path.join(dir, name);
          const stat = await fs.stat(file).catch(() => undefined);
          if (stat && stat.mtimeMs < oldest) {
            await fs.rm(file, { force: true });
            deleted += 1;
          }
        }
      }
    }
    return deleted;
  }

  /** Forgets the expired ids, and rewrites the journal when it holds many more lines than live ids. */
  async sweepJtis(): Promise<void> {
    const now = this.now();
    for (const [key, expiresAt] of this.jtis) {
      if (expiresAt <= now) {
        this.jtis.delete(key);
      }
    }
    if (this.journalLines <= 2 * this.jtis.size + JOURNAL_SLACK || this.closed) {
      return;
    }
    await this.track(
      this.appender.task(async () => {
        // Runs between batches: every id appended so far is in the map, so the rewrite loses none.
        const live = [...this.jtis].filter(([, expiresAt]) => expiresAt > this.now());
        const tmp = `${this.replayJournal}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
        const handle = await fs.open(tmp, 'wx', 0o600);
        try {
          await handle.writeFile(live.map(([key, expiresAt]) => `${expiresAt} ${key}\n`).join(''), 'utf8');
          await handle.datasync();
        } finally {
          await handle.close();
        }
        try {
          await fs.rename(tmp, this.replayJournal);
        } catch (e) {
          await fs.rm(tmp, { force: true });
          throw e;
        }
        this.journalLines = live.length;
      })
    );
  }

  /** Reads the replay journal back (a torn last line, from a crash mid-write, is ignored). */
  private async loadJournal(): Promise<void> {
    let text: string;
    try {
      text = await fs.readFile(this.replayJournal, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
        return;
      }
      throw e;
    }
    const now = this.now();
    let lines = 0;
    for (const line of text.split('\n')) {
      const m = JOURNAL_LINE.exec(line);
      if (!m) {
        continue;
      }
      lines += 1;
      const expiresAt = Number(m[1]);
      const key = m[2] as string;
      if (expiresAt > now && expiresAt > (this.jtis.get(key) ?? 0)) {
        this.jtis.set(key, expiresAt);
      }
    }
    this.journalLines = lines;
  }

  private cardFile(serviceId: string, uuid: string): string {
    const hash = sha256(uuid);
    return path.join(this.cardsDir, serviceFolder(serviceId), hash.slice(0, 2), hash);
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.pending.add(p);
    const done = (): void => {
      this.pending.delete(p);
    };
    void p.then(done, done);
    return p;
  }
}

async function readdirOrEmpty(dir: string): Promise<string[]> {
  try {
    return await fs.readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') {
      return [];
    }
    throw e;
  }
}

/** The UTC day of an ISO time, or of `fallback` (epoch ms) when the time is unreadable. */
function dayOf(time: string, fallback: number): string {
  const t = Date.parse(time);
  return new Date(Number.isNaN(t) ? fallback : t).toISOString().slice(0, 10);
}

/**
 * Creates and opens the file-backed store.
 * @param options - data folder, audit switch and retention
 */
export async function createFileStore(options: FileStoreOptions): Promise<FileStore> {
  const store = new FileStore(options);
  await store.open();
  return store;
}
