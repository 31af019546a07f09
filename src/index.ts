// Entry point: read the environment, load the services, create the store and the app, listen. Nothing else.
import type { Server } from 'node:http';
import { createFileStore } from './store/file-store';
import { createApp } from './http/app';
import { loadConfig, type Config } from './config';
import { createLogger } from './log';
import { loadServices } from './policy/load';
import { createOrderSignHandler } from './hooks/order-sign';
import { buildQuestionnaire } from './cards/questionnaire';
import type { LoadedService } from './policy/types';

/** How long in-flight requests may run after SIGTERM/SIGINT before their connections are closed. */
const SHUTDOWN_GRACE_MS = 10000;

function fail(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(1);
}

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig(process.env);
  } catch (e) {
    fail(e instanceof Error ? e.message : String(e));
  }
  const logger = createLogger({ level: config.logLevel });

  let services: LoadedService[];
  try {
    services = loadServices(config.servicesDir);
  } catch (e) {
    // The loader names the file, the rule and the expression.
    fail(e instanceof Error ? e.message : String(e));
  }

  const store = await createFileStore({
    dataDir: config.dataDir,
    audit: config.audit,
    auditRetentionDays: config.auditRetentionDays,
    onError: (message, error) =>
      logger.error({ err: { message: error instanceof Error ? error.message : String(error) } }, message),
  });

  const app = createApp({
    config,
    services: new Map(services.map((s) => [s.id, s])),
    store,
    logger,
    handleOrderSign: createOrderSignHandler({
      allowlist: config.fhirAllowlist,
      fhirTimeoutMs: config.fhirTimeoutMs,
      fhirMaxPages: config.fhirMaxPages,
      publicBaseUrl: config.publicBaseUrl,
    }),
    buildQuestionnaire,
  });

  const server: Server = app.listen(config.port);
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  }).catch((e: unknown) => fail(`Cannot listen on port ${config.port}: ${e instanceof Error ? e.message : String(e)}`));

  logger.info(
    {
      port: config.port,
      mode: config.mode,
      publicBaseUrl: config.publicBaseUrl,
      services: services.map((s) => s.id).sort(),
      issuers: config.trustedIssuers.map((i) => i.iss),
      audit: config.audit,
      workers: config.workers,
    },
    'cds service listening'
  );
  if (!config.production) {
    logger.warn(
      'development mode: service and feedback calls without a JWT, or with one from an unconfigured issuer, are accepted'
    );
  }
  if (config.workers > 1) {
    logger.warn({ workers: config.workers }, 'CDS_WORKERS > 1 is not supported yet: running one process');
  }

  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      return;
    }
    stopping = true;
    logger.info({ signal }, 'stopping: finishing in-flight requests');
    const force = setTimeout(() => server.closeAllConnections(), SHUTDOWN_GRACE_MS);
    force.unref();
    // Stop accepting; close() waits for in-flight requests, idle keep-alive connections are closed now.
    server.close(() => {
      clearTimeout(force);
      store
        .close()
        .catch((e: unknown) => logger.error({ err: { message: String(e) } }, 'store close failed'))
        .finally(() => {
          logger.info('stopped');
          process.exit(0);
        });
    });
    server.closeIdleConnections();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((e: unknown) => fail(`Start-up failed: ${e instanceof Error ? e.message : String(e)}`));
