// Which kind of process this is: one process alone (CDS_WORKERS=1), or the cluster primary, or one of its workers.
// Each kind loads only what it needs (the primary serves no HTTP and loads no policy).
import cluster from 'node:cluster';
import v8 from 'node:v8';
import { loadConfig, type Config } from '../config';
import { createLogger } from '../log';
import { RUNTIME_V8_FLAGS } from './shared';

function fail(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(1);
}

/**
 * Starts the service as configured by `env`.
 * @param env - the environment (process.env)
 */
export async function main(env: NodeJS.ProcessEnv): Promise<void> {
  for (const flag of RUNTIME_V8_FLAGS) {
    v8.setFlagsFromString(flag);
  }
  let config: Config;
  try {
    config = loadConfig(env);
  } catch (e) {
    fail(e instanceof Error ? e.message : String(e));
  }
  const logger = createLogger({ level: config.logLevel });
  try {
    if (cluster.isWorker) {
      const { runWorker } = await import('./worker');
      await runWorker(config, logger);
    } else if (config.workers > 1) {
      const { runPrimary } = await import('./primary');
      await runPrimary(config, logger);
    } else {
      const { runSingle } = await import('./single');
      await runSingle(config, logger);
    }
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    const listen = (e as NodeJS.ErrnoException | undefined)?.code;
    fail(
      listen === 'EADDRINUSE' || listen === 'EACCES'
        ? `Cannot listen on port ${config.port}: ${message}`
        : `Start-up failed: ${message}`
    );
  }
}
