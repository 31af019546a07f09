// docker-compose.yml on PostgreSQL (issue 11, deliverable 4): a pinned postgres image with a healthcheck, and the
// service using it through CDS_DATABASE_URL once it is healthy. `docker-compose config` (Debian's docker-compose)
// validates the file where installed; there is no Docker engine here, so nothing is started.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';

const ROOT = path.resolve(__dirname, '..');
const FILE = path.join(ROOT, 'docker-compose.yml');

/* eslint-disable @typescript-eslint/no-explicit-any -- the compose file is read as untyped YAML */
const compose = YAML.parse(fs.readFileSync(FILE, 'utf8')) as Record<string, any>;
const hasDockerCompose = spawnSync('docker-compose', ['version'], { stdio: 'ignore' }).status === 0;

describe('docker-compose.yml', () => {
  it('runs PostgreSQL from a pinned image, with a healthcheck', () => {
    const pg = compose['services']['postgres'];
    expect(pg['image']).toMatch(/^postgres:15\.\d+-bookworm$/);
    expect(pg['healthcheck']['test']).toEqual(expect.arrayContaining(['pg_isready']));
    expect(pg['environment']).toMatchObject({ POSTGRES_USER: 'cds', POSTGRES_DB: 'cds' });
  });

  it('points the service at it with CDS_DATABASE_URL, started once it is healthy', () => {
    const cds = compose['services']['cds'];
    const pg = compose['services']['postgres']['environment'];
    const url = new URL(cds['environment']['CDS_DATABASE_URL'] as string);
    expect(url.protocol).toBe('postgresql:');
    expect(url.hostname).toBe('postgres');
    expect({ user: url.username, password: url.password, db: url.pathname.slice(1) }).toEqual({
      user: pg['POSTGRES_USER'],
      password: pg['POSTGRES_PASSWORD'],
      db: pg['POSTGRES_DB'],
    });
    expect(cds['depends_on']['postgres']).toEqual({ condition: 'service_healthy' });
  });

  (hasDockerCompose ? it : it.skip)('is valid for docker-compose config', () => {
    const out = execFileSync('docker-compose', ['-f', FILE, 'config'], { cwd: ROOT, stdio: 'pipe' }).toString('utf8');
    const resolved = YAML.parse(out) as Record<string, any>;
    expect(Object.keys(resolved['services'] as object)).toEqual(expect.arrayContaining(['cds', 'postgres']));
  });

  if (!hasDockerCompose) {
    it('notes that docker-compose config was skipped', () => {
      process.stderr.write(
        'docker-compose is not installed: `docker-compose config` skipped (apt-get install docker-compose)\n'
      );
    });
  }
});
