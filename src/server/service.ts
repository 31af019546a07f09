// One serving process (the only one with CDS_WORKERS=1, or one cluster worker): load the services, build the app,
// listen, and on request drain: stop accepting, finish the requests in flight, close the store.
import http, { type Server, type ServerResponse } from 'node:http';
import type pino from 'pino';
import type { Config } from '../config';
import { buildQuestionnaire } from '../cards/questionnaire';
import { createHookHandler } from '../hooks/pipeline';
import { buildCdsServices } from '../hooks/services';
import { createApp } from '../http/app';
import { loadServices } from '../policy/load';
import { ServiceMetrics } from '../metrics/metrics';
import type { AppMetrics } from '../http/app';
import type { LoadedService } from '../policy/types';
import type { SharedStore } from '../store/types';

/** Request headers must arrive within this long (contract section 3); the whole request within CDS_REQUEST_TIMEOUT_MS. */
export const HEADERS_TIMEOUT_MS = 10000;
/** How often node checks its connections against those two limits (its default, 30 s, would let them overrun). */
const TIMEOUT_CHECK_INTERVAL_MS = 1000;

/** How long in-flight requests may run after a stop is asked for before their connections are closed. */
export const SHUTDOWN_GRACE_MS = 10000;

export interface RunningService {
  server: Server;
  /** The port actually bound. */
  port: number;
  services: LoadedService[];
  /**
   * Stops accepting connections, lets the requests in flight finish (their answers carry `Connection: close`),
   * closes idle keep-alive connections, then closes the store. Resolves when all of that is done; connections still
   * busy after `graceMs` are closed. Calling it again returns the same promise.
   */
  drain(graceMs?: number): Promise<void>;
}

/**
 * Loads the policy folders (throws with the loader's message on a bad one, or when the CDS services they make would
 * collide).
 * @param config - the configuration (CDS_SERVICES_DIR)
 */
export function loadServiceFolders(config: Config): LoadedService[] {
  const services = loadServices(config.servicesDir);
  // The services they make must be servable too (no two on one id, no payer declared twice): checked at load.
  buildCdsServices(services);
  return services;
}

/**
 * The whole application, wired exactly as it serves (the real pipeline and Questionnaires), without listening:
 * the serving process, the demo and the end-to-end tests all build it here.
 * @param config - the configuration
 * @param logger - where the per-call log lines go
 * @param store - the shared store
 * @param services - the loaded services
 * @param now - the clock (tests fix it)
 * @param metrics - what GET /metrics answers (default, when CDS_METRICS is on: this app's own counters, without
 *   process metrics); ignored when CDS_METRICS is off
 */
export function createServiceApp(
  config: Config,
  logger: pino.Logger,
  store: SharedStore,
  services: readonly LoadedService[],
  now?: () => Date,
  metrics?: AppMetrics
): ReturnType<typeof createApp> {
  const served = config.metrics ? (metrics ?? ownMetrics(new ServiceMetrics())) : undefined;
  return createApp({
    config,
    services: new Map(services.map((s) => [s.id, s])),
    cdsServices: buildCdsServices(services),
    store,
    logger,
    handleCall: createHookHandler({
      allowlist: config.fhirAllowlist,
      fhirTimeoutMs: config.fhirTimeoutMs,
      fhirMaxPages: config.fhirMaxPages,
      publicBaseUrl: config.publicBaseUrl,
      ...(served ? { observeFhir: served.recorder.observeFhir.bind(served.recorder) } : {}),
      store,
    }),
    buildQuestionnaire,
    ...(now ? { now } : {}),
    ...(served ? { metrics: served } : {}),
  });
}

/** GET /metrics answering one process's own metrics (CDS_WORKERS=1, the demo, tests). */
export function ownMetrics(recorder: ServiceMetrics): AppMetrics {
  return { recorder, text: () => recorder.render() };
}

/**
 * Builds the application over `store` and listens on `config.port` (shared with the other workers in a cluster).
 * @param config - the configuration
 * @param logger - the process's logger
 * @param store - the shared store (a FileStore alone, a ClusterStore in a worker)
 * @param services - the loaded services
 * @param metrics - what GET /metrics answers (see createServiceApp)
 */
export async function startService(
  config: Config,
  logger: pino.Logger,
  store: SharedStore,
  services: LoadedService[],
  metrics?: AppMetrics
): Promise<RunningService> {
  const app = createServiceApp(config, logger, store, services, undefined, metrics);

  // A connection too slow to send its headers within 10 s, or its whole request within CDS_REQUEST_TIMEOUT_MS, gets
  // a 408 and is closed (node's own headersTimeout and requestTimeout).
  const server: Server = http.createServer(
    {
      headersTimeout: Math.min(HEADERS_TIMEOUT_MS, config.requestTimeoutMs),
      requestTimeout: config.requestTimeoutMs,
      connectionsCheckingInterval: TIMEOUT_CHECK_INTERVAL_MS,
    },
    app
  );
  // CDS_HOST: 127.0.0.1 in development unless set; undefined (every interface) in production.
  server.listen(config.port, config.host);
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : config.port;

  let draining = false;
  let drained: Promise<void> | undefined;
  /** Answers not yet complete. */
  const inFlight = new Set<ServerResponse>();
  const closeAfterAnswer = (res: ServerResponse): void => {
    if (!res.headersSent) {
      res.setHeader('Connection', 'close');
    }
  };

  server.on('request', (_req, res: ServerResponse) => {
    inFlight.add(res);
    if (draining) {
      closeAfterAnswer(res);
    }
    res.once('close', () => {
      inFlight.delete(res);
      if (draining) {
        // The answer is out: nothing else will be read from this connection.
        setImmediate(() => server.closeIdleConnections());
      }
    });
  });

  const drain = (graceMs = SHUTDOWN_GRACE_MS): Promise<void> => {
    if (drained) {
      return drained;
    }
    draining = true;
    inFlight.forEach(closeAfterAnswer);
    drained = new Promise<void>((resolve) => {
      const force = setTimeout(() => {
        logger.warn({ inFlight: inFlight.size }, 'grace period over: closing the connections still open');
        server.closeAllConnections();
      }, graceMs);
      force.unref();
      // close() stops accepting and calls back once every connection has ended; idle keep-alive ones end now.
      server.close(() => {
        clearTimeout(force);
        store
          .close()
          .catch((e: unknown) =>
            logger.error({ err: { message: e instanceof Error ? e.message : String(e) } }, 'store close failed')
          )
          .finally(resolve);
      });
      server.closeIdleConnections();
    });
    return drained;
  };

  return { server, port, services, drain };
}
