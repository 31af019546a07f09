// The shared store a serving process opens (contract section 1, "Store"): PostgreSQL when CDS_DATABASE_URL is set
// (any number of replicas share it), else the files under CDS_DATA_DIR (one machine).
import type pino from 'pino';
import type { Config } from '../config';
import { createFileStore } from '../store/file-store';
import { createPgStore } from '../store/pg-store';
import type { SharedStore } from '../store/types';
import { reportError } from './shared';

/**
 * Opens the configured store (PostgreSQL: migrates the schema first).
 * @param config - the configuration
 * @param logger - where background failures are reported
 */
export async function openSharedStore(config: Config, logger: pino.Logger): Promise<SharedStore> {
  const onError = (message: string, error: unknown): void => reportError(logger, message, error);
  if (config.databaseUrl !== undefined) {
    return createPgStore({
      connectionString: config.databaseUrl,
      audit: config.audit,
      auditRetentionDays: config.auditRetentionDays,
      onError,
    });
  }
  return createFileStore({
    dataDir: config.dataDir,
    audit: config.audit,
    auditRetentionDays: config.auditRetentionDays,
    onError,
  });
}
