// The cost of a call by its number of governed orders (contract section 2: linear; issue 8 finding 2): the service
// process's CPU per call for 1, 10 and 100 governed orders, read from /proc while one client sends the calls one
// after another (so the figure is the service's own work, not queueing). A benchmark figure, not a timed test.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { post } from './bench-procs';

type Json = Record<string, unknown>;

export interface OrderScalingRow {
  orders: number;
  calls: number;
  /** CPU (user + system) of the service process per call, in ms. */
  cpuMsPerCall: number;
  /** cpuMsPerCall over the one-order figure. */
  timesOne: number;
  /** Wall time per call at the client, in ms (one call at a time). */
  wallMsPerCall: number;
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * The request with `n` governed orders: its first draft order repeated with distinct ids (`<id>-1` ...), everything
 * else (patient, prefetch) as it was, so each order is decided as the one would be.
 * @param request - a request with one governed draft order first
 * @param n - how many orders
 */
export function withGovernedOrders(request: Json, n: number): Json {
  const copy = structuredClone(request);
  const context = copy['context'];
  const draftOrders = isObject(context) ? context['draftOrders'] : undefined;
  const entries = isObject(draftOrders) ? draftOrders['entry'] : undefined;
  const first: unknown = Array.isArray(entries) ? entries[0] : undefined;
  const order = isObject(first) ? first['resource'] : undefined;
  if (!isObject(draftOrders) || !isObject(order)) {
    throw new Error('the request has no draft order to repeat');
  }
  const id = typeof order['id'] === 'string' ? order['id'] : 'order';
  draftOrders['entry'] = Array.from({ length: n }, (_, i) => ({
    resource: { ...structuredClone(order), id: n === 1 ? id : `${id}-${i + 1}` },
  }));
  return copy;
}

let ticksPerSecond: number | undefined;

function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/**
 * CPU time (user + system) a process has used, in ms (Linux /proc/<pid>/stat, fields 14 and 15).
 * @param pid - the process
 */
export function cpuMsOf(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) is in parentheses and may hold spaces: count fields after its closing one.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return ((utime + stime) * 1000) / clockTicks();
}

/** How many governed orders the answer decided: its system actions (every order has an id and a Coverage). */
function decidedOrders(body: string): number {
  const parsed = JSON.parse(body) as { systemActions?: unknown[] };
  return parsed.systemActions?.length ?? 0;
}

/**
 * Measures the service's CPU per call for each number of governed orders.
 * @param port - the service's port (one process: `pid` does all the work)
 * @param pid - the service process
 * @param path - the service path
 * @param request - a request with one governed order
 * @param opts - the order counts, and the seconds of calls per count (after a warm-up of a third of it)
 */
export async function measureOrderScaling(
  port: number,
  pid: number,
  path: string,
  request: Json,
  opts: { counts?: readonly number[]; seconds?: number } = {}
): Promise<OrderScalingRow[]> {
  const counts = opts.counts ?? [1, 10, 100];
  const seconds = opts.seconds ?? 4;
  const rows: OrderScalingRow[] = [];
  for (const orders of counts) {
    const body = JSON.stringify(withGovernedOrders(request, orders));
    const first = await post(port, { path, body });
    if (first.status !== 200 || decidedOrders(first.body) !== orders) {
      throw new Error(`${orders} governed orders: answered ${first.status} with ${first.body.slice(0, 200)}`);
    }
    const warmUntil = Date.now() + (seconds * 1000) / 3;
    while (Date.now() < warmUntil) {
      await post(port, { path, body });
    }
    const cpuBefore = cpuMsOf(pid);
    const started = performance.now();
    let calls = 0;
    // At least 10 calls, so that the clock-tick resolution of /proc stays far below the total.
    while (calls < 10 || performance.now() - started < seconds * 1000) {
      const res = await post(port, { path, body });
      if (res.status !== 200) {
        throw new Error(`${orders} governed orders: answered ${res.status}`);
      }
      calls += 1;
    }
    const wall = performance.now() - started;
    const cpuMsPerCall = (cpuMsOf(pid) - cpuBefore) / calls;
    rows.push({ orders, calls, cpuMsPerCall, timesOne: 0, wallMsPerCall: wall / calls });
  }
  const one = rows.find((r) => r.orders === 1)?.cpuMsPerCall;
  for (const row of rows) {
    row.timesOne = one ? row.cpuMsPerCall / one : 0;
    row.cpuMsPerCall = Math.round(row.cpuMsPerCall * 100) / 100;
    row.wallMsPerCall = Math.round(row.wallMsPerCall * 100) / 100;
    row.timesOne = Math.round(row.timesOne * 10) / 10;
  }
  return rows;
}
