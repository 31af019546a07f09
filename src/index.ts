// Entry point: everything else is in src/server (one process alone, or a cluster primary and its workers).
import { main } from './server/main';

main(process.env).catch((e: unknown) => {
  process.stderr.write(`Start-up failed: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
