// The real service as a child process, for tests that need several processes (cluster, shutdown): src is compiled
// once per content into a temporary folder (shared by parallel jest workers through a lock), then `node index.js` is
// spawned with the test's environment. Its stdout log lines are parsed and kept.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { childrenOf } from '../../src/dev/bench-procs';

const ROOT = path.resolve(__dirname, '..', '..');

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      // src/dev is not part of the service build (tsconfig.build.json).
      if (full !== path.join(ROOT, 'src', 'dev')) {
        out.push(...filesUnder(full));
      }
    } else if (!entry.name.endsWith('.test.ts')) {
      out.push(full);
    }
  }
  return out.sort();
}

/** A hash of everything the build reads. */
function sourceHash(): string {
  const hash = createHash('sha256');
  for (const file of [
    ...filesUnder(path.join(ROOT, 'src')),
    path.join(ROOT, 'tsconfig.json'),
    path.join(ROOT, 'tsconfig.build.json'),
  ]) {
    hash.update(path.relative(ROOT, file));
    hash.update(fs.readFileSync(file));
  }
  return hash.digest('hex').slice(0, 16);
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Builds of older sources, unused for a day, are removed. */
function removeStaleBuilds(keep: string): void {
  const dayAgo = Date.now() - 24 * 60 * 60 * 1000;
  for (const name of fs.readdirSync(os.tmpdir())) {
    const full = path.join(os.tmpdir(), name);
    if (/^cds-service-build-[0-9a-f]{16}$/.test(name) && full !== keep) {
      try {
        if (fs.statSync(full).mtimeMs < dayAgo && !fs.existsSync(`${full}.lock`)) {
          fs.rmSync(full, { recursive: true, force: true });
        }
      } catch {
        // removed meanwhile
      }
    }
  }
}

/**
 * Compiles the service (tsconfig.build.json) into a temporary folder named by the sources' hash, once, and returns
 * the path of its `index.js`. Concurrent callers wait for the one build.
 */
export function buildService(): string {
  const dir = path.join(os.tmpdir(), `cds-service-build-${sourceHash()}`);
  const entry = path.join(dir, 'dist', 'index.js');
  const done = path.join(dir, '.complete');
  const lock = `${dir}.lock`;
  const deadline = Date.now() + 180000;
  while (!fs.existsSync(done)) {
    try {
      fs.mkdirSync(lock);
    } catch {
      if (Date.now() > deadline) {
        throw new Error(`waited too long for the build in ${dir}`);
      }
      // Someone else builds; a lock older than 3 minutes is stale.
      try {
        if (Date.now() - fs.statSync(lock).mtimeMs > 180000) {
          fs.rmSync(lock, { recursive: true, force: true });
        }
      } catch {
        // gone meanwhile
      }
      sleepSync(200);
      continue;
    }
    try {
      if (!fs.existsSync(done)) {
        fs.rmSync(dir, { recursive: true, force: true });
        fs.mkdirSync(dir, { recursive: true });
        try {
          execFileSync(
            process.execPath,
            [
              require.resolve('typescript/bin/tsc'),
              '-p',
              path.join(ROOT, 'tsconfig.build.json'),
              '--outDir',
              path.join(dir, 'dist'),
            ],
            { cwd: ROOT, stdio: 'pipe' }
          );
        } catch (e) {
          // Type errors elsewhere in the tree still emit JavaScript; only a missing entry point is fatal.
          if (!fs.existsSync(entry)) {
            throw new Error(`the build failed: ${String((e as { stdout?: Buffer }).stdout ?? e)}`);
          }
        }
        fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
        fs.writeFileSync(done, new Date().toISOString());
        removeStaleBuilds(dir);
      }
    } finally {
      fs.rmSync(lock, { recursive: true, force: true });
    }
  }
  return entry;
}

/** A free port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
    });
  });
}

export type LogLine = Record<string, unknown>;

export interface ServiceProcess {
  child: ChildProcess;
  port: number;
  /** Every stdout line parsed so far. */
  logs: LogLine[];
  /** Everything written to stdout and stderr, as text. */
  output: () => string;
  /** Resolves with the exit code and signal once the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves once a log line matches (or rejects after `timeoutMs`). */
  waitForLog: (match: (line: LogLine) => boolean, timeoutMs?: number) => Promise<LogLine>;
  /** Kills the process if it still runs. */
  kill: () => void;
}

/** Spawns the built service with `env` added to a minimal environment (PATH, HOME) and a free PORT chosen here. */
async function spawnBuiltService(env: Record<string, string>) {
  const entry = buildService();
  const port = await freePort();
  const child = spawn(process.execPath, [entry], {
    cwd: ROOT,
    env: {
      PATH: process.env['PATH'] ?? '',
      HOME: os.tmpdir(),
      CDS_SERVICES_DIR: path.join(ROOT, 'cds-services'),
      ...env,
      PORT: String(port),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return { child, port };
}

/**
 * Spawns the built service with `env` (PORT chosen here) and resolves once it logs "cds service listening".
 * @param env - environment variables (added to a minimal one: PATH, HOME)
 */
export async function startService(env: Record<string, string>): Promise<ServiceProcess> {
  const { child, port } = await spawnBuiltService(env);
  const logs: LogLine[] = [];
  const text: string[] = [];
  const waiters: Array<{ match: (l: LogLine) => boolean; resolve: (l: LogLine) => void }> = [];
  readline.createInterface({ input: child.stdout }).on('line', (line) => {
    text.push(line);
    let parsed: LogLine;
    try {
      parsed = JSON.parse(line) as LogLine;
    } catch {
      return;
    }
    logs.push(parsed);
    for (const w of [...waiters]) {
      if (w.match(parsed)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(parsed);
      }
    }
  });
  readline.createInterface({ input: child.stderr }).on('line', (line) => text.push(line));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal }))
  );
  const waitForLog = (match: (l: LogLine) => boolean, timeoutMs = 20000): Promise<LogLine> => {
    const found = logs.find(match);
    if (found) {
      return Promise.resolve(found);
    }
    return new Promise<LogLine>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no such log line within ${timeoutMs} ms:\n${text.join('\n')}`)),
        timeoutMs
      );
      waiters.push({
        match,
        resolve: (l) => {
          clearTimeout(timer);
          resolve(l);
        },
      });
      void exited.then(() => {
        clearTimeout(timer);
        reject(new Error(`the service exited:\n${text.join('\n')}`));
      });
    });
  };
  const service: ServiceProcess = {
    child,
    port,
    logs,
    output: () => text.join('\n'),
    exited,
    waitForLog,
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
      }
    },
  };
  try {
    await waitForLog((l) => l['msg'] === 'cds service listening', 30000);
  } catch (e) {
    service.kill();
    throw e;
  }
  return service;
}

export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/**
 * One request on a new connection (no keep-alive agent), so that a cluster may give it to any worker.
 * @param port - the service's port
 * @param method - GET or POST
 * @param urlPath - the path
 * @param body - a JSON body (POST)
 * @param headers - extra headers
 */
export function send(
  port: number,
  method: string,
  urlPath: string,
  body?: unknown,
  headers: Record<string, string> = {}
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method,
        path: urlPath,
        agent: false,
        headers: { ...(payload !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') })
        );
        res.on('error', reject);
      }
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** Runs the built service until it exits (it is expected to refuse to start); resolves with its code and output. */
export async function runUntilExit(env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const { child } = await spawnBuiltService(env);
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString('utf8')));
  child.stderr.on('data', (c: Buffer) => (output += c.toString('utf8')));
  const timer = setTimeout(() => child.kill('SIGKILL'), 30000);
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  clearTimeout(timer);
  return { code, output };
}

/** Whether a process is alive (and not a zombie). */
export function isAlive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/\) Z /.test(stat);
  } catch {
    return false;
  }
}

export { childrenOf };
