// One suite of SharedStore tests that every store passes (issue 11): the file store (test/store-suite-file.test.ts),
// a worker's cluster store through the primary (test/store-suite-cluster.test.ts) and the PostgreSQL store
// (test/store-suite-pg.test.ts). Each test opens the store through a harness that can reopen it on the same data (a
// restart), read what it really wrote (files, rows) and break the audit's storage.
import { randomUUID } from 'node:crypto';
import type { AuditRecord, FeedbackItem, SharedStore } from '../src/store/types';

const DAY = 24 * 60 * 60 * 1000;
const T0 = Date.parse('2026-06-01T12:00:00Z');

export interface StoreOptions {
  audit: boolean;
  auditRetentionDays: number;
  now: () => number;
}

/** The members of STORE-INTERFACE.md beyond rememberJti, appendAudit, putFeedback and close. */
export interface StoreMembers {
  rememberCards(serviceId: string, uuids: string[]): Promise<void>;
  isIssuedCard(serviceId: string, uuid: string): Promise<boolean>;
  assertionFor(
    key: { orderId: string; coverage: string; policy: string; policyVersion: string },
    outcome: { covered: string; paNeeded: string },
    fresh: string
  ): Promise<string>;
  ready(): Promise<void>;
}

export type AnyStore = SharedStore & Partial<StoreMembers>;

export interface StoreHarness {
  /** Prepares new, empty storage (before each test). */
  reset(): Promise<void>;
  /** Opens the store on the current storage (again after a close: a restart). */
  open(options: StoreOptions): Promise<AnyStore>;
  /** The audit records as stored, in the order written. */
  auditRecords(): Promise<AuditRecord[]>;
  /** Makes every later audit write fail (the records cannot be written). */
  breakAudit(): Promise<void>;
  /** Removes everything (after all tests). */
  cleanup(): Promise<void>;
  /** Which parts this store has (the file store gains them as they land). */
  supports: {
    /** The replay cache survives a restart. */
    persistentReplay: boolean;
    cards: boolean;
    assertions: boolean;
    ready: boolean;
  };
}

function record(over: Partial<AuditRecord> = {}): AuditRecord {
  return {
    time: new Date(T0).toISOString(),
    kind: 'service',
    serviceId: 'svc-a',
    hookInstance: randomUUID(),
    iss: 'https://ehr.example',
    jti: randomUUID(),
    request: {
      method: 'POST',
      path: '/cds-services/svc-a',
      headers: { 'content-type': 'application/json' },
      body: {
        hook: 'order-sign',
        fhirAuthorization: {
          access_token: 'secret-access-token',
          refresh_token: 'secret-refresh',
          token_type: 'Bearer',
        },
      },
    },
    response: { status: 200, body: { cards: [] } },
    durationMs: 12.5,
    ...over,
  };
}

function feedback(card: string, outcome: 'accepted' | 'overridden' = 'accepted'): FeedbackItem {
  return { card, outcome, outcomeTimestamp: '2026-06-01T12:00:00Z' };
}

function need<K extends keyof StoreMembers>(store: AnyStore, member: K): StoreMembers[K] {
  const f = store[member];
  if (typeof f !== 'function') {
    throw new Error(`the store has no ${member}`);
  }
  return (f as (...args: unknown[]) => unknown).bind(store) as StoreMembers[K];
}

/**
 * Defines the shared store tests.
 * @param name - the store's name in the test titles
 * @param harness - a function giving the harness, or undefined when the store cannot run here (the caller has
 *   printed why)
 */
export function describeSharedStore(name: string, harness: () => StoreHarness | undefined): void {
  const h = harness();
  const suite = h ? describe : describe.skip;
  suite(`SharedStore: ${name}`, () => {
    const H = h as StoreHarness;
    let clock = T0;
    const now = (): number => clock;
    let store: AnyStore | undefined;

    const open = async (over: Partial<StoreOptions> = {}): Promise<AnyStore> => {
      store = await H.open({ audit: true, auditRetentionDays: 30, now, ...over });
      return store;
    };
    const restart = async (over: Partial<StoreOptions> = {}): Promise<AnyStore> => {
      await store?.close();
      store = undefined;
      return open(over);
    };
    const when = (flag: keyof StoreHarness['supports']): typeof it => (h?.supports[flag] ? it : it.skip);

    beforeEach(async () => {
      clock = T0;
      await H.reset();
    });
    afterEach(async () => {
      await store?.close();
      store = undefined;
    });
    afterAll(async () => {
      await H.cleanup();
    });

    describe('replay cache', () => {
      it('accepts a jti once per issuer until it expires, then again', async () => {
        const s = await open();
        const exp = clock + 60000;
        expect(await s.rememberJti('iss-a', 'j1', exp)).toBe(true);
        expect(await s.rememberJti('iss-a', 'j1', exp)).toBe(false);
        expect(await s.rememberJti('iss-b', 'j1', exp)).toBe(true);
        clock = exp + 1;
        expect(await s.rememberJti('iss-a', 'j1', clock + 60000)).toBe(true);
        expect(await s.rememberJti('iss-a', 'j1', clock + 60000)).toBe(false);
      });

      it('accepts exactly one of many concurrent uses of one jti', async () => {
        const s = await open();
        const answers = await Promise.all(
          Array.from({ length: 20 }, () => s.rememberJti('iss-a', 'same', clock + 60000))
        );
        expect(answers.filter((a) => a)).toHaveLength(1);
      });

      when('persistentReplay')('still refuses a jti after a restart, until it expires', async () => {
        const s = await open();
        expect(await s.rememberJti('iss-a', 'j1', clock + 60000)).toBe(true);
        const again = await restart();
        expect(await again.rememberJti('iss-a', 'j1', clock + 60000)).toBe(false);
        clock += 60001;
        const later = await restart();
        expect(await later.rememberJti('iss-a', 'j1', clock + 60000)).toBe(true);
      });
    });

    describe('audit', () => {
      it('keeps each record with its policy version, assertion ids and decisions, without secrets', async () => {
        const s = await open();
        const explained = record({
          policyId: 'blinatumomab-mmm',
          policyVersion: '2024-05-09',
          assertionIds: ['a-1', 'a-2'],
          decisions: [
            { orderId: 'MedicationRequest/1', likelihood: 'likely', pathway: 'relapsed' },
            { orderId: 'MedicationRequest/2', likelihood: 'unlikely' },
          ],
          abandoned: false,
        });
        explained.request.headers = { 'content-type': 'application/json', authorization: 'Bearer some.jwt.here' };
        const plain = record({ kind: 'feedback', serviceId: 'svc-b' });
        await s.appendAudit(explained);
        await s.appendAudit(plain);
        const stored = await H.auditRecords();
        expect(stored).toHaveLength(2);
        const first = stored.find((r) => r.hookInstance === explained.hookInstance);
        expect(first).toMatchObject({
          kind: 'service',
          serviceId: 'svc-a',
          iss: explained.iss,
          jti: explained.jti,
          policyId: 'blinatumomab-mmm',
          policyVersion: '2024-05-09',
          assertionIds: ['a-1', 'a-2'],
          decisions: explained.decisions,
          abandoned: false,
          response: { status: 200, body: { cards: [] } },
          durationMs: 12.5,
        });
        expect(first?.request.headers).toEqual({ 'content-type': 'application/json' });
        expect(stored.find((r) => r.hookInstance === plain.hookInstance)).toMatchObject({
          kind: 'feedback',
          serviceId: 'svc-b',
        });
        const text = JSON.stringify(stored);
        expect(text).not.toContain('secret-access-token');
        expect(text).not.toContain('secret-refresh');
        expect(text).not.toContain('some.jwt.here');
      });

      it('writes nothing when auditing is off', async () => {
        const s = await open({ audit: false });
        await s.appendAudit(record());
        expect(await H.auditRecords()).toEqual([]);
      });

      it('rejects when the record could not be written', async () => {
        const s = await open();
        await s.appendAudit(record());
        await H.breakAudit();
        await expect(s.appendAudit(record())).rejects.toThrow();
      });

      it('deletes records older than the retention at start-up, keeps the rest', async () => {
        const s = await open({ auditRetentionDays: 30 });
        const old = record({ time: new Date(T0 - 40 * DAY).toISOString() });
        const recent = record({ time: new Date(T0 - 2 * DAY).toISOString() });
        await s.appendAudit(old);
        await s.appendAudit(recent);
        expect(await H.auditRecords()).toHaveLength(2);
        await restart({ auditRetentionDays: 30 });
        const kept = await H.auditRecords();
        expect(kept.map((r) => r.hookInstance)).toEqual([recent.hookInstance]);
      });

      it('keeps every one of many concurrent records', async () => {
        const s = await open();
        const records = Array.from({ length: 50 }, () => record());
        await Promise.all(records.map((r) => s.appendAudit(r)));
        const stored = await H.auditRecords();
        expect(stored.map((r) => r.hookInstance).sort()).toEqual(records.map((r) => r.hookInstance).sort());
      });
    });

    describe('feedback', () => {
      it('stores an item once per service, card, outcome and timestamp, also after a restart', async () => {
        const s = await open();
        expect(await s.putFeedback('svc-a', feedback('card-1'))).toBe(true);
        expect(await s.putFeedback('svc-a', feedback('card-1'))).toBe(false);
        expect(await s.putFeedback('svc-a', feedback('card-1', 'overridden'))).toBe(true);
        expect(await s.putFeedback('svc-b', feedback('card-1'))).toBe(true);
        const again = await restart();
        expect(await again.putFeedback('svc-a', feedback('card-1'))).toBe(false);
      });

      it('stores exactly one of many concurrent copies', async () => {
        const s = await open();
        const answers = await Promise.all(Array.from({ length: 20 }, () => s.putFeedback('svc-a', feedback('c'))));
        expect(answers.filter((a) => a)).toHaveLength(1);
      });
    });

    describe('issued cards', () => {
      when('cards')('knows the cards each service issued, whatever CDS_AUDIT says, across a restart', async () => {
        const s = await open({ audit: false });
        await need(s, 'rememberCards')('svc-a', ['u-1', 'u-2']);
        await need(s, 'rememberCards')('svc-a', []);
        expect(await need(s, 'isIssuedCard')('svc-a', 'u-1')).toBe(true);
        expect(await need(s, 'isIssuedCard')('svc-a', 'u-2')).toBe(true);
        expect(await need(s, 'isIssuedCard')('svc-a', 'u-3')).toBe(false);
        expect(await need(s, 'isIssuedCard')('svc-b', 'u-1')).toBe(false);
        const again = await restart({ audit: false });
        expect(await need(again, 'isIssuedCard')('svc-a', 'u-1')).toBe(true);
      });

      when('cards')('forgets them after the retention', async () => {
        const s = await open({ auditRetentionDays: 30 });
        await need(s, 'rememberCards')('svc-a', ['u-1']);
        clock += 29 * DAY;
        expect(await need(s, 'isIssuedCard')('svc-a', 'u-1')).toBe(true);
        clock += 2 * DAY;
        const later = await restart({ auditRetentionDays: 30 });
        expect(await need(later, 'isIssuedCard')('svc-a', 'u-1')).toBe(false);
      });
    });

    describe('assertions', () => {
      const key = { orderId: 'MedicationRequest/1', coverage: 'Coverage/1', policy: 'p', policyVersion: 'v1' };
      const likely = { covered: 'covered', paNeeded: 'auth-needed' };
      const unlikely = { covered: 'not-covered', paNeeded: '' };

      when('assertions')('keeps one id while the outcome holds, a new one when it changes', async () => {
        const s = await open();
        const assertionFor = need(s, 'assertionFor');
        expect(await assertionFor(key, likely, 'id-1')).toBe('id-1');
        expect(await assertionFor(key, likely, 'id-2')).toBe('id-1');
        expect(await assertionFor(key, unlikely, 'id-3')).toBe('id-3');
        expect(await assertionFor(key, unlikely, 'id-4')).toBe('id-3');
        // Only the last outcome counts: back to the first is a new assertion.
        expect(await assertionFor(key, likely, 'id-5')).toBe('id-5');
        expect(await assertionFor(key, { covered: 'covered', paNeeded: 'no-auth' }, 'id-6')).toBe('id-6');
      });

      when('assertions')('keeps ids apart by order, Coverage, policy and policy version', async () => {
        const s = await open();
        const assertionFor = need(s, 'assertionFor');
        expect(await assertionFor(key, likely, 'id-1')).toBe('id-1');
        expect(await assertionFor({ ...key, orderId: 'MedicationRequest/2' }, likely, 'id-2')).toBe('id-2');
        expect(await assertionFor({ ...key, coverage: 'Coverage/2' }, likely, 'id-3')).toBe('id-3');
        expect(await assertionFor({ ...key, policy: 'q' }, likely, 'id-4')).toBe('id-4');
        expect(await assertionFor({ ...key, policyVersion: 'v2' }, likely, 'id-5')).toBe('id-5');
        expect(await assertionFor(key, likely, 'id-6')).toBe('id-1');
      });

      when('assertions')('keeps the id across a restart, whatever CDS_AUDIT says', async () => {
        const s = await open({ audit: false });
        expect(await need(s, 'assertionFor')(key, likely, 'id-1')).toBe('id-1');
        const again = await restart({ audit: false });
        expect(await need(again, 'assertionFor')(key, likely, 'id-2')).toBe('id-1');
      });

      when('assertions')('gives concurrent callers with one key and outcome one id', async () => {
        const s = await open();
        const assertionFor = need(s, 'assertionFor');
        const ids = await Promise.all(Array.from({ length: 10 }, (_, i) => assertionFor(key, likely, `id-${i}`)));
        expect(new Set(ids).size).toBe(1);
      });

      when('assertions')('forgets an assertion after the retention', async () => {
        const s = await open({ auditRetentionDays: 30 });
        expect(await need(s, 'assertionFor')(key, likely, 'id-1')).toBe('id-1');
        clock += 31 * DAY;
        const later = await restart({ auditRetentionDays: 30 });
        expect(await need(later, 'assertionFor')(key, likely, 'id-2')).toBe('id-2');
      });
    });

    describe('ready', () => {
      when('ready')('resolves when the store accepts writes', async () => {
        const s = await open();
        await expect(need(s, 'ready')()).resolves.toBeUndefined();
      });
    });
  });
}
