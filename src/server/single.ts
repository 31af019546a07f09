// CDS_WORKERS=1: one process serving alone, with its shared store (files or PostgreSQL) in the same process.
import type pino from 'pino';
import type { Config } from '../config';
import { ServiceMetrics } from '../metrics/metrics';
import { loadServiceFolders, ownMetrics, startService } from './service';
import { openSharedStore } from './store';
import { logListening, onStopSignal } from './shared';

/**
 * Serves in this process until SIGTERM or SIGINT, then drains and exits 0.
 * @param config - the configuration
 * @param logger - the logger
 */
export async function runSingle(config: Config, logger: pino.Logger): Promise<void> {
  const services = loadServiceFolders(config);
  const store = await openSharedStore(config, logger);
  const metrics = config.metrics ? ownMetrics(new ServiceMetrics({ processMetrics: true })) : undefined;
  const running = await startService(config, logger, store, services, metrics);
  logListening(logger, config, {
    port: running.port,
    services: running.services.map((s) => s.id),
    pids: [process.pid],
  });
  onStopSignal((signal) => {
    logger.info({ signal }, 'stopping: finishing in-flight requests');
    void running.drain().then(() => {
      logger.info('stopped');
      process.exit(0);
    });
  });
}
