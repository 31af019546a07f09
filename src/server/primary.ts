// The cluster primary (CDS_WORKERS > 1): forks the workers, which share the listening port, and owns the one file
// store (replay cache, audit, feedback) that they reach over IPC (contract section 8). It serves no HTTP itself and
// loads no policy, so it stays small. A worker that dies unexpectedly is replaced (at most MAX_RESTARTS in
// RESTART_WINDOW_MS); a worker that fails during start-up stops everything (a bad configuration or policy folder).
// SIGTERM or SIGINT: every worker drains (stops accepting, finishes in-flight requests, exits), then the store is
// closed and the primary exits 0.
import cluster, { type Worker } from 'node:cluster';
import type pino from 'pino';
import type { Config } from '../config';
import { MetricsCollector } from '../metrics/cluster';
import { ServiceMetrics } from '../metrics/metrics';
import { serveSharedStore } from '../store/cluster-store';
import { SHUTDOWN_GRACE_MS } from './service';
import { openSharedStore } from './store';
import {
  WORKER_NODE_FLAGS,
  SHUTDOWN,
  isReadyMessage,
  logListening,
  onStopSignal,
  reportError,
  type ShutdownMessage,
} from './shared';

const MAX_RESTARTS = 5;
const RESTART_WINDOW_MS = 60000;
/** Beyond the workers' own grace period, how long the primary waits before killing a worker that has not exited. */
const KILL_MARGIN_MS = 5000;

interface WorkerState {
  worker: Worker;
  ready: boolean;
  unserve: () => void;
  unwatch: () => void;
}

/**
 * Runs the primary until SIGTERM or SIGINT (exit 0 once every worker has drained) or a start-up failure (exit 1).
 * @param config - the configuration (its `workers` is the number of workers)
 * @param logger - the logger
 */
export async function runPrimary(config: Config, logger: pino.Logger): Promise<void> {
  const store = await openSharedStore(config, logger);
  // The workers' metrics are summed here, with the primary's own process metrics (it serves no HTTP itself).
  const collector = config.metrics ? new MetricsCollector(new ServiceMetrics({ processMetrics: true })) : undefined;
  const workers = new Map<number, WorkerState>();
  const restarts: number[] = [];
  let everyoneReady = false;
  let stopping = false;
  let exitCode = 0;

  const finish = (code: number): void => {
    store
      .close()
      .catch((e: unknown) => reportError(logger, 'store close failed', e))
      .finally(() => {
        logger.info({ code }, 'stopped');
        process.exit(code);
      });
  };

  const stopAll = (code: number): void => {
    exitCode = Math.max(exitCode, code);
    if (stopping) {
      return;
    }
    stopping = true;
    if (workers.size === 0) {
      finish(exitCode);
      return;
    }
    const message: ShutdownMessage = { type: SHUTDOWN };
    for (const { worker } of workers.values()) {
      if (worker.isConnected()) {
        worker.send(message);
      } else {
        worker.process.kill('SIGTERM');
      }
    }
    const kill = setTimeout(() => {
      for (const { worker } of workers.values()) {
        logger.error({ pid: worker.process.pid }, 'worker did not stop in time: killed');
        worker.process.kill('SIGKILL');
      }
      exitCode = Math.max(exitCode, 1);
    }, SHUTDOWN_GRACE_MS + KILL_MARGIN_MS);
    kill.unref();
  };

  const fork = (): void => {
    const worker = cluster.fork();
    const state: WorkerState = {
      worker,
      ready: false,
      unserve: serveSharedStore(worker, store, (message, error) => reportError(logger, message, error)),
      unwatch: (): void => undefined,
    };
    if (collector) {
      state.unwatch = collector.attach(worker, () => state.ready);
    }
    workers.set(worker.id, state);
    worker.on('message', (message: unknown) => {
      if (!isReadyMessage(message) || state.ready) {
        return;
      }
      state.ready = true;
      if (!everyoneReady && !stopping && [...workers.values()].every((w) => w.ready)) {
        everyoneReady = true;
        logListening(logger, config, {
          port: message.port,
          services: message.services,
          pids: [...workers.values()].map((w) => w.worker.process.pid ?? 0),
        });
      }
      if (stopping && worker.isConnected()) {
        // Asked to stop while it was starting: it missed the first message.
        worker.send({ type: SHUTDOWN } satisfies ShutdownMessage);
      }
    });
  };

  cluster.on('exit', (worker, code, signal) => {
    const state = workers.get(worker.id);
    if (!state) {
      return;
    }
    state.unserve();
    state.unwatch();
    workers.delete(worker.id);
    if (stopping) {
      if (code !== 0) {
        exitCode = Math.max(exitCode, 1);
      }
      if (workers.size === 0) {
        finish(exitCode);
      }
      return;
    }
    if (!state.ready && !everyoneReady) {
      // A configuration or policy error: every worker would fail the same way.
      logger.error({ pid: worker.process.pid, code, signal }, 'a worker failed to start: stopping');
      stopAll(1);
      return;
    }
    const now = Date.now();
    while (restarts.length > 0 && (restarts[0] ?? 0) < now - RESTART_WINDOW_MS) {
      restarts.shift();
    }
    if (restarts.length >= MAX_RESTARTS) {
      logger.error({ pid: worker.process.pid, code, signal }, 'workers keep dying: stopping');
      stopAll(1);
      return;
    }
    restarts.push(now);
    logger.error({ pid: worker.process.pid, code, signal }, 'worker died unexpectedly: starting another');
    fork();
  });

  onStopSignal((signal) => {
    logger.info({ signal, workers: workers.size }, 'stopping: workers finish their in-flight requests');
    stopAll(0);
  });

  // Flags given on the command line win over ours.
  const own = WORKER_NODE_FLAGS.filter((f) => !process.execArgv.some((a) => a.startsWith(f.split('=')[0] ?? f)));
  cluster.setupPrimary({ execArgv: [...process.execArgv, ...own] });
  for (let i = 0; i < config.workers; i += 1) {
    fork();
  }
  return Promise.resolve();
}
