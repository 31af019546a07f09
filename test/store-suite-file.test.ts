// The shared store suite (test/store-suite.ts) against the file store: a new data directory for each test; the
// audit read back from its day files.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createFileStore } from '../src/store/file-store';
import type { AuditRecord } from '../src/store/types';
import { describeSharedStore } from './store-suite';

describeSharedStore('file store', () => {
  let dir = '';
  const made: string[] = [];
  return {
    reset() {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cds-store-suite-'));
      made.push(dir);
      return Promise.resolve();
    },
    open: (options) => createFileStore({ dataDir: dir, ...options }),
    auditRecords() {
      const audit = path.join(dir, 'audit');
      if (!fs.existsSync(audit)) {
        return Promise.resolve([]);
      }
      return Promise.resolve(
        fs
          .readdirSync(audit)
          .sort()
          .flatMap((f) => fs.readFileSync(path.join(audit, f), 'utf8').split('\n'))
          .filter((l) => l.trim() !== '')
          .map((l) => JSON.parse(l) as AuditRecord)
      );
    },
    breakAudit() {
      // A plain file where the audit folder was: every append fails (ENOTDIR), also for root.
      const audit = path.join(dir, 'audit');
      fs.rmSync(audit, { recursive: true, force: true });
      fs.writeFileSync(audit, 'not a folder');
      return Promise.resolve();
    },
    cleanup() {
      for (const d of made) {
        fs.rmSync(d, { recursive: true, force: true });
      }
      return Promise.resolve();
    },
    supports: { persistentReplay: true, cards: true, assertions: true, ready: true },
  };
});
