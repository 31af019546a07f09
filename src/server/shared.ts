// Small pieces shared by the single process, the cluster primary and its workers.
import type pino from 'pino';
import type { Config } from '../config';

/**
 * V8 settings of every serving process, which keep each one well under 150 MB RSS under load (measured: about 185 MB
 * with V8's defaults, 130 MB with the first, 110 MB with both) at no measurable cost in throughput. Old space grows by
 * 30 % over the live data before a full collection instead of up to 4x (applied at run time: V8 reads it after each
 * collection); cluster workers also get a young generation of 2 x 8 MB instead of 2 x 16 MB (a start-up flag, so it
 * reaches a single process only through its own command line).
 */
export const RUNTIME_V8_FLAGS: readonly string[] = ['--heap-growing-percent=30'];
export const WORKER_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=8'];

/** Messages between the primary and its workers (besides the shared store's, see store/cluster-store.ts). */
export const READY = 'cds:ready';
export const SHUTDOWN = 'cds:shutdown';

export interface ReadyMessage {
  type: typeof READY;
  port: number;
  services: string[];
}

export interface ShutdownMessage {
  type: typeof SHUTDOWN;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function isReadyMessage(m: unknown): m is ReadyMessage {
  return isObject(m) && m['type'] === READY && typeof m['port'] === 'number' && Array.isArray(m['services']);
}

export function isShutdownMessage(m: unknown): m is ShutdownMessage {
  return isObject(m) && m['type'] === SHUTDOWN;
}

/**
 * Writes an error line without a stack or anything the error might carry beyond its message.
 * @param logger - the logger
 * @param message - what failed
 * @param error - the error
 */
export function reportError(logger: pino.Logger, message: string, error: unknown): void {
  logger.error({ err: { message: error instanceof Error ? error.message : String(error) } }, message);
}

/**
 * The start-up line (and, in development, the warning that calls without a JWT are accepted).
 * @param logger - the logger
 * @param config - the configuration
 * @param facts - port bound, services loaded, serving process ids
 */
export function logListening(
  logger: pino.Logger,
  config: Config,
  facts: { port: number; services: string[]; pids: number[] }
): void {
  logger.info(
    {
      port: facts.port,
      host: config.host ?? 'all interfaces',
      mode: config.mode,
      publicBaseUrl: config.publicBaseUrl,
      services: [...facts.services].sort(),
      issuers: config.trustedIssuers.map((i) => i.iss),
      audit: config.audit,
      store: config.databaseUrl === undefined ? 'files' : 'postgresql',
      workers: config.workers,
      pids: facts.pids,
    },
    'cds service listening'
  );
  if (!config.production) {
    logger.warn(
      'development mode: service and feedback calls without a JWT, or with one from an unconfigured issuer, are accepted'
    );
  }
}

/**
 * Calls `stop` once, on the first SIGTERM or SIGINT.
 * @param stop - what to do
 */
export function onStopSignal(stop: (signal: NodeJS.Signals) => void): void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals): void => {
    if (stopping) {
      return;
    }
    stopping = true;
    stop(signal);
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
}
