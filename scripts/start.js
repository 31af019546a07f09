#!/usr/bin/env node
// Builds the service when dist/ is missing or older than the newest file under src/, then runs an entry point.
//   node scripts/start.js                 -> the service (dist/index.js), production build config
//   node scripts/start.js --dev dev/demo  -> a development tool under src/dev (needs the dev dependencies)
// Plain JavaScript on purpose: it must run before anything is compiled.
// The entry point runs in this very process (no child), and package.json `exec`s node, so `npm start`'s own process
// forwards SIGTERM and SIGINT straight to the service, which drains and exits, and npm exits with it.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

const root = path.resolve(__dirname, '..');
const args = process.argv.slice(2);
let entry = 'index';
let tsconfig = 'tsconfig.build.json';
if (args[0] === '--dev') {
  entry = args[1];
  tsconfig = 'tsconfig.dev.json';
  args.splice(0, 2);
}

function newestMtime(dir) {
  let newest = 0;
  for (const name of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, name.name);
    const t = name.isDirectory() ? newestMtime(full) : fs.statSync(full).mtimeMs;
    if (t > newest) newest = t;
  }
  return newest;
}

const out = path.join(root, 'dist', `${entry}.js`);
const stale = !fs.existsSync(out) || fs.statSync(out).mtimeMs < newestMtime(path.join(root, 'src'));
if (stale) {
  process.stderr.write(`building (${tsconfig})...\n`);
  execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', path.join(root, tsconfig)], {
    cwd: root,
    stdio: 'inherit',
  });
  // tsc leaves untouched outputs with old mtimes: mark the entry as fresh so the next start skips the build.
  const now = new Date();
  fs.utimesSync(out, now, now);
}
process.argv = [process.argv[0], out, ...args];
require(out);
