// `npm test` itself ends with the plain line "N passed, N failed" (issue 8 finding 13; the README says so, and
// .ci/run repeats it): jest's own summary and "Ran all test suites" come after the reporters, so the line is
// written when jest exits. Checked by running `npm test` on a small suite of its own (one test passing, one
// failing, one skipped), with this repository's summary reporter.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..');
let dir: string;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cds-npm-test-'));
  fs.writeFileSync(
    path.join(dir, 'three.test.js'),
    [
      "test('passes', () => expect(1).toBe(1));",
      "test('fails', () => expect(1).toBe(2));",
      "test.skip('is skipped', () => undefined);",
    ].join('\n')
  );
  fs.writeFileSync(path.join(dir, 'ok.test.js'), "test('passes too', () => expect(true).toBe(true));\n");
  fs.writeFileSync(
    path.join(dir, 'jest.config.js'),
    `module.exports = ${JSON.stringify({
      rootDir: dir,
      testMatch: ['**/*.test.js'],
      reporters: ['default', path.join(ROOT, 'test', 'helpers', 'summary-reporter.js')],
    })};\n`
  );
});

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Runs `npm test` on the small suite, stdout and stderr in one pipe, in the order written (as a terminal shows). */
function npmTest(...args: string[]): { status: number | null; lines: string[] } {
  const quoted = ['--config', path.join(dir, 'jest.config.js'), ...args].map((a) => `'${a}'`).join(' ');
  const run = spawnSync('sh', ['-c', `npm test -- ${quoted} 2>&1`], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, FORCE_COLOR: '0' },
    timeout: 120000,
  });
  return { status: run.status, lines: run.stdout.split('\n').filter((l) => l.trim() !== '') };
}

test('the last line of npm test, after jest’s own summary, is "N passed, N failed, N skipped"', () => {
  const { status, lines } = npmTest();
  expect(status).toBe(1);
  expect(lines[lines.length - 1]).toBe('2 passed, 1 failed, 1 skipped');
  expect(lines.filter((l) => /^\d+ passed, \d+ failed/.test(l))).toHaveLength(1);
  expect(lines.some((l) => /^Ran all test suites/.test(l))).toBe(true);
}, 120000);

test('the line also ends a run whose summary jest writes to stdout (--json), and a passing run exits 0', () => {
  const { status, lines } = npmTest('ok.test.js', '--json');
  expect(status).toBe(0);
  expect(lines[lines.length - 1]).toBe('1 passed, 0 failed');
}, 120000);
