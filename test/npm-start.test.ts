// `npm start` never leaves a service behind (contract section 8; issue 8 finding 10): SIGTERM or SIGINT sent to the
// npm process alone (not its process group, as a supervisor or `docker stop` would) reaches the service, which
// drains and exits, and npm exits with it: the port is closed and no process of the tree remains. Without `exec`
// in the script, npm's `sh -c` died on the signal and left the service running under PID 1.
//
// npm runs here in a temporary copy of the package (package.json, scripts/start.js, the policy folders, the
// service built once by the test helper as dist/, and an empty src/ so that start.js finds nothing to rebuild), so
// that the test never builds into the repository's own dist/.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { buildService, childrenOf, freePort, isAlive, send } from './helpers/service-process';

const ROOT = path.resolve(__dirname, '..');
let pkg: string;

beforeAll(() => {
  const entry = buildService();
  pkg = fs.mkdtempSync(path.join(os.tmpdir(), 'cds-npm-start-'));
  fs.copyFileSync(path.join(ROOT, 'package.json'), path.join(pkg, 'package.json'));
  fs.mkdirSync(path.join(pkg, 'scripts'));
  fs.copyFileSync(path.join(ROOT, 'scripts', 'start.js'), path.join(pkg, 'scripts', 'start.js'));
  fs.cpSync(path.dirname(entry), path.join(pkg, 'dist'), { recursive: true });
  fs.mkdirSync(path.join(pkg, 'src'));
  const old = new Date(Date.now() - 60000);
  fs.utimesSync(path.join(pkg, 'src'), old, old);
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(pkg, 'node_modules'), 'dir');
  fs.symlinkSync(path.join(ROOT, 'cds-services'), path.join(pkg, 'cds-services'), 'dir');
}, 180000);

afterAll(() => {
  fs.rmSync(pkg, { recursive: true, force: true });
});

/** Every descendant of `pid`, depth first. */
function descendants(pid: number): number[] {
  return childrenOf(pid).flatMap((c) => [c, ...descendants(c)]);
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function waitUntil(check: () => Promise<boolean> | boolean, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await check()) {
      return true;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return check();
}

async function startNpm(port: number, workers: number): Promise<{ npm: ChildProcess; exit: Promise<number | null> }> {
  const dataDir = path.join(pkg, `data-${port}`);
  const npm = spawn('npm', ['start', '--silent'], {
    cwd: pkg,
    // Its own process group: the signal goes to npm alone, never to the service directly.
    detached: true,
    env: {
      PATH: process.env['PATH'] ?? '',
      HOME: os.tmpdir(),
      PORT: String(port),
      CDS_WORKERS: String(workers),
      CDS_DATA_DIR: dataDir,
      CDS_LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  npm.stderr?.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  const exit = new Promise<number | null>((resolve) => npm.once('exit', (code) => resolve(code)));
  const up = await waitUntil(async () => {
    try {
      return (await send(port, 'GET', '/health')).status === 200;
    } catch {
      return false;
    }
  }, 60000);
  if (!up) {
    npm.kill('SIGKILL');
    throw new Error(`npm start did not serve within 60 s:\n${stderr}`);
  }
  return { npm, exit };
}

describe.each([
  ['SIGTERM', 1],
  ['SIGINT', 1],
  ['SIGTERM', 2],
] as const)('%s to the npm process (CDS_WORKERS=%i)', (signal, workers) => {
  it('stops the service, npm exits with it, the port is closed and no process remains', async () => {
    const port = await freePort();
    const { npm, exit } = await startNpm(port, workers);
    const pid = npm.pid as number;
    const tree = descendants(pid);
    // The service itself (and with workers, the primary's children) are in the tree.
    expect(tree.length).toBeGreaterThanOrEqual(workers > 1 ? 3 : 1);
    try {
      process.kill(pid, signal);
      let timer: NodeJS.Timeout | undefined;
      const code = await Promise.race([
        exit,
        new Promise<'timeout'>((r) => {
          timer = setTimeout(() => r('timeout'), 30000);
        }),
      ]);
      clearTimeout(timer);
      expect(code).toBe(0);
      expect(await waitUntil(async () => !(await portOpen(port)), 10000)).toBe(true);
      expect(await waitUntil(() => tree.every((p) => !isAlive(p)), 10000)).toBe(true);
    } finally {
      for (const p of [pid, ...tree]) {
        if (isAlive(p)) {
          process.kill(p, 'SIGKILL');
        }
      }
    }
  }, 120000);
});
