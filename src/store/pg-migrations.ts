// The PostgreSQL store's schema, as versioned SQL migrations applied in order at start-up (src/store/pg-store.ts).
// Each migration runs once, recorded in cds_schema_migrations; all of them run in one transaction under an advisory
// lock, so replicas starting together wait for the first and then find nothing left to do.
//
// Rules for adding one: append a new version (never edit or renumber an applied one), and keep it additive (new
// tables, columns with defaults, indexes), so that replicas still running the previous version keep working during
// a rolling update.

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'replay cache, audit, feedback, issued cards, assertions',
    sql: `
CREATE TABLE cds_jti (
  iss text NOT NULL,
  jti text NOT NULL,
  expires_at timestamptz NOT NULL,
  PRIMARY KEY (iss, jti)
);
CREATE INDEX cds_jti_expires_at ON cds_jti (expires_at);

CREATE TABLE cds_audit (
  id bigserial PRIMARY KEY,
  time timestamptz NOT NULL,
  kind text NOT NULL,
  service_id text NOT NULL,
  hook_instance text,
  iss text,
  jti text,
  status integer NOT NULL,
  duration_ms double precision NOT NULL,
  policy_id text,
  policy_version text,
  assertion_ids text[],
  decisions jsonb,
  abandoned boolean,
  record jsonb NOT NULL
);
CREATE INDEX cds_audit_time ON cds_audit (time);
CREATE INDEX cds_audit_hook_instance ON cds_audit (hook_instance);

CREATE TABLE cds_feedback (
  service_id text NOT NULL,
  identity text NOT NULL,
  card text NOT NULL,
  outcome text NOT NULL,
  outcome_timestamp text NOT NULL,
  item jsonb NOT NULL,
  stored_at timestamptz NOT NULL,
  PRIMARY KEY (service_id, identity)
);

CREATE TABLE cds_issued_card (
  service_id text NOT NULL,
  uuid text NOT NULL,
  issued_at timestamptz NOT NULL,
  PRIMARY KEY (service_id, uuid)
);
CREATE INDEX cds_issued_card_issued_at ON cds_issued_card (issued_at);

CREATE TABLE cds_assertion (
  order_id text NOT NULL,
  coverage text NOT NULL,
  policy text NOT NULL,
  policy_version text NOT NULL,
  covered text NOT NULL,
  pa_needed text NOT NULL,
  assertion_id text NOT NULL,
  updated_at timestamptz NOT NULL,
  PRIMARY KEY (order_id, coverage, policy, policy_version)
);
CREATE INDEX cds_assertion_updated_at ON cds_assertion (updated_at);

CREATE TABLE cds_ready (
  id integer PRIMARY KEY CHECK (id = 1),
  checked_at timestamptz NOT NULL
);
INSERT INTO cds_ready (id, checked_at) VALUES (1, now());
`,
  },
  {
    // A B-tree entry holds at most about 2.7 kB, so a long hookInstance (any string a client sends) made its audit row
    // fail to insert: a hash index has no such limit and still serves `WHERE hook_instance = '…'`.
    version: 2,
    name: 'hash index on the audit hook instance',
    sql: `
DROP INDEX cds_audit_hook_instance;
CREATE INDEX cds_audit_hook_instance ON cds_audit USING hash (hook_instance);
`,
  },
];
