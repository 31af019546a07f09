// The shared store suite (test/store-suite.ts) against the PostgreSQL store, on a throwaway cluster
// (test/helpers/postgres.ts): a new database for each test.
import { createPgStore } from '../src/store/pg-store';
import type { AuditRecord } from '../src/store/types';
import { postgresAvailable, startPostgres, type ThrowawayPostgres } from './helpers/postgres';
import { describeSharedStore } from './store-suite';

jest.setTimeout(60000);

describeSharedStore('PostgreSQL store', () => {
  if (!postgresAvailable('the PostgreSQL store suite')) {
    return undefined;
  }
  let pg: ThrowawayPostgres | undefined;
  let url = '';
  const cluster = async (): Promise<ThrowawayPostgres> => {
    pg ??= await startPostgres();
    return pg;
  };
  return {
    async reset() {
      url = await (await cluster()).createDatabase();
    },
    open: (options) => createPgStore({ connectionString: url, ...options }),
    async auditRecords() {
      const db = new URL(url).pathname.slice(1);
      const rows = await (
        await cluster()
      ).sql<{ record: AuditRecord }>('SELECT record FROM cds_audit ORDER BY id', [], db);
      return rows.map((r) => r.record);
    },
    async breakAudit() {
      const db = new URL(url).pathname.slice(1);
      await (await cluster()).sql('ALTER TABLE cds_audit RENAME TO cds_audit_gone', [], db);
    },
    cleanup() {
      pg?.stop();
      return Promise.resolve();
    },
    supports: { persistentReplay: true, cards: true, assertions: true, ready: true },
  };
});
