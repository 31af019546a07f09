import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createClusterStore, serveSharedStore, type IpcEndpoint } from './cluster-store';
import { createFileStore, type FileStore } from './file-store';
import type { AuditRecord, SharedStore } from './types';

/**
 * Two ends of an IPC channel, like `process` in a worker and `cluster.Worker` in the primary: messages go through a
 * JSON round trip (the cluster's default serialization) and arrive asynchronously. `sent` records what crossed.
 */
function channel(): { worker: IpcEndpoint; primary: IpcEndpoint; sent: unknown[]; cut: () => void } {
  const workerSide = new EventEmitter();
  const primarySide = new EventEmitter();
  const sent: unknown[] = [];
  let connected = true;
  const endpoint = (self: EventEmitter, other: EventEmitter): IpcEndpoint => ({
    send(message: unknown, callback?: (error: Error | null) => void): boolean {
      if (!connected) {
        setImmediate(() => callback?.(new Error('channel closed')));
        return false;
      }
      sent.push(message);
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
  return {
    worker: endpoint(workerSide, primarySide),
    primary: endpoint(primarySide, workerSide),
    sent,
    cut: () => {
      connected = false;
    },
  };
}

function record(body: unknown): AuditRecord {
  return {
    time: '2026-11-22T10:00:00.000Z',
    kind: 'service',
    serviceId: 'svc',
    request: { method: 'POST', path: '/cds-services/svc', headers: {}, body },
    response: { status: 200, body: { cards: [] } },
    durationMs: 1,
  };
}

describe('ClusterStore and serveSharedStore', () => {
  let dir: string;
  let primaryStore: FileStore;

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cds-cluster-store-'));
    primaryStore = await createFileStore({ dataDir: dir, audit: true, auditRetentionDays: 30 });
  });
  afterEach(async () => {
    await primaryStore.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('refuses a jti in one worker once another worker has seen it', async () => {
    const a = channel();
    const b = channel();
    serveSharedStore(a.primary, primaryStore);
    serveSharedStore(b.primary, primaryStore);
    const workerA = createClusterStore(a.worker);
    const workerB = createClusterStore(b.worker);
    const exp = Date.now() + 60000;
    expect(await workerA.rememberJti('iss', 'jti-1', exp)).toBe(true);
    expect(await workerB.rememberJti('iss', 'jti-1', exp)).toBe(false);
    expect(await workerA.rememberJti('iss', 'jti-1', exp)).toBe(false);
    expect(await workerB.rememberJti('other-iss', 'jti-1', exp)).toBe(true);
    // Concurrent first uses from both workers: exactly one wins.
    const results = await Promise.all([
      workerA.rememberJti('iss', 'jti-2', exp),
      workerB.rememberJti('iss', 'jti-2', exp),
      workerA.rememberJti('iss', 'jti-2', exp),
      workerB.rememberJti('iss', 'jti-2', exp),
    ]);
    expect(results.filter((r) => r)).toHaveLength(1);
  });

  it('stores a feedback item once when both workers receive it at the same time', async () => {
    const a = channel();
    const b = channel();
    serveSharedStore(a.primary, primaryStore);
    serveSharedStore(b.primary, primaryStore);
    const workers = [createClusterStore(a.worker), createClusterStore(b.worker)];
    const item = {
      card: 'c1',
      outcome: 'accepted' as const,
      outcomeTimestamp: '2026-11-22T10:00:00Z',
      acceptedSuggestions: [{ id: 's' }],
    };
    const stored = await Promise.all(Array.from({ length: 6 }, (_, i) => workers[i % 2]!.putFeedback('svc', item)));
    expect(stored.filter((s) => s)).toHaveLength(1);
    expect(fs.readdirSync(path.join(dir, 'feedback', 'svc')).filter((f) => f.endsWith('.json'))).toHaveLength(1);
  });

  it('gives both workers one coverage-assertion-id per key and outcome, kept by the primary', async () => {
    const a = channel();
    const b = channel();
    serveSharedStore(a.primary, primaryStore);
    serveSharedStore(b.primary, primaryStore);
    const workerA = createClusterStore(a.worker);
    const workerB = createClusterStore(b.worker);
    const key = { orderId: 'mr-1', coverage: 'Coverage/cov-1', policy: 'p', policyVersion: '1' };
    const covered = { covered: 'covered', paNeeded: 'auth-needed' };
    const ids = await Promise.all(
      Array.from({ length: 10 }, (_, i) => (i % 2 ? workerA : workerB).assertionFor(key, covered, `fresh-${i}`))
    );
    expect(new Set(ids).size).toBe(1);
    expect(await workerA.assertionFor(key, { covered: 'not-covered', paNeeded: '' }, 'changed')).toBe('changed');
    expect(await workerB.assertionFor(key, { covered: 'not-covered', paNeeded: '' }, 'other')).toBe('changed');
    expect(await primaryStore.assertionFor(key, covered, 'in-primary')).toBe('in-primary');
  });

  it("fails a worker's assertionFor when the primary cannot keep the id", async () => {
    const a = channel();
    const reported: string[] = [];
    serveSharedStore(a.primary, primaryStore, (message) => reported.push(message));
    const worker = createClusterStore(a.worker);
    // The journal's folder is replaced by a file: no day file can be appended to.
    fs.rmSync(path.join(dir, 'assertions'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'assertions'), '');
    const key = { orderId: 'mr-1', coverage: 'Coverage/cov-1', policy: 'p', policyVersion: '1' };
    await expect(worker.assertionFor(key, { covered: 'covered', paNeeded: '' }, 'x')).rejects.toThrow(
      'shared store: assertionFor failed'
    );
    expect(reported).toEqual(['shared store assertionFor failed']);
  });

  it('writes every audit record once, with the access token redacted before it leaves the worker', async () => {
    const a = channel();
    const b = channel();
    serveSharedStore(a.primary, primaryStore);
    serveSharedStore(b.primary, primaryStore);
    const workerA = createClusterStore(a.worker);
    const workerB = createClusterStore(b.worker);
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        (i % 2 ? workerA : workerB).appendAudit(record({ i, fhirAuthorization: { access_token: 'very-secret' } }))
      )
    );
    await primaryStore.flush();
    const lines = fs
      .readFileSync(path.join(dir, 'audit', '2026-11-22.jsonl'), 'utf8')
      .trim()
      .split('\n');
    expect(
      lines.map((l) => (JSON.parse(l) as { request: { body: { i: number } } }).request.body.i).sort((x, y) => x - y)
    ).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(lines.join('\n')).not.toContain('very-secret');
    expect(JSON.stringify([...a.sent, ...b.sent])).not.toContain('very-secret');
  });

  it('rejects in the worker when the primary fails the operation, and reports it in the primary', async () => {
    const failing: SharedStore = {
      rememberJti: () => Promise.reject(new Error('disk full at /secret/path')),
      appendAudit: () => Promise.resolve(),
      putFeedback: () => Promise.resolve(true),
      assertionFor: (_key, _outcome, fresh) => Promise.resolve(fresh),
      rememberCards: () => Promise.resolve(),
      isIssuedCard: () => Promise.resolve(true),
      ready: () => Promise.reject(new Error('read-only file system')),
      close: () => Promise.resolve(),
    };
    const a = channel();
    const reported: string[] = [];
    serveSharedStore(a.primary, failing, (message) => reported.push(message));
    const worker = createClusterStore(a.worker);
    await expect(worker.rememberJti('iss', 'j', Date.now() + 1000)).rejects.toThrow('shared store: rememberJti failed');
    expect(reported).toEqual(['shared store rememberJti failed']);
    await expect(worker.ready()).rejects.toThrow('shared store: ready failed');
  });

  it('remembers the cards one worker issued for every worker, per service', async () => {
    const a = channel();
    const b = channel();
    serveSharedStore(a.primary, primaryStore);
    serveSharedStore(b.primary, primaryStore);
    const workerA = createClusterStore(a.worker);
    const workerB = createClusterStore(b.worker);
    await workerA.rememberCards('svc', ['card-1', 'card-2']);
    await workerA.rememberCards('svc', []);
    expect(await workerB.isIssuedCard('svc', 'card-1')).toBe(true);
    expect(await workerB.isIssuedCard('svc', 'card-2')).toBe(true);
    expect(await workerB.isIssuedCard('other-svc', 'card-1')).toBe(false);
    expect(await workerA.isIssuedCard('svc', 'card-3')).toBe(false);
    expect(await primaryStore.isIssuedCard('svc', 'card-1')).toBe(true);
  });

  it('is ready when the primary answers and its store accepts writes', async () => {
    const a = channel();
    serveSharedStore(a.primary, primaryStore);
    const worker = createClusterStore(a.worker);
    await expect(worker.ready()).resolves.toBeUndefined();
    // The primary's data folder gone: its store no longer accepts writes.
    fs.rmSync(dir, { recursive: true, force: true });
    await expect(worker.ready()).rejects.toThrow('shared store: ready failed');
    const silent = channel();
    const alone = createClusterStore(silent.worker, { replyTimeoutMs: 50 });
    await expect(alone.ready()).rejects.toThrow(/no answer from the cluster primary within 50 ms/);
  });

  it('passes a failed audit write back to the worker', async () => {
    const a = channel();
    serveSharedStore(a.primary, primaryStore);
    const worker = createClusterStore(a.worker);
    fs.rmSync(path.join(dir, 'audit'), { recursive: true, force: true });
    fs.writeFileSync(path.join(dir, 'audit'), 'not a folder');
    await expect(worker.appendAudit(record({}))).rejects.toThrow('shared store: appendAudit failed');
  });

  it('gives up when the primary does not answer, and when the channel is closed', async () => {
    const silent = channel();
    const worker = createClusterStore(silent.worker, { replyTimeoutMs: 50 });
    await expect(worker.rememberJti('iss', 'j', Date.now() + 1000)).rejects.toThrow(
      /no answer from the cluster primary/
    );
    expect(worker.inFlight).toBe(0);

    const cut = channel();
    serveSharedStore(cut.primary, primaryStore);
    const orphan = createClusterStore(cut.worker);
    cut.cut();
    await expect(
      orphan.putFeedback('svc', { card: 'c', outcome: 'overridden', outcomeTimestamp: 't' })
    ).rejects.toThrow(/IPC channel to the cluster primary is closed/);

    const none = createClusterStore({ on: () => undefined, off: () => undefined });
    await expect(none.appendAudit(record({}))).rejects.toThrow(/no IPC channel/);
  });

  it('close waits for the answers still due, then refuses new operations', async () => {
    const a = channel();
    serveSharedStore(a.primary, primaryStore);
    const worker = createClusterStore(a.worker);
    const pending = worker.putFeedback('svc', { card: 'c2', outcome: 'overridden', outcomeTimestamp: 't' });
    await worker.close();
    expect(worker.inFlight).toBe(0);
    await expect(pending).resolves.toBe(true);
    await expect(worker.rememberJti('iss', 'late', Date.now() + 1000)).rejects.toThrow(/closed/);
  });

  it('ignores messages that are not its own, in both directions', async () => {
    const a = channel();
    const stop = serveSharedStore(a.primary, primaryStore);
    const worker = createClusterStore(a.worker);
    a.worker.send?.({ type: 'cds-store:call', id: 1, call: { op: 'rememberJti', iss: 7 } });
    a.worker.send?.({ type: 'cds-store:call', id: 2, call: { op: 'dropDatabase' } });
    a.worker.send?.({ type: 'cds-store:call', id: 3, call: { op: 'rememberCards', serviceId: 's', uuids: [1] } });
    a.worker.send?.({ type: 'cds-store:call', id: 4, call: { op: 'isIssuedCard', serviceId: 's' } });
    a.worker.send?.('hello');
    a.primary.send?.({ type: 'cds-store:reply', id: 999, ok: true, value: true });
    await new Promise((r) => setImmediate(r));
    expect(await worker.rememberJti('iss', 'fresh', Date.now() + 1000)).toBe(true);
    // Only the well-formed call was answered (the other reply is the stray one sent above).
    const replies = a.sent.filter((m) => (m as { type?: string }).type === 'cds-store:reply');
    expect(replies).toHaveLength(2);
    stop();
    const quiet = createClusterStore(a.worker, { replyTimeoutMs: 30 });
    await expect(quiet.rememberJti('iss', 'after-stop', Date.now() + 1000)).rejects.toThrow(/no answer/);
  });
});
