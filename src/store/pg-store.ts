// The PostgreSQL SharedStore (contract sections 1 "Store" and 8), chosen by CDS_DATABASE_URL: any number of replicas,
// on any number of machines, share one database. Every operation is one statement whose outcome the database decides
// (a primary key, ON CONFLICT), so two replicas can never both accept one jti, both store one feedback item or keep
// two ids for one assertion. The schema is created and migrated at start-up (src/store/pg-migrations.ts).
//
//   cds_jti           (iss, jti) -> expires_at               replay cache; expired ids swept every minute
//   cds_audit         one row per audited call               the record as JSON plus the columns a search needs
//                                                            (time, service, hook instance, status, policy version,
//                                                            assertion ids, decisions); older than retention: deleted
//   cds_feedback      (service_id, identity) -> item         identity = sha256 of card, outcome, outcome timestamp
//   cds_issued_card   (service_id, uuid) -> issued_at        kept for the retention, whatever CDS_AUDIT says
//   cds_assertion     (order, coverage, policy, version)     the last outcome and its coverage-assertion-id
import { createHash } from 'node:crypto';
import { Pool, type PoolClient, type PoolConfig } from 'pg';
import { MIGRATIONS, type Migration } from './pg-migrations';
import { redactRequestBody } from './redact';
import type { AssertionKey, AssertionOutcome, AuditRecord, FeedbackItem, SharedStore } from './types';

export interface PgStoreOptions {
  /** CDS_DATABASE_URL (it may hold a password: never logged, never put in an error message). */
  connectionString: string;
  /** Write the audit trail (CDS_AUDIT). */
  audit: boolean;
  /** Audit rows, issued card uuids and assertions older than this many days are deleted (CDS_AUDIT_RETENTION_DAYS). */
  auditRetentionDays: number;
  /** Wall clock (tests). */
  now?: () => number;
  /** Where background failures (sweeps, dropped connections) are reported. */
  onError?: (message: string, error: unknown) => void;
  /** Most connections this process opens (default 10). */
  maxConnections?: number;
}

const DAY_MS = 24 * 60 * 60 * 1000;
const JTI_SWEEP_MS = 60 * 1000;
/** The advisory lock the migrations run under (any constant; the same in every replica). */
export const MIGRATION_LOCK = 4711002026;
const CONNECT_TIMEOUT_MS = 5000;
const QUERY_TIMEOUT_MS = 10000;

/** What neither a text nor a jsonb value can hold: NUL, and a surrogate that is not half of a pair. */
// eslint-disable-next-line no-control-regex -- NUL is exactly what must be found
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/**
 * A string PostgreSQL accepts: NUL characters and lone surrogates (valid in JSON, refused by text and jsonb) become
 * U+FFFD, so that a caller cannot make a call unrecordable (or a lookup fail) by putting one in a request.
 * @param text - any string
 */
export function storable(text: string): string {
  return text.replace(UNSTORABLE, '\ufffd');
}

/**
 * JSON text for a jsonb column, every string and member name made {@link storable}.
 * @param value - any JSON value
 */
export function storableJson(value: unknown): string {
  return JSON.stringify(value, function (this: unknown, _key: string, member: unknown): unknown {
    if (typeof member === 'string') {
      return storable(member);
    }
    if (typeof member === 'object' && member !== null && !Array.isArray(member)) {
      const names = Object.keys(member);
      if (names.some((name) => storable(name) !== name)) {
        return Object.fromEntries(names.map((name) => [storable(name), (member as Record<string, unknown>)[name]]));
      }
    }
    return member;
  });
}

/** A query parameter made storable: strings and arrays of strings; anything else as it is. */
function storableValue(value: unknown): unknown {
  if (typeof value === 'string') {
    return storable(value);
  }
  if (Array.isArray(value)) {
    return value.map((v: unknown) => (typeof v === 'string' ? storable(v) : v));
  }
  return value;
}

/**
 * Applies the migrations not yet applied, in one transaction under an advisory lock: replicas starting at once wait
 * for each other, and a migration that fails leaves the schema as it was.
 * @param client - a connected client
 * @param migrations - the migrations, in version order
 * @returns the versions applied now (empty when the schema was up to date)
 */
export async function migrate(client: PoolClient, migrations: readonly Migration[] = MIGRATIONS): Promise<number[]> {
  const applied: number[] = [];
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await client.query(
      `CREATE TABLE IF NOT EXISTS cds_schema_migrations (
         version integer PRIMARY KEY,
         name text NOT NULL,
         applied_at timestamptz NOT NULL DEFAULT now()
       )`
    );
    const done = await client.query<{ version: number }>('SELECT version FROM cds_schema_migrations');
    const have = new Set(done.rows.map((r) => r.version));
    for (const m of migrations) {
      if (have.has(m.version)) {
        continue;
      }
      await client.query(m.sql);
      await client.query('INSERT INTO cds_schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
      applied.push(m.version);
    }
    await client.query('COMMIT');
  } catch (e) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw e;
  }
  return applied;
}

/** The PostgreSQL store; create it with {@link createPgStore}. */
export class PgStore implements SharedStore {
  readonly pool: Pool;
  private readonly pending = new Set<Promise<unknown>>();
  private readonly timers: NodeJS.Timeout[] = [];
  private closed = false;
  private readonly now: () => number;

  constructor(private readonly options: PgStoreOptions) {
    this.now = options.now ?? Date.now;
    const config: PoolConfig = {
      connectionString: options.connectionString,
      max: options.maxConnections ?? 10,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      query_timeout: QUERY_TIMEOUT_MS,
      idleTimeoutMillis: 30000,
      application_name: 'blinatumomab-cds-hooks',
    };
    this.pool = new Pool(config);
    // An idle connection the server drops must not crash the process; the next query opens another.
    this.pool.on('error', (e) => this.options.onError?.('postgres connection lost', e));
  }

  /** Migrates the schema, applies the retention and starts the daily and replay-cache sweeps. */
  async open(): Promise<void> {
    const client = await this.pool.connect();
    try {
      await migrate(client);
    } finally {
      client.release();
    }
    await this.applyRetention();
    await this.sweepJtis();
    const daily = setInterval(() => {
      this.applyRetention().catch((e: unknown) => this.options.onError?.('retention failed', e));
    }, DAY_MS);
    const sweep = setInterval(() => {
      this.sweepJtis().catch((e: unknown) => this.options.onError?.('replay cache sweep failed', e));
    }, JTI_SWEEP_MS);
    daily.unref();
    sweep.unref();
    this.timers.push(daily, sweep);
  }

  async rememberJti(iss: string, jti: string, expiresAt: number): Promise<boolean> {
    // Inserted, or an expired entry taken over: accepted. A live entry: the row is left alone and nothing returns.
    const result = await this.query(
      `INSERT INTO cds_jti (iss, jti, expires_at) VALUES ($1, $2, $3)
       ON CONFLICT (iss, jti) DO UPDATE SET expires_at = EXCLUDED.expires_at WHERE cds_jti.expires_at <= $4
       RETURNING 1`,
      [iss, jti, new Date(expiresAt), new Date(this.now())]
    );
    return result.rowCount === 1;
  }

  async appendAudit(record: AuditRecord): Promise<void> {
    if (!this.options.audit) {
      return;
    }
    const safe: AuditRecord = {
      ...record,
      request: { ...record.request, body: redactRequestBody(record.request.body) },
    };
    if (safe.request.body === undefined) {
      delete safe.request.body;
    }
    // Belt and braces: an Authorization header never reaches the database, whoever built the record.
    safe.request.headers = Object.fromEntries(
      Object.entries(safe.request.headers).filter(([name]) => name.toLowerCase() !== 'authorization')
    );
    const time = Date.parse(record.time);
    // Resolves once PostgreSQL has committed the row (synchronous_commit: durable); any failure rejects.
    await this.query(
      `INSERT INTO cds_audit (time, kind, service_id, hook_instance, iss, jti, status, duration_ms, policy_id,
         policy_version, assertion_ids, decisions, abandoned, record)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
      [
        new Date(Number.isNaN(time) ? this.now() : time),
        record.kind,
        record.serviceId,
        record.hookInstance ?? null,
        record.iss ?? null,
        record.jti ?? null,
        record.response.status,
        record.durationMs,
        record.policyId ?? null,
        record.policyVersion ?? null,
        record.assertionIds ?? null,
        record.decisions === undefined ? null : storableJson(record.decisions),
        record.abandoned ?? null,
        storableJson(safe),
      ]
    );
  }

  async putFeedback(serviceId: string, item: FeedbackItem): Promise<boolean> {
    const identity = createHash('sha256')
      .update(JSON.stringify([item.card, item.outcome, item.outcomeTimestamp]))
      .digest('hex');
    const result = await this.query(
      `INSERT INTO cds_feedback (service_id, identity, card, outcome, outcome_timestamp, item, stored_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (service_id, identity) DO NOTHING`,
      [serviceId, identity, item.card, item.outcome, item.outcomeTimestamp, storableJson(item), new Date(this.now())]
    );
    return result.rowCount === 1;
  }

  async rememberCards(serviceId: string, uuids: string[]): Promise<void> {
    if (uuids.length === 0) {
      return;
    }
    await this.query(
      `INSERT INTO cds_issued_card (service_id, uuid, issued_at)
       SELECT $1, u, $3 FROM unnest($2::text[]) AS u
       ON CONFLICT (service_id, uuid) DO UPDATE SET issued_at = EXCLUDED.issued_at`,
      [serviceId, [...new Set(uuids)], new Date(this.now())]
    );
  }

  async isIssuedCard(serviceId: string, uuid: string): Promise<boolean> {
    const result = await this.query(
      'SELECT 1 FROM cds_issued_card WHERE service_id = $1 AND uuid = $2 AND issued_at >= $3',
      [serviceId, uuid, this.oldestKept()]
    );
    return result.rowCount === 1;
  }

  async assertionFor(key: AssertionKey, outcome: AssertionOutcome, fresh: string): Promise<string> {
    // One statement: the row is locked while it is compared, so concurrent callers with the same key and outcome
    // all get the one id. An entry past the retention counts as absent.
    const result = await this.query<{ assertion_id: string }>(
      `INSERT INTO cds_assertion (order_id, coverage, policy, policy_version, covered, pa_needed, assertion_id,
         updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
       ON CONFLICT (order_id, coverage, policy, policy_version) DO UPDATE SET
         assertion_id = CASE
           WHEN cds_assertion.covered = EXCLUDED.covered AND cds_assertion.pa_needed = EXCLUDED.pa_needed
             AND cds_assertion.updated_at >= $9
           THEN cds_assertion.assertion_id ELSE EXCLUDED.assertion_id END,
         covered = EXCLUDED.covered,
         pa_needed = EXCLUDED.pa_needed,
         updated_at = EXCLUDED.updated_at
       RETURNING assertion_id`,
      [
        key.orderId,
        key.coverage,
        key.policy,
        key.policyVersion,
        outcome.covered,
        outcome.paNeeded,
        fresh,
        new Date(this.now()),
        this.oldestKept(),
      ]
    );
    const id = result.rows[0]?.assertion_id;
    if (id === undefined) {
      throw new Error('shared store: the assertion was not stored');
    }
    return id;
  }

  async ready(): Promise<void> {
    // A real write (one row, updated in place): a read-only or full database is not ready.
    const result = await this.query('UPDATE cds_ready SET checked_at = $1 WHERE id = 1', [new Date(this.now())]);
    if (result.rowCount !== 1) {
      throw new Error('shared store: the readiness row is missing');
    }
  }

  async close(): Promise<void> {
    if (this.closed) {
      return;
    }
    this.closed = true;
    for (const t of this.timers.splice(0)) {
      clearInterval(t);
    }
    await Promise.allSettled([...this.pending]);
    await this.pool.end();
  }

  /** Deletes audit rows, issued card uuids and assertions older than the retention; returns how many of each. */
  async applyRetention(): Promise<{ audit: number; cards: number; assertions: number }> {
    const cutoff = this.oldestKept();
    const audit = await this.query('DELETE FROM cds_audit WHERE time < $1', [cutoff]);
    const cards = await this.query('DELETE FROM cds_issued_card WHERE issued_at < $1', [cutoff]);
    const assertions = await this.query('DELETE FROM cds_assertion WHERE updated_at < $1', [cutoff]);
    return { audit: audit.rowCount ?? 0, cards: cards.rowCount ?? 0, assertions: assertions.rowCount ?? 0 };
  }

  /** Forgets the expired jtis; returns how many. */
  async sweepJtis(): Promise<number> {
    const result = await this.query('DELETE FROM cds_jti WHERE expires_at <= $1', [new Date(this.now())]);
    return result.rowCount ?? 0;
  }

  private oldestKept(): Date {
    return new Date(this.now() - this.options.auditRetentionDays * DAY_MS);
  }

  private query<R extends Record<string, unknown> = Record<string, unknown>>(
    text: string,
    values: unknown[]
  ): Promise<{ rows: R[]; rowCount: number | null }> {
    if (this.closed) {
      return Promise.reject(new Error('shared store: closed'));
    }
    const work = this.pool.query<R>(text, values.map(storableValue));
    this.pending.add(work);
    const done = (): void => {
      this.pending.delete(work);
    };
    work.then(done, done);
    return work;
  }
}

/**
 * Creates the PostgreSQL store and opens it (migrations, retention, sweeps).
 * @param options - connection string, audit switch and retention
 */
export async function createPgStore(options: PgStoreOptions): Promise<PgStore> {
  const store = new PgStore(options);
  try {
    await store.open();
  } catch (e) {
    await store.pool.end().catch(() => undefined);
    throw new Error(`PostgreSQL store (CDS_DATABASE_URL): ${e instanceof Error ? e.message : String(e)}`);
  }
  return store;
}
