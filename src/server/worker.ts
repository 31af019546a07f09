// A cluster worker (CDS_WORKERS > 1): serves on the port shared through the primary, with the shared store forwarded
// to the primary over IPC. Drains and exits 0 when the primary asks (or on its own SIGTERM/SIGINT).
import type pino from 'pino';
import type { Config } from '../config';
import { createClusterStore } from '../store/cluster-store';
import type { AppMetrics } from '../http/app';
import { answerMetricsSnapshots, clusterMetricsSource } from '../metrics/cluster';
import { ServiceMetrics } from '../metrics/metrics';
import { loadServiceFolders, startService } from './service';
import { READY, isShutdownMessage, onStopSignal, type ReadyMessage } from './shared';

/**
 * Serves as one worker of the cluster until the primary asks it to stop.
 * @param config - the configuration
 * @param logger - the logger
 */
export async function runWorker(config: Config, logger: pino.Logger): Promise<void> {
  const services = loadServiceFolders(config);
  const store = createClusterStore();
  let metrics: AppMetrics | undefined;
  if (config.metrics) {
    // Counted here, summed by the primary: a scrape at any worker answers for the whole cluster.
    const recorder = new ServiceMetrics({ processMetrics: true });
    answerMetricsSnapshots(recorder);
    metrics = { recorder, text: clusterMetricsSource() };
  }
  const running = await startService(config, logger, store, services, metrics);

  let stopping = false;
  const stop = (why: string): void => {
    if (stopping) {
      return;
    }
    stopping = true;
    logger.debug({ why }, 'worker stopping: finishing in-flight requests');
    void running.drain().then(() => process.exit(0));
  };
  process.on('message', (message: unknown) => {
    if (isShutdownMessage(message)) {
      stop('asked by the primary');
    }
  });
  onStopSignal((signal) => stop(signal));

  const ready: ReadyMessage = { type: READY, port: running.port, services: running.services.map((s) => s.id) };
  process.send?.(ready);
}
