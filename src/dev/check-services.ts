// `npm run check:services`: runs the same loader as start-up over CDS_SERVICES_DIR (default ./cds-services) and
// prints, per service, its criteria, pathways, exclusions and cases, then the CDS services served (each policy on
// the three hooks, the routed ones). Exits 1, naming the file, the rule and the expression, when any policy does not
// load, or when two would serve one id or one payer (fastify's "validator integrity" idea, house style 3.4).
import * as path from 'node:path';
import { buildCdsServices } from '../hooks/services';
import { describeService, loadServices } from '../policy/load';

/** Checks every service folder; returns the process exit code. */
export function checkServices(dir: string, write: (line: string) => void): number {
  try {
    const started = performance.now();
    const services = loadServices(dir);
    const ms = Math.round(performance.now() - started);
    for (const service of services) {
      const d = describeService(service);
      write(
        `${d.id}: ${d.criteria} criteria, ${d.pathways.length} pathways, ${d.exclusions.length} exclusions, ${d.documentationItems} documentation items, ${d.cases} cases`
      );
      write(`  pathways: ${d.pathways.join(', ')}`);
      if (d.exclusions.length > 0) {
        write(`  exclusions: ${d.exclusions.join(', ')}`);
      }
    }
    const served = buildCdsServices(services);
    write(`${services.length} service(s) loaded from ${dir} in ${ms} ms`);
    write(`CDS services served: ${served.map((s) => `${s.id} (${s.hook})`).join(', ')}`);
    return 0;
  } catch (e) {
    write(`check:services failed: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  }
}

// Run directly (node dist/dev/check-services.js) or through scripts/start.js, which sets argv[1] to this file.
if (require.main === module || path.resolve(process.argv[1] ?? '') === __filename) {
  const dir = path.resolve(process.env.CDS_SERVICES_DIR ?? 'cds-services');
  process.exitCode = checkServices(dir, (line) => process.stdout.write(`${line}\n`));
}
