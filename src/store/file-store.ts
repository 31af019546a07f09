// File-backed SharedStore for one process (contract section 8), under CDS_DATA_DIR:
//   audit/YYYY-MM-DD.jsonl                  one JSON line per audited call, by UTC day; older than retention: deleted
//   feedback/<service id>/<sha256>.json     one file per feedback item, named by the hash of its identity
//   assertions/YYYY-MM-DD.jsonl             the coverage-assertion-ids, an append-only journal (assertion-journal.ts);
//                                           kept CDS_AUDIT_RETENTION_DAYS whatever CDS_AUDIT says
// The replay cache lives in memory, so it is correct for one process only: a cluster-wide store must replace it.
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
  /** Day files older than this many days are deleted at start-up and once a day (CDS_AUDIT_RETENTION_DAYS). */
  auditRetentionDays: number;
  /** Wall clock (tests). */
  now?: () => number;
  /** Where background failures (retention sweep) are reported. */
  onError?: (message: string, error: unknown) => void;
}

const DAY_MS = 24 * 60 * 60 * 1000;
const JTI_SWEEP_MS = 60 * 1000;
const AUDIT_FILE = /^(\d{4}-\d{2}-\d{2})\.jsonl$/;

/** The single-process store; create it with {@link createFileStore}. */
export class FileStore implements SharedStore {
  private readonly jtis = new Map<string, number>();
  private readonly pending = new Set<Promise<unknown>>();
  private auditChain: Promise<void> = Promise.resolve();
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
    });
  }

  get auditDir(): string {
    return path.join(this.options.dataDir, 'audit');
  }

  get feedbackDir(): string {
    return path.join(this.options.dataDir, 'feedback');
  }

  /** Creates the folders, applies the audit retention and starts the daily and replay-cache sweeps. */
  async open(): Promise<void> {
    await fs.mkdir(this.feedbackDir, { recursive: true });
    if (this.options.audit) {
      await fs.mkdir(this.auditDir, { recursive: true });
    }
    await this.applyAuditRetention();
    await this.assertions.open();
    const daily = setInterval(() => {
      this.applyRetention().catch((e: unknown) => this.options.onError?.('audit retention failed', e));
    }, DAY_MS);
    const sweep = setInterval(() => this.sweepJtis(), JTI_SWEEP_MS);
    daily.unref();
    sweep.unref();
    this.timers.push(daily, sweep);
  }

  rememberJti(iss: string, jti: string, expiresAt: number): Promise<boolean> {
    const key = `${iss}\u0000${jti}`;
    const now = this.now();
    const seen = this.jtis.get(key);
    if (seen !== undefined && seen > now) {
      return Promise.resolve(false);
    }
    this.jtis.set(key, expiresAt);
    if (this.jtis.size > 100000) {
      this.sweepJtis();
    }
    return Promise.resolve(true);
  }

  appendAudit(record: AuditRecord): Promise<void> {
    if (!this.options.audit || this.closed) {
      return Promise.resolve();
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
    // One writer at a time, so lines never interleave.
    const write = this.auditChain.then(() => fs.appendFile(file, line, { encoding: 'utf8', mode: 0o600 }));
    this.auditChain = write.catch(() => undefined);
    return this.track(write);
  }

  async putFeedback(serviceId: string, item: FeedbackItem): Promise<boolean> {
    const identity = createHash('sha256')
      .update(JSON.stringify([item.card, item.outcome, item.outcomeTimestamp]))
      .digest('hex');
    // One folder name, whatever the id holds ('/' and '.' encoded, so '..' cannot climb out).
    const dir = path.join(this.feedbackDir, encodeURIComponent(serviceId).replace(/\./g, '%2E'));
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

  /** Waits for the writes under way (not part of SharedStore: tests and shutdown use it). */
  async flush(): Promise<void> {
    await Promise.allSettled([...this.pending]);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers.splice(0)) {
      clearInterval(t);
    }
    await Promise.allSettled([...this.pending]);
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

  private sweepJtis(): void {
    const now = this.now();
    for (const [key, expiresAt] of this.jtis) {
      if (expiresAt <= now) {
        this.jtis.delete(key);
      }
    }
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
