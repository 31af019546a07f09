// The benchmark's ceiling: a minimal express server that parses the same JSON body as the service and answers
// {"cards":[]}. What the machine can do for an HTTP POST of that size; the service's figures are stated against it.
// Run as a process of its own by src/dev/bench.ts (fork), which it tells its port over IPC.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';

export interface CeilingReadyMessage {
  type: 'bench-ceiling-ready';
  port: number;
}

/**
 * Starts the ceiling server on 127.0.0.1 and resolves with its port.
 * @param port - the port to listen on (0: any free port)
 */
export async function startCeiling(port = 0): Promise<{ port: number; close: () => Promise<void> }> {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.post(
    '/cds-services/:id',
    express.json({ limit: '5mb', type: ['application/json', 'application/fhir+json'] }),
    (_req, res) => {
      res.json({ cards: [] });
    }
  );
  const server = await new Promise<Server>((resolve, reject) => {
    const s = app.listen(port, '127.0.0.1', (error?: Error) => (error ? reject(error) : resolve(s)));
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

if (require.main === module) {
  startCeiling(Number(process.env['BENCH_CEILING_PORT'] ?? 0)).then(
    ({ port }) => {
      const ready: CeilingReadyMessage = { type: 'bench-ceiling-ready', port };
      process.send?.(ready);
      process.stdout.write(`ceiling listening on 127.0.0.1:${port}\n`);
    },
    (error: unknown) => {
      process.stderr.write(`ceiling failed to start: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(1);
    }
  );
  process.once('SIGTERM', () => process.exit(0));
  process.once('SIGINT', () => process.exit(0));
}
