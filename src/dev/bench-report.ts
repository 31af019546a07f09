// The benchmark's report: its JSON shape (bench-results/latest.json), the console table and the markdown for the
// README.
import type { OrderScalingRow } from './bench-orders';

export interface RoundResult {
  round: number;
  target: 'service' | 'ceiling';
  rps: number;
  p50: number;
  p90: number;
  p99: number;
  total: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  statusCodes: Record<string, number>;
  /** Largest resident set size seen per process during the round, in MiB. */
  rssMbByPid: Record<string, number>;
  /** Per-stage timings from the service's call log lines (ms): p50 and mean over the round's calls. */
  stages?: Record<string, { p50: number; mean: number }>;
  callsLogged?: number;
}

export interface SideSummary {
  /** Mean of the rounds' requests per second. */
  rps: number;
  /** Median of the rounds' p50 (ms). */
  p50: number;
  /** Worst of the rounds' p99 (ms). */
  p99: number;
  non2xx: number;
  errors: number;
  rssMbByPid: Record<string, number>;
}

export interface ScenarioReport {
  id: string;
  name: string;
  description: string;
  service: SideSummary;
  ceiling: SideSummary;
  /** Service requests per second over the ceiling's. */
  ratio: number;
  /** Per-stage timings (ms), mean over the service rounds; `fetchSlowestMs` and `fetchSumMs` are the FHIR queries. */
  stages: Record<string, { p50: number; mean: number }>;
  rounds: RoundResult[];
}

export interface BenchReport {
  startedAt: string;
  finishedAt: string;
  machine: {
    cpuModel: string;
    cores: number;
    memoryGb: number;
    os: string;
    node: string;
    loadAverageAtStart: number[];
  };
  settings: {
    nodeFlags: string[];
    durationS: number;
    warmupS: number;
    rounds: number;
    connections: number;
    service: string;
  };
  startup: {
    developmentFirstRequestMs: number;
    developmentExitCode: number | null;
    productionFirstRequestMs?: number;
    productionExitCode?: number | null;
  };
  checks: string[];
  scenarios: ScenarioReport[];
  /** Scenario 5: the service's CPU per call by the number of governed orders. */
  orderScaling?: OrderScalingRow[];
  targets: Array<{ name: string; value: number; limit: number; met: boolean }>;
}

function orderScalingLines(report: BenchReport): string[] {
  const rows = report.orderScaling ?? [];
  if (rows.length === 0) {
    return [];
  }
  return [
    '| governed orders | CPU ms per call | x one | calls measured | wall ms per call |',
    '|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.orders} | ${r.cpuMsPerCall} | ${r.timesOne} | ${r.calls} | ${r.wallMsPerCall} |`),
  ];
}

function rssText(byPid: Record<string, number>): string {
  const values = Object.values(byPid);
  return values.length === 0 ? '-' : values.map((v) => v.toFixed(0)).join(' / ');
}

function rows(report: BenchReport): string[][] {
  const out: string[][] = [];
  for (const s of report.scenarios) {
    out.push([
      `${s.id} ${s.name}`,
      'service',
      s.service.rps.toFixed(0),
      String(s.service.p50),
      String(s.service.p99),
      s.ratio.toFixed(2),
      rssText(s.service.rssMbByPid),
    ]);
    out.push(['', 'ceiling', s.ceiling.rps.toFixed(0), String(s.ceiling.p50), String(s.ceiling.p99), '1.00', '']);
  }
  return out;
}

const HEADER = ['scenario', 'server', 'req/s', 'p50 ms', 'p99 ms', 'x ceiling', 'RSS MB per process'];

function fallbackLine(report: BenchReport): string | undefined {
  const s3 = report.scenarios.find((s) => s.id === '3');
  if (!s3) {
    return undefined;
  }
  const slowest = s3.stages['fetchSlowestMs'];
  const sum = s3.stages['fetchSumMs'];
  return (
    `Scenario 3: call p50 ${s3.service.p50} ms at the client, ${s3.stages['total']?.p50 ?? 0} ms in the service; ` +
    `its slowest FHIR query p50 ${slowest?.p50 ?? 0} ms ` +
    `(mean ${slowest?.mean ?? 0}); the sum of its queries p50 ${sum?.p50 ?? 0} ms (mean ${sum?.mean ?? 0}); ` +
    `per call, the service's time beyond its slowest query p50 ${s3.stages['beyondSlowestQuery']?.p50 ?? 0} ms.`
  );
}

function stagesLine(report: BenchReport, id: string): string | undefined {
  const s = report.scenarios.find((x) => x.id === id);
  if (!s) {
    return undefined;
  }
  const parts = Object.entries(s.stages)
    .filter(([k]) => !k.startsWith('fetch') && k !== 'beyondSlowestQuery')
    .map(([k, v]) => `${k} ${v.mean}`);
  return `Scenario ${id} per-stage mean ms (service log): ${parts.join(', ')}.`;
}

/**
 * The console table, the notes and the targets.
 * @param report - the report
 */
export function formatTable(report: BenchReport): string {
  const all = [HEADER, ...rows(report)];
  const widths = HEADER.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]): string => r.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ');
  const out = [line(HEADER), widths.map((w) => '-'.repeat(w)).join('  '), ...rows(report).map(line)];
  out.push('');
  const m = report.machine;
  out.push(`machine: ${m.cpuModel}, ${m.cores} cores, ${m.memoryGb} GB, ${m.os}, node ${m.node}`);
  out.push(
    `first request served: ${report.startup.developmentFirstRequestMs} ms (development, 1 process)` +
      (report.startup.productionFirstRequestMs !== undefined
        ? `, ${report.startup.productionFirstRequestMs} ms (production, 2 workers)`
        : '')
  );
  for (const extra of [fallbackLine(report), stagesLine(report, '1')]) {
    if (extra) {
      out.push(extra);
    }
  }
  const scaling = orderScalingLines(report);
  if (scaling.length > 0) {
    out.push('', 'Scenario 5, the service CPU per call by governed orders (one call at a time):', ...scaling);
  }
  out.push('');
  for (const t of report.targets) {
    out.push(`${t.met ? 'MET    ' : 'NOT MET'}  ${t.name}: ${t.value} (limit ${t.limit})`);
  }
  return `${out.join('\n')}\n`;
}

/**
 * The same as markdown, for the README.
 * @param report - the report
 */
export function formatMarkdown(report: BenchReport): string {
  const m = report.machine;
  const out: string[] = [];
  out.push(
    `Measured ${report.startedAt.slice(0, 10)} on ${m.cpuModel}, ${m.cores} cores, ${m.memoryGb} GB, ${m.os}, ` +
      `node ${m.node}; autocannon on the same machine, ${report.settings.connections} connections, ` +
      `${report.settings.rounds} rounds of ${report.settings.durationS} s per server after a ${report.settings.warmupS} s ` +
      `warm-up, service and ceiling alternating; the service started as \`node ${[...report.settings.nodeFlags, 'dist/index.js'].join(' ')}\`. ` +
      `RSS is the largest seen per process during the rounds.`
  );
  out.push('');
  out.push(`| ${HEADER.join(' | ')} |`);
  out.push(`|${HEADER.map(() => '---').join('|')}|`);
  for (const r of rows(report)) {
    out.push(`| ${r.join(' | ')} |`);
  }
  out.push('');
  for (const s of report.scenarios) {
    out.push(`- Scenario ${s.id} (${s.name}): ${s.description}.`);
  }
  out.push(
    `- First request served ${report.startup.developmentFirstRequestMs} ms after the process started (development, 1 process)` +
      (report.startup.productionFirstRequestMs !== undefined
        ? `; ${report.startup.productionFirstRequestMs} ms (production, 2 workers).`
        : '.')
  );
  const fb = fallbackLine(report);
  if (fb) {
    out.push(`- ${fb}`);
  }
  const st = stagesLine(report, '1');
  if (st) {
    out.push(`- ${st}`);
  }
  const scaling = orderScalingLines(report);
  if (scaling.length > 0) {
    out.push(
      '',
      'Scenario 5 (orders): the service process CPU per call (user + system, from /proc) for a call with 1, 10 and 100 ' +
        "governed orders, scenario 1's patient, one call at a time after a warm-up:",
      '',
      ...scaling
    );
  }
  out.push('');
  out.push('| target | measured | limit | met |');
  out.push('|---|---|---|---|');
  for (const t of report.targets) {
    out.push(`| ${t.name} | ${t.value} | ${t.limit} | ${t.met ? 'yes' : 'no'} |`);
  }
  return `${out.join('\n')}\n`;
}
