// The shared store suite (test/store-suite.ts) against the cluster store: the worker's ClusterStore forwarding every
// operation to the primary's file store (serveSharedStore), over an in-process channel that, like the cluster's IPC,
// delivers JSON copies asynchronously. What a worker sees with CDS_WORKERS > 1.
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createClusterStore, serveSharedStore, type IpcEndpoint } from '../src/store/cluster-store';
import { createFileStore } from '../src/store/file-store';
import type { AuditRecord } from '../src/store/types';
import { describeSharedStore } from './store-suite';

function channel(): { worker: IpcEndpoint; primary: IpcEndpoint } {
  const workerSide = new EventEmitter();
  const primarySide = new EventEmitter();
  const endpoint = (self: EventEmitter, other: EventEmitter): IpcEndpoint => ({
    send(message: unknown, callback?: (error: Error | null) => void): boolean {
      const copy: unknown = JSON.parse(JSON.stringify(message));
      setImmediate(() => {
        other.emit('message', copy);
        callback?.(null);
      });
      return true;
    },
    on: (event, listener) => self.on(event, listener),
    off: (event, listener) => self.off(event, listener),
  });
  return { worker: endpoint(workerSide, primarySide), primary: endpoint(primarySide, workerSide) };
}

describeSharedStore('cluster store (a worker, through the primary, over the file store)', () => {
  let dir = '';
  const made: string[] = [];
  return {
    reset() {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cds-store-suite-cluster-'));
      made.push(dir);
      return Promise.resolve();
    },
    async open(options) {
      const primaryStore = await createFileStore({ dataDir: dir, ...options });
      const ch = channel();
      const unserve = serveSharedStore(ch.primary, primaryStore);
      const worker = createClusterStore(ch.worker);
      const closeWorker = worker.close.bind(worker);
      // Closing the worker's store closes the whole arrangement, as the primary does when its workers have gone.
      worker.close = async (): Promise<void> => {
        await closeWorker();
        unserve();
        await primaryStore.close();
      };
      return worker;
    },
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
