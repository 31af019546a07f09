import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createFileStore, type FileStore } from './file-store';
import type { AuditRecord } from './types';

const DAY = 24 * 60 * 60 * 1000;

function tmp(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'cds-store-'));
}

function record(time: string, body: unknown): AuditRecord {
  return {
    time,
    kind: 'service',
    serviceId: 'svc',
    request: { method: 'POST', path: '/cds-services/svc', headers: { 'content-type': 'application/json' }, body },
    response: { status: 200, body: { cards: [] } },
    durationMs: 1,
  };
}

describe('FileStore', () => {
  let dir: string;
  let store: FileStore;
  let clock: number;

  beforeEach(async () => {
    dir = tmp();
    clock = Date.parse('2024-06-01T12:00:00Z');
    store = await createFileStore({ dataDir: dir, audit: true, auditRetentionDays: 30, now: () => clock });
  });
  afterEach(async () => {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  describe('rememberJti', () => {
    it('detects a replay until the id expires, per issuer', async () => {
      const exp = clock + 60000;
      expect(await store.rememberJti('iss-a', 'j1', exp)).toBe(true);
      expect(await store.rememberJti('iss-a', 'j1', exp)).toBe(false);
      expect(await store.rememberJti('iss-b', 'j1', exp)).toBe(true);
      clock = exp + 1;
      expect(await store.rememberJti('iss-a', 'j1', clock + 60000)).toBe(true);
    });

    it('refuses a replay after a restart on the same folder, until the id expires', async () => {
      const exp = clock + 60000;
      expect(await store.rememberJti('iss-a', 'j1', exp)).toBe(true);
      expect(await store.rememberJti('iss-a', 'short', clock + 10)).toBe(true);
      await store.close();
      store = await createFileStore({ dataDir: dir, audit: true, auditRetentionDays: 30, now: () => clock });
      expect(await store.rememberJti('iss-a', 'j1', exp)).toBe(false);
      expect(await store.rememberJti('iss-b', 'j1', exp)).toBe(true);
      clock += 11;
      await store.close();
      store = await createFileStore({ dataDir: dir, audit: true, auditRetentionDays: 30, now: () => clock });
      expect(await store.rememberJti('iss-a', 'short', clock + 10)).toBe(true);
      expect(await store.rememberJti('iss-a', 'j1', exp)).toBe(false);
      // The journal holds hashes, never the issuer or the token id.
      const journal = fs.readFileSync(path.join(dir, 'replay', 'jti.log'), 'utf8');
      expect(journal).not.toContain('iss-a');
      expect(journal).not.toContain('j1');
    });

    it('ignores a torn last journal line (a crash mid-write)', async () => {
      expect(await store.rememberJti('iss', 'kept', clock + 60000)).toBe(true);
      await store.close();
      fs.appendFileSync(path.join(dir, 'replay', 'jti.log'), `${clock + 60000} abc`);
      store = await createFileStore({ dataDir: dir, audit: true, auditRetentionDays: 30, now: () => clock });
      expect(await store.rememberJti('iss', 'kept', clock + 60000)).toBe(false);
      expect(await store.rememberJti('iss', 'new', clock + 60000)).toBe(true);
    });

    it('rewrites the journal without the expired ids, keeping the live ones', async () => {
      await Promise.all(Array.from({ length: 1500 }, (_, i) => store.rememberJti('iss', `old-${i}`, clock + 1000)));
      expect(await store.rememberJti('iss', 'live', clock + 600000)).toBe(true);
      const journal = path.join(dir, 'replay', 'jti.log');
      expect(fs.readFileSync(journal, 'utf8').trim().split('\n')).toHaveLength(1501);
      clock += 2000;
      await store.sweepJtis();
      expect(fs.readFileSync(journal, 'utf8').trim().split('\n')).toHaveLength(1);
      expect(await store.rememberJti('iss', 'old-3', clock + 1000)).toBe(true);
      await store.close();
      store = await createFileStore({ dataDir: dir, audit: true, auditRetentionDays: 30, now: () => clock });
      expect(await store.rememberJti('iss', 'live', clock + 600000)).toBe(false);
      expect(await store.rememberJti('iss', 'old-3', clock + 1000)).toBe(false);
      expect(await store.rememberJti('iss', 'old-4', clock + 1000)).toBe(true);
    });

    it('rejects, and remembers nothing, when the journal cannot be written', async () => {
      fs.rmSync(path.join(dir, 'replay'), { recursive: true, force: true });
      fs.writeFileSync(path.join(dir, 'replay'), 'not a folder');
      await expect(store.rememberJti('iss', 'j', clock + 60000)).rejects.toThrow();
      fs.rmSync(path.join(dir, 'replay'));
      fs.mkdirSync(path.join(dir, 'replay'));
      expect(await store.rememberJti('iss', 'j', clock + 60000)).toBe(true);
    });
  });

  describe('appendAudit', () => {
    it('writes one JSON line per record into the file of its UTC day, access token redacted', async () => {
      await store.appendAudit(
        record('2024-06-01T23:59:59.000Z', { fhirAuthorization: { access_token: 'secret-token', scope: 's' } })
      );
      await store.appendAudit(record('2024-06-02T00:00:01.000Z', { hook: 'order-sign' }));
      const first = fs
        .readFileSync(path.join(dir, 'audit', '2024-06-01.jsonl'), 'utf8')
        .trim()
        .split('\n');
      const second = fs
        .readFileSync(path.join(dir, 'audit', '2024-06-02.jsonl'), 'utf8')
        .trim()
        .split('\n');
      expect(first).toHaveLength(1);
      expect(second).toHaveLength(1);
      expect(first[0]).not.toContain('secret-token');
      expect(JSON.parse(first[0]!).request.body.fhirAuthorization).toEqual({ access_token: '[redacted]', scope: 's' });
    });

    it('redacts every member of fhirAuthorization but token_type, expires_in, scope and subject', async () => {
      await store.appendAudit(
        record('2024-06-01T10:00:00Z', {
          hook: 'order-sign',
          fhirAuthorization: {
            access_token: 'secret-access',
            refresh_token: 'secret-refresh',
            id_token: 'secret-id',
            client_secret: 'secret-client',
            token_type: 'Bearer',
            expires_in: 300,
            scope: 'patient/*.read',
            subject: 'cds-service',
          },
        })
      );
      await store.appendAudit(record('2024-06-01T10:00:01Z', { fhirAuthorization: 'secret-string' }));
      const text = fs.readFileSync(path.join(dir, 'audit', '2024-06-01.jsonl'), 'utf8');
      expect(text).not.toContain('secret-');
      const [one, two] = text
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { request: { body: Record<string, unknown> } });
      expect(one!.request.body).toEqual({
        hook: 'order-sign',
        fhirAuthorization: {
          access_token: '[redacted]',
          refresh_token: '[redacted]',
          id_token: '[redacted]',
          client_secret: '[redacted]',
          token_type: 'Bearer',
          expires_in: 300,
          scope: 'patient/*.read',
          subject: 'cds-service',
        },
      });
      expect(two!.request.body).toEqual({ fhirAuthorization: '[redacted]' });
    });

    it('rejects when the record cannot be written, and after close', async () => {
      fs.rmSync(path.join(dir, 'audit'), { recursive: true, force: true });
      fs.writeFileSync(path.join(dir, 'audit'), 'not a folder');
      await expect(store.appendAudit(record('2024-06-01T10:00:00Z', {}))).rejects.toThrow();
      fs.rmSync(path.join(dir, 'audit'));
      fs.mkdirSync(path.join(dir, 'audit'));
      await expect(store.appendAudit(record('2024-06-01T10:00:00Z', {}))).resolves.toBeUndefined();
      await store.close();
      await expect(store.appendAudit(record('2024-06-01T10:00:00Z', {}))).rejects.toThrow('store closed');
    });

    it('never writes an Authorization header, whoever built the record', async () => {
      const r = record('2024-06-01T10:00:00Z', {});
      r.request.headers['Authorization'] = 'Bearer abc.def.ghi';
      await store.appendAudit(r);
      expect(fs.readFileSync(path.join(dir, 'audit', '2024-06-01.jsonl'), 'utf8')).not.toContain('abc.def.ghi');
    });

    it('keeps lines whole under concurrent appends', async () => {
      const big = 'x'.repeat(200000);
      await Promise.all(
        Array.from({ length: 20 }, (_, i) => store.appendAudit(record('2024-06-01T10:00:00Z', { i, big })))
      );
      const lines = fs
        .readFileSync(path.join(dir, 'audit', '2024-06-01.jsonl'), 'utf8')
        .trim()
        .split('\n');
      expect(lines).toHaveLength(20);
      expect(
        lines.map((l) => (JSON.parse(l) as { request: { body: { i: number } } }).request.body.i).sort((a, b) => a - b)
      ).toEqual(Array.from({ length: 20 }, (_, i) => i));
    });

    it('writes nothing when auditing is off', async () => {
      const offDir = tmp();
      const off = await createFileStore({ dataDir: offDir, audit: false, auditRetentionDays: 30 });
      await off.appendAudit(record('2024-06-01T10:00:00Z', {}));
      await off.close();
      expect(fs.existsSync(path.join(offDir, 'audit'))).toBe(false);
    });
  });

  describe('retention', () => {
    it('deletes day files older than the retention at start-up, keeping the rest', async () => {
      const auditDir = path.join(dir, 'audit');
      for (const day of ['2024-04-01', '2024-05-01', '2024-05-02', '2024-06-01']) {
        fs.writeFileSync(path.join(auditDir, `${day}.jsonl`), '{}\n');
      }
      fs.writeFileSync(path.join(auditDir, 'notes.txt'), 'kept');
      // 30 days before 2024-06-01 is 2024-05-02: that day is kept, older ones go.
      const again = await createFileStore({ dataDir: dir, audit: true, auditRetentionDays: 30, now: () => clock });
      await again.close();
      expect(fs.readdirSync(auditDir).sort()).toEqual(['2024-05-02.jsonl', '2024-06-01.jsonl', 'notes.txt']);
    });

    it('applies again as days pass', async () => {
      fs.writeFileSync(path.join(dir, 'audit', '2024-05-15.jsonl'), '{}\n');
      expect(await store.applyRetention()).toEqual([]);
      clock += 20 * DAY;
      expect(await store.applyRetention()).toEqual(['2024-05-15.jsonl']);
    });
  });

  describe('putFeedback', () => {
    const item = { card: 'c1', outcome: 'overridden' as const, outcomeTimestamp: '2024-06-01T10:00:00Z' };

    it('stores an item once, even when the same item arrives concurrently', async () => {
      const results = await Promise.all(Array.from({ length: 10 }, () => store.putFeedback('svc', item)));
      expect(results.filter((r) => r)).toHaveLength(1);
      const files = fs.readdirSync(path.join(dir, 'feedback', 'svc'));
      expect(files).toHaveLength(1);
      expect(files[0]).toMatch(/^[0-9a-f]{64}\.json$/);
      expect(JSON.parse(fs.readFileSync(path.join(dir, 'feedback', 'svc', files[0]!), 'utf8'))).toMatchObject({
        serviceId: 'svc',
        item,
      });
    });

    it('tells different outcomes and timestamps apart', async () => {
      expect(await store.putFeedback('svc', item)).toBe(true);
      expect(await store.putFeedback('svc', { ...item, outcome: 'accepted', acceptedSuggestions: [{ id: 's' }] })).toBe(
        true
      );
      expect(await store.putFeedback('svc', { ...item, outcomeTimestamp: '2024-06-01T10:00:01Z' })).toBe(true);
      expect(await store.putFeedback('svc', { ...item, overrideReason: { userComment: 'changed' } })).toBe(false);
    });

    it('keeps a service id from escaping the feedback folder', async () => {
      await store.putFeedback('../../escape', item);
      await store.putFeedback('..', item);
      expect(fs.readdirSync(path.join(dir, 'feedback')).sort()).toEqual(['%2E%2E', '%2E%2E%2F%2E%2E%2Fescape']);
      expect(fs.readdirSync(dir).sort()).toEqual(['assertions', 'audit', 'cards', 'feedback', 'replay']);
    });
  });

  describe('rememberCards and isIssuedCard', () => {
    it('knows the cards each service issued, across a restart, whatever CDS_AUDIT says', async () => {
      const offDir = tmp();
      const open = (): Promise<FileStore> =>
        createFileStore({ dataDir: offDir, audit: false, auditRetentionDays: 30, now: () => clock });
      let off = await open();
      await off.rememberCards('svc-a', ['11111111-1111-4111-8111-111111111111', 'second']);
      await off.rememberCards('svc-b', []);
      expect(await off.isIssuedCard('svc-a', '11111111-1111-4111-8111-111111111111')).toBe(true);
      expect(await off.isIssuedCard('svc-a', 'second')).toBe(true);
      expect(await off.isIssuedCard('svc-b', 'second')).toBe(false);
      expect(await off.isIssuedCard('svc-a', 'never')).toBe(false);
      expect(await off.isIssuedCard('svc-a', '../../etc/passwd')).toBe(false);
      await off.close();
      off = await open();
      expect(await off.isIssuedCard('svc-a', 'second')).toBe(true);
      await off.close();
      expect(fs.existsSync(path.join(offDir, 'audit'))).toBe(false);
      fs.rmSync(offDir, { recursive: true, force: true });
    });

    it('forgets a card uuid once it is older than the retention', async () => {
      await store.rememberCards('svc', ['old']);
      clock += 20 * DAY;
      await store.rememberCards('svc', ['newer']);
      expect(await store.sweepCards()).toBe(0);
      clock += 15 * DAY;
      expect(await store.isIssuedCard('svc', 'old')).toBe(false);
      expect(await store.isIssuedCard('svc', 'newer')).toBe(true);
      expect(await store.sweepCards()).toBe(1);
      const files = fs.readdirSync(path.join(dir, 'cards', 'svc'), { recursive: true, withFileTypes: true });
      expect(files.filter((f) => f.isFile())).toHaveLength(1);
    });

    it('sweeps the expired card uuids at start-up, without making start-up wait', async () => {
      await store.rememberCards('svc', ['old']);
      await store.close();
      clock += 31 * DAY;
      store = await createFileStore({ dataDir: dir, audit: true, auditRetentionDays: 30, now: () => clock });
      await store.flush();
      const files = fs.readdirSync(path.join(dir, 'cards', 'svc'), { recursive: true, withFileTypes: true });
      expect(files.filter((f) => f.isFile())).toHaveLength(0);
    });
  });

  describe('ready', () => {
    it('resolves while the data folder accepts a write, rejects when it does not', async () => {
      await expect(store.ready()).resolves.toBeUndefined();
      expect(fs.readdirSync(dir).sort()).toEqual(['assertions', 'audit', 'cards', 'feedback', 'replay']);
      fs.rmSync(dir, { recursive: true, force: true });
      await expect(store.ready()).rejects.toThrow();
      fs.mkdirSync(dir);
      await expect(store.ready()).resolves.toBeUndefined();
      await store.close();
      await expect(store.ready()).rejects.toThrow('store closed');
    });
  });
});
