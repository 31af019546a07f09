// `npm run bench:profile`: where the CPU of one cold call goes (issue 12 item 7), measured in one process, one call
// at a time, which is far less sensitive to a shared machine than autocannon's throughput. The service (development
// mode, the real app with its file store, as `npm start` builds it) and the echo (src/dev/bench-ceiling.ts: express
// parsing the same body) listen on loopback in this process; a keep-alive client sends each PROFILE_CALLS (1000)
// cold calls of bench scenario 1 (src/dev/bench-cold.ts) after PROFILE_WARMUP (300), alternating the two, and the
// process's CPU (process.cpuUsage: user + system, every thread) per call is read for each. Then, in µs per call:
//   - the stages the service times itself (its log line's `timings`: validate, orders, governance, gather,
//     evaluate, assertions, respond), means over the measured calls (wall time of synchronous work, one call at a
//     time; `assertions` is mostly waiting for the fdatasync of its journal line, so it is shown but not counted);
//   - JSON parse: JSON.parse of the measured bodies; serialisation: JSON.stringify of the answers;
//   - logging: the CPU per call of the service with its log line minus without it (level silent), same calls;
//   - the rest: what is left of the service's CPU beyond the echo's (the store's CPU, express, routes, CORS, HTTP).
// Both figures include this client's own work, which is the same for both. PROFILE_CALLS, PROFILE_WARMUP knob it.
import fs from 'node:fs';
import http, { type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../config';
import { createLogger } from '../log';
import { createServiceApp, loadServiceFolders } from '../server/service';
import { openSharedStore } from '../server/store';
import { startCeiling } from './bench-ceiling';
import { coldBodies } from './bench-cold';
import { readFixtureRequest, withRealisticHistory } from './bench-requests';

const SERVICE_PATH = '/cds-services/blinatumomab-mmm';
const STAGES = ['validate', 'orders', 'governance', 'gather', 'evaluate', 'assertions', 'respond'] as const;

function envCount(name: string, fallback: number): number {
  const n = Number(process.env[name]);
  return Number.isInteger(n) && n > 0 ? n : fallback;
}

const CALLS = envCount('PROFILE_CALLS', 1000);
const WARMUP = envCount('PROFILE_WARMUP', 300);

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

function post(port: number, body: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path: SERVICE_PATH,
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      }
    );
    req.on('error', reject);
    req.end(body);
  });
}

function cpuMicros(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

/** Sends `bodies` one at a time; the process's CPU per call (µs) and the answers. */
async function run(port: number, bodies: readonly string[]): Promise<{ cpuPerCall: number; answers: string[] }> {
  const answers: string[] = [];
  const before = cpuMicros();
  for (const body of bodies) {
    const res = await post(port, body);
    if (res.status !== 200) {
      throw new Error(`answered ${res.status}: ${res.body.slice(0, 300)}`);
    }
    answers.push(res.body);
  }
  return { cpuPerCall: (cpuMicros() - before) / bodies.length, answers };
}

interface Served {
  port: number;
  close: () => Promise<void>;
}

async function startService(dataDir: string, lines: string[] | undefined): Promise<Served> {
  const config = loadConfig({
    NODE_ENV: 'development',
    CDS_DATA_DIR: dataDir,
    CDS_LOG_LEVEL: lines ? 'info' : 'silent',
  });
  const logger = createLogger({
    level: config.logLevel,
    destination: { write: (line: string) => void lines?.push(line) },
  });
  const store = await openSharedStore(config, logger);
  const app = createServiceApp(config, logger, store, loadServiceFolders(config));
  const server = await new Promise<Server>((resolve, reject) => {
    const s = app.listen(0, '127.0.0.1', (error?: Error) => (error ? reject(error) : resolve(s)));
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await store.close();
    },
  };
}

function timeEach<T>(items: readonly T[], f: (item: T) => unknown): number {
  const started = performance.now();
  for (const item of items) {
    f(item);
  }
  return ((performance.now() - started) * 1000) / items.length;
}

const fmt = (us: number): string => us.toFixed(0).padStart(7);

export interface ColdCallProfile {
  calls: number;
  /** Call lines the service logged during the measured calls. */
  logged: number;
  bodyBytes: number;
  /** [what, µs per call], in print order. */
  rows: Array<[string, number]>;
  echoCpu: number;
  serviceCpu: number;
}

/**
 * Measures the CPU breakdown of cold calls (see the head of this file).
 * @param opts - measured and warm-up calls per target
 */
export async function profileColdCalls(opts: { calls: number; warmup: number }): Promise<ColdCallProfile> {
  const CALLS = opts.calls;
  const WARMUP = opts.warmup;
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'cds-profile-'));
  const full = withRealisticHistory(readFixtureRequest('adult-relapsed-ph-neg-cycle1-stepup--full.json'));
  const cold = coldBodies(full);
  const bodies = (n: number): string[] => Array.from({ length: n }, () => cold.next());
  const lines: string[] = [];
  const service = await startService(path.join(work, 'data-info'), lines);
  const quiet = await startService(path.join(work, 'data-silent'), undefined);
  const echo = await startCeiling(0);
  try {
    const warm = bodies(WARMUP);
    await run(echo.port, warm);
    await run(service.port, bodies(WARMUP));
    await run(quiet.port, bodies(WARMUP));
    // Alternating halves, so that a change in the machine's load falls on all three alike.
    const totals = { echo: 0, service: 0, quiet: 0 };
    const measured: string[] = [];
    const answers: string[] = [];
    lines.length = 0;
    for (let half = 0; half < 2; half += 1) {
      const batch = bodies(Math.ceil(CALLS / 2));
      totals.echo += (await run(echo.port, batch)).cpuPerCall / 2;
      const svc = await run(service.port, batch);
      totals.service += svc.cpuPerCall / 2;
      measured.push(...batch);
      answers.push(...svc.answers);
      totals.quiet += (await run(quiet.port, bodies(batch.length))).cpuPerCall / 2;
    }
    const stageSums = new Map<string, number>();
    let logged = 0;
    for (const line of lines) {
      const parsed = JSON.parse(line) as { msg?: string; timings?: Record<string, number> };
      if (parsed.msg !== 'service call' || !parsed.timings) {
        continue;
      }
      logged += 1;
      for (const [name, ms] of Object.entries(parsed.timings)) {
        stageSums.set(name, (stageSums.get(name) ?? 0) + ms * 1000);
      }
    }
    const stage = (name: string): number => (stageSums.get(name) ?? 0) / Math.max(1, logged);
    const parse = timeEach(measured, (b) => JSON.parse(b));
    const objects = answers.map((a) => JSON.parse(a) as unknown);
    const serialise = timeEach(objects, (o) => JSON.stringify(o));
    const logging = totals.service - totals.quiet;
    // `assertions` waits for its journal line's fdatasync (one per call when calls come one at a time): wall time,
    // not CPU, so it is left out of the sum and its CPU falls in the rest.
    const staged = STAGES.filter((name) => name !== 'assertions').reduce((s, name) => s + stage(name), 0);
    const beyond = totals.service - totals.echo;
    const rows: Array<[string, number]> = [
      ['echo: HTTP, express, JSON parse, client (CPU)', totals.echo],
      ['  of which JSON parse of the body', parse],
      ['service (CPU)', totals.service],
      ['service beyond the echo (CPU)', beyond],
      ...STAGES.map((name): [string, number] => [
        name === 'assertions' ? '  assertions (wall: waits for the store fdatasync)' : `  ${name}`,
        stage(name),
      ]),
      ['  serialisation of the answer (JSON.stringify)', serialise],
      ['  logging (CPU with the log line - without)', logging],
      ['  the rest: store CPU, express, routes, CORS, HTTP', beyond - staged - serialise - logging],
    ];
    return {
      calls: measured.length,
      logged,
      bodyBytes: Buffer.byteLength(measured[0] ?? ''),
      rows,
      echoCpu: totals.echo,
      serviceCpu: totals.service,
    };
  } finally {
    await Promise.all([service.close(), quiet.close(), echo.close()]);
    agent.destroy();
    fs.rmSync(work, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  process.stdout.write(`profile: ${CALLS} cold calls per target after ${WARMUP}, one at a time, in one process\n`);
  const p = await profileColdCalls({ calls: CALLS, warmup: WARMUP });
  process.stdout.write(`${p.logged} call lines logged; body ${p.bodyBytes} bytes\n\n`);
  process.stdout.write(`${'µs per cold call'.padEnd(54)}${'µs'.padStart(7)}\n`);
  for (const [name, us] of p.rows) {
    process.stdout.write(`${name.padEnd(54)}${fmt(us)}\n`);
  }
  process.stdout.write(
    `\nCPU ratio echo / service: ${(p.echoCpu / p.serviceCpu).toFixed(3)} (both include the client's work)\n`
  );
}

// Run by scripts/start.js, which requires this file with its own path as argv[1] (not as the main module).
if (process.argv[1] === __filename) {
  main().catch((error: unknown) => {
    process.stderr.write(
      `bench:profile failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`
    );
    process.exitCode = 1;
  });
}
