// A real, throwaway PostgreSQL cluster (the store tests and the benchmark's two-replica scenario; never a mock):
// Debian's binaries under /usr/lib/postgresql/<version>/bin (installed by scripts/install-postgres.sh), initdb'd in a
// new temporary directory and started on a free loopback port; stopped and removed at the end. initdb and postgres
// refuse to run as root, and CI runs as root: then both run as the `postgres` user (runuser), in a directory that
// user owns. The package's own cluster (port 5432) is never touched.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { freePort } from './bench-procs';

export const INSTALL_SCRIPT = 'scripts/install-postgres.sh';

/** The newest /usr/lib/postgresql/<version>/bin holding initdb (or $PG_BIN), or undefined. */
export function postgresBin(): string | undefined {
  const fromEnv = process.env['PG_BIN'];
  if (fromEnv) {
    return fs.existsSync(path.join(fromEnv, 'initdb')) ? fromEnv : undefined;
  }
  const root = '/usr/lib/postgresql';
  let versions: string[];
  try {
    versions = fs.readdirSync(root);
  } catch {
    return undefined;
  }
  const found = versions
    .filter((v) => /^\d+(\.\d+)?$/.test(v) && fs.existsSync(path.join(root, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return found[0] === undefined ? undefined : path.join(root, found[0], 'bin');
}

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

export function hasPostgresUser(): boolean {
  return spawnSync('id', ['-u', 'postgres'], { stdio: 'ignore' }).status === 0;
}

/** Why no throwaway cluster can be started here, or undefined when one can. */
export function postgresProblem(): string | undefined {
  if (!postgresBin()) {
    return 'no PostgreSQL server binaries under /usr/lib/postgresql/<version>/bin';
  }
  if (isRoot() && !hasPostgresUser()) {
    return 'running as root and there is no `postgres` user to run initdb and postgres as';
  }
  return undefined;
}

export interface ThrowawayPostgres {
  port: number;
  /** A URL for a database of this cluster (default `postgres`). */
  url(database?: string): string;
  /** Creates a new, empty database and returns its URL. */
  createDatabase(name?: string): Promise<string>;
  /** Runs one statement on a database (default `postgres`) and returns its rows. */
  sql<R = Record<string, unknown>>(text: string, values?: unknown[], database?: string): Promise<R[]>;
  /** Stops the cluster (immediate) and removes its directory. */
  stop(): void;
}

let databases = 0;

/**
 * Initialises and starts a cluster in a new temporary directory, on a free loopback port.
 * @param options - `durable`: keep PostgreSQL's fsync (the benchmark, so that commits cost what they cost); the tests
 *   turn it off
 */
export async function startPostgres(options: { durable?: boolean } = {}): Promise<ThrowawayPostgres> {
  const bin = postgresBin();
  if (!bin) {
    throw new Error(`no PostgreSQL binaries: run ${INSTALL_SCRIPT}`);
  }
  const root = isRoot();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cds-pg-'));
  const data = path.join(dir, 'data');
  if (root) {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    fs.chownSync(dir, uid, gid);
  }
  // As root: the same command as the postgres user (runuser keeps no root privilege).
  const run = (command: string, args: string[]): void => {
    const [file, argv] = root ? ['runuser', ['-u', 'postgres', '--', command, ...args]] : [command, args];
    const result = spawnSync(file, argv, { cwd: dir, encoding: 'utf8', timeout: 120000 });
    if (result.status !== 0) {
      throw new Error(
        `${path.basename(command)} failed (${result.status ?? result.signal}):\n${result.stdout}\n${result.stderr}`
      );
    }
  };
  run(path.join(bin, 'initdb'), [
    '-D',
    data,
    '-U',
    'postgres',
    '--auth=trust',
    '-E',
    'UTF8',
    '--no-sync',
    '--no-instructions',
  ]);
  let port = 0;
  for (let attempt = 1; ; attempt += 1) {
    port = await freePort();
    try {
      // For the tests fsync is off: a throwaway cluster whose durability across a machine crash nobody needs (they
      // kill service processes, never PostgreSQL); commits are still acknowledged only once PostgreSQL has them.
      const sync = options.durable ? '' : ' -c fsync=off -c full_page_writes=off';
      run(path.join(bin, 'pg_ctl'), [
        '-D',
        data,
        '-l',
        path.join(dir, 'server.log'),
        '-w',
        '-t',
        '60',
        '-o',
        `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c max_connections=200${sync}`,
        'start',
      ]);
      break;
    } catch (e) {
      if (attempt >= 3) {
        let log = '';
        try {
          log = fs.readFileSync(path.join(dir, 'server.log'), 'utf8');
        } catch {
          // no log
        }
        fs.rmSync(dir, { recursive: true, force: true });
        throw new Error(`${String(e)}\n${log}`);
      }
    }
  }
  let stopped = false;
  const url = (database = 'postgres'): string => `postgresql://postgres@127.0.0.1:${port}/${database}`;
  const sql = async <R>(text: string, values: unknown[] = [], database?: string): Promise<R[]> => {
    const client = new Client({ connectionString: url(database) });
    await client.connect();
    try {
      return (await client.query(text, values)).rows as R[];
    } finally {
      await client.end();
    }
  };
  return {
    port,
    url,
    sql,
    async createDatabase(name?: string) {
      databases += 1;
      const db = name ?? `cds_test_${process.pid}_${databases}`;
      await sql(`CREATE DATABASE "${db}"`);
      return url(db);
    },
    stop() {
      if (stopped) {
        return;
      }
      stopped = true;
      try {
        run(path.join(bin, 'pg_ctl'), ['-D', data, '-m', 'immediate', '-w', 'stop']);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
