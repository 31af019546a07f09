// Process plumbing for the benchmark: free ports, child processes (service, ceiling, embedded FHIR server), their
// log lines, resident memory from /proc, and the time to the first request served.
import { fork, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import readline from 'node:readline';

/** A free TCP port on 127.0.0.1 (asked of the kernel, then released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Resident set size of a process in bytes (VmRSS), or undefined when it has gone. */
export function rssOf(pid: number): number | undefined {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1];
    return kb === undefined ? undefined : Number(kb) * 1024;
  } catch {
    return undefined;
  }
}

/** The process ids of `pid`'s children (Linux /proc). */
export function childrenOf(pid: number): number[] {
  try {
    return fs
      .readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter((s) => s !== '')
      .map(Number);
  } catch {
    return [];
  }
}

/** Samples the RSS of some processes and keeps each one's maximum. */
export class RssSampler {
  private readonly max = new Map<number, number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly pids: () => number[]) {}

  start(everyMs = 250): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), everyMs);
  }

  stop(): Map<number, number> {
    if (this.timer) {
      clearInterval(this.timer);
    }
    this.sample();
    return new Map(this.max);
  }

  private sample(): void {
    for (const pid of this.pids()) {
      const rss = rssOf(pid);
      if (rss !== undefined && rss > (this.max.get(pid) ?? 0)) {
        this.max.set(pid, rss);
      }
    }
  }
}

/** One parsed log line of the service. */
export type LogLine = Record<string, unknown>;

export interface ServiceProcess {
  child: ChildProcess;
  port: number;
  /** Wall time from spawn to the first 200 answer of the probe request, in ms. */
  firstRequestMs: number;
  /** The primary (or only) process and, in a cluster, its workers. */
  pids(): number[];
  /** Subscribes to the service's log lines; returns the unsubscribe function. */
  onLog(listener: (line: LogLine) => void): () => void;
  /** Lines at level error or fatal seen so far. */
  errors: LogLine[];
  /** SIGTERM, then the exit code (null when killed by a signal). */
  stop(): Promise<number | null>;
}

export interface ProbeRequest {
  path: string;
  body: string;
  headers?: () => Record<string, string>;
}

/**
 * Sends one POST and resolves with the status and body.
 * @param port - the port on 127.0.0.1
 * @param probe - path, body and headers
 */
export function post(port: number, probe: ProbeRequest): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path: probe.path,
        method: 'POST',
        agent: false,
        headers: { 'content-type': 'application/json', ...probe.headers?.() },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      }
    );
    req.on('error', reject);
    req.end(probe.body);
  });
}

/**
 * Starts the built service (`dist/index.js`) and measures the time from spawn to its first 200 answer.
 * @param entry - path of dist/index.js
 * @param env - environment added to the bench's own
 * @param probe - the request sent until it is answered 200
 * @param opts - the port (default: a free one), node flags, and how long to wait for the first answer
 */
export async function startServiceProcess(
  entry: string,
  env: Record<string, string>,
  probe: ProbeRequest,
  opts: { port?: number; nodeFlags?: readonly string[]; timeoutMs?: number } = {}
): Promise<ServiceProcess> {
  const fixedPort = opts.port;
  const timeoutMs = opts.timeoutMs ?? 30000;
  const port = fixedPort ?? (await freePort());
  const started = performance.now();
  const child = spawn(process.execPath, [...(opts.nodeFlags ?? []), entry], {
    cwd: process.cwd(),
    env: { ...process.env, ...env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const listeners = new Set<(line: LogLine) => void>();
  const errors: LogLine[] = [];
  let exited = false;
  const exit = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      exited = true;
      resolve(code);
    })
  );
  readline.createInterface({ input: child.stdout }).on('line', (text) => {
    let line: LogLine;
    try {
      line = JSON.parse(text) as LogLine;
    } catch {
      process.stdout.write(`[service] ${text}\n`);
      return;
    }
    if (typeof line['level'] === 'string' && (line['level'] === 'error' || line['level'] === 'fatal')) {
      errors.push(line);
    }
    for (const listener of listeners) {
      listener(line);
    }
  });
  readline.createInterface({ input: child.stderr }).on('line', (text) => process.stderr.write(`[service] ${text}\n`));

  let firstRequestMs = 0;
  for (;;) {
    if (exited) {
      throw new Error('the service exited during start-up (see its output above)');
    }
    if (performance.now() - started > timeoutMs) {
      child.kill('SIGKILL');
      throw new Error(`the service did not answer within ${timeoutMs} ms`);
    }
    try {
      const answer = await post(port, probe);
      if (answer.status === 200) {
        firstRequestMs = performance.now() - started;
        break;
      }
      throw new Error(`the probe request was answered ${answer.status}: ${answer.body.slice(0, 500)}`);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ECONNREFUSED' && (e as NodeJS.ErrnoException).code !== 'ECONNRESET') {
        child.kill('SIGKILL');
        throw e;
      }
      await new Promise((r) => setTimeout(r, 5));
    }
  }
  const pid = child.pid ?? 0;
  return {
    child,
    port,
    firstRequestMs,
    pids: () => [pid, ...childrenOf(pid)],
    onLog: (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    errors,
    stop: () => {
      if (!exited) {
        child.kill('SIGTERM');
      }
      return exit;
    },
  };
}

/**
 * Forks a Node script that reports readiness with an IPC message of the given type.
 * @param script - the compiled script
 * @param env - environment added to the bench's own
 * @param readyType - the `type` of the ready message
 */
export function forkReady<T extends { type: string }>(
  script: string,
  env: Record<string, string>,
  readyType: string
): Promise<{ child: ChildProcess; ready: T }> {
  return new Promise((resolve, reject) => {
    const child = fork(script, [], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${script} did not start within 60 s`));
    }, 60000);
    child.on('message', (message: unknown) => {
      if (typeof message === 'object' && message !== null && (message as { type?: unknown }).type === readyType) {
        clearTimeout(timer);
        resolve({ child, ready: message as T });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${script} exited with code ${String(code)} before it was ready`));
    });
  });
}

/**
 * Stops a forked helper and waits for it.
 * @param child - the process
 */
export function stopChild(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve();
      return;
    }
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 5000).unref();
  });
}
