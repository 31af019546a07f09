// The shared store across worker processes (contract section 8): the cluster primary owns the one FileStore (the
// JWT replay cache, the audit trail, stored feedback, issued card uuids, coverage assertions) and each worker forwards every operation to it over the
// cluster IPC channel, so a `jti` seen by one worker is refused by every other, no audit or feedback record is
// written twice or lost, and every worker reads and keeps the same coverage-assertion-ids. No native module, no lock
// files: one writer, in the primary.
//
//   worker  ClusterStore.rememberJti(...)  --{type: 'cds-store:call', id, call}-->  primary  serveSharedStore(...)
//           resolves with the value        <--{type: 'cds-store:reply', id, ok, value | error}--  FileStore
import { redactRequestBody } from './redact';
import type { AssertionKey, AssertionOutcome, AuditRecord, FeedbackItem, SharedStore } from './types';

const CALL = 'cds-store:call';
const REPLY = 'cds-store:reply';

/** One forwarded operation. */
export type StoreCall =
  | { op: 'rememberJti'; iss: string; jti: string; expiresAt: number }
  | { op: 'appendAudit'; record: AuditRecord }
  | { op: 'putFeedback'; serviceId: string; item: FeedbackItem }
  | { op: 'assertionFor'; key: AssertionKey; outcome: AssertionOutcome; fresh: string }
  | { op: 'rememberCards'; serviceId: string; uuids: string[] }
  | { op: 'isIssuedCard'; serviceId: string; uuid: string }
  | { op: 'ready' };

/** What the primary answers: a boolean, an assertion id, or nothing. */
type StoreValue = boolean | string | undefined;

interface CallMessage {
  type: typeof CALL;
  id: number;
  call: StoreCall;
}

interface ReplyMessage {
  type: typeof REPLY;
  id: number;
  ok: boolean;
  value?: boolean | string;
  error?: string;
}

/**
 * The side of an IPC channel a store needs: `process` in a worker, a `cluster.Worker` in the primary (both fit).
 */
export interface IpcEndpoint {
  send?(message: unknown, callback?: (error: Error | null) => void): boolean;
  on(event: 'message', listener: (message: unknown) => void): unknown;
  off(event: 'message', listener: (message: unknown) => void): unknown;
}

export interface ClusterStoreOptions {
  /** How long a worker waits for the primary's answer before the operation fails (default 10 s). */
  replyTimeoutMs?: number;
}

const DEFAULT_REPLY_TIMEOUT_MS = 10000;
/** ready() answers GET /ready: it waits at most this long for the primary (or the reply timeout, when shorter). */
const READY_TIMEOUT_MS = 2000;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isReply(m: unknown): m is ReplyMessage {
  return isObject(m) && m['type'] === REPLY && typeof m['id'] === 'number' && typeof m['ok'] === 'boolean';
}

function isAssertionKey(v: unknown): v is AssertionKey {
  return isObject(v) && ['orderId', 'coverage', 'policy', 'policyVersion'].every((name) => typeof v[name] === 'string');
}

function isAssertionOutcome(v: unknown): v is AssertionOutcome {
  return isObject(v) && typeof v['covered'] === 'string' && typeof v['paNeeded'] === 'string';
}

/** A well-formed call from a worker, or undefined (anything else on the channel is not ours). */
function readCall(m: unknown): CallMessage | undefined {
  if (!isObject(m) || m['type'] !== CALL || typeof m['id'] !== 'number' || !isObject(m['call'])) {
    return undefined;
  }
  const call = m['call'];
  switch (call['op']) {
    case 'rememberJti':
      return typeof call['iss'] === 'string' && typeof call['jti'] === 'string' && typeof call['expiresAt'] === 'number'
        ? (m as unknown as CallMessage)
        : undefined;
    case 'appendAudit':
      return isObject(call['record']) ? (m as unknown as CallMessage) : undefined;
    case 'putFeedback':
      return typeof call['serviceId'] === 'string' && isObject(call['item'])
        ? (m as unknown as CallMessage)
        : undefined;
    case 'assertionFor':
      return isAssertionKey(call['key']) && isAssertionOutcome(call['outcome']) && typeof call['fresh'] === 'string'
        ? (m as unknown as CallMessage)
        : undefined;
    case 'rememberCards':
      return typeof call['serviceId'] === 'string' &&
        Array.isArray(call['uuids']) &&
        call['uuids'].every((u) => typeof u === 'string')
        ? (m as unknown as CallMessage)
        : undefined;
    case 'isIssuedCard':
      return typeof call['serviceId'] === 'string' && typeof call['uuid'] === 'string'
        ? (m as unknown as CallMessage)
        : undefined;
    case 'ready':
      return m as unknown as CallMessage;
    default:
      return undefined;
  }
}

/** The worker side: a SharedStore whose every operation is answered by the primary. */
export class ClusterStore implements SharedStore {
  private nextId = 1;
  private readonly pending = new Map<
    number,
    { resolve: (v: StoreValue) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }
  >();
  /** The promises of the operations not yet answered, for close(). */
  private readonly unsettled = new Set<Promise<unknown>>();
  private closed = false;
  private readonly replyTimeoutMs: number;
  private readonly onMessage = (message: unknown): void => {
    if (!isReply(message)) {
      return;
    }
    const waiting = this.pending.get(message.id);
    if (!waiting) {
      return;
    }
    this.pending.delete(message.id);
    clearTimeout(waiting.timer);
    if (message.ok) {
      waiting.resolve(message.value);
    } else {
      waiting.reject(new Error(`shared store: ${message.error ?? 'the primary could not complete the operation'}`));
    }
  };

  constructor(
    private readonly channel: IpcEndpoint,
    options: ClusterStoreOptions = {}
  ) {
    this.replyTimeoutMs = options.replyTimeoutMs ?? DEFAULT_REPLY_TIMEOUT_MS;
    channel.on('message', this.onMessage);
  }

  async rememberJti(iss: string, jti: string, expiresAt: number): Promise<boolean> {
    return (await this.forward({ op: 'rememberJti', iss, jti, expiresAt })) === true;
  }

  async appendAudit(record: AuditRecord): Promise<void> {
    // Redacted before it leaves the worker: the access token never crosses the channel either.
    const safe: AuditRecord = {
      ...record,
      request: { ...record.request, body: redactRequestBody(record.request.body) },
    };
    if (safe.request.body === undefined) {
      delete safe.request.body;
    }
    await this.forward({ op: 'appendAudit', record: safe });
  }

  async putFeedback(serviceId: string, item: FeedbackItem): Promise<boolean> {
    return (await this.forward({ op: 'putFeedback', serviceId, item })) === true;
  }

  async assertionFor(key: AssertionKey, outcome: AssertionOutcome, fresh: string): Promise<string> {
    const id = await this.forward({ op: 'assertionFor', key, outcome, fresh });
    if (typeof id !== 'string' || id === '') {
      throw new Error('shared store: the cluster primary answered no assertion id');
    }
    return id;
  }

  async rememberCards(serviceId: string, uuids: string[]): Promise<void> {
    if (uuids.length > 0) {
      await this.forward({ op: 'rememberCards', serviceId, uuids });
    }
  }

  async isIssuedCard(serviceId: string, uuid: string): Promise<boolean> {
    return (await this.forward({ op: 'isIssuedCard', serviceId, uuid })) === true;
  }

  /** Resolves when the primary answers and its store accepts writes. */
  async ready(): Promise<void> {
    await this.forward({ op: 'ready' }, Math.min(this.replyTimeoutMs, READY_TIMEOUT_MS));
  }

  /** Waits for the answers still due (new operations are refused), then stops listening. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.unsettled]);
    this.channel.off('message', this.onMessage);
  }

  /** Operations sent and not yet answered (tests and shutdown diagnostics). */
  get inFlight(): number {
    return this.pending.size;
  }

  private forward(call: StoreCall, timeoutMs = this.replyTimeoutMs): Promise<StoreValue> {
    if (this.closed) {
      return Promise.reject(new Error('shared store: closed'));
    }
    const send = this.channel.send?.bind(this.channel);
    if (!send) {
      return Promise.reject(new Error('shared store: no IPC channel to the cluster primary'));
    }
    const id = this.nextId++;
    const answer = new Promise<StoreValue>((resolve, reject) => {
      const timer = setTimeout(() => {
        const waiting = this.pending.get(id);
        if (waiting) {
          this.pending.delete(id);
          waiting.reject(
            new Error(`shared store: no answer from the cluster primary within ${timeoutMs} ms`)
          );
        }
      }, timeoutMs);
      timer.unref();
      this.pending.set(id, { resolve, reject, timer });
      const message: CallMessage = { type: CALL, id, call };
      try {
        send(message, (error) => {
          if (error) {
            const waiting = this.pending.get(id);
            if (waiting) {
              this.pending.delete(id);
              clearTimeout(waiting.timer);
              waiting.reject(new Error('shared store: the IPC channel to the cluster primary is closed'));
            }
          }
        });
      } catch {
        this.pending.delete(id);
        clearTimeout(timer);
        reject(new Error('shared store: the IPC channel to the cluster primary is closed'));
      }
    });
    this.unsettled.add(answer);
    const settled = (): void => {
      this.unsettled.delete(answer);
    };
    answer.then(settled, settled);
    return answer;
  }
}

/**
 * The worker side: a SharedStore that forwards to the primary over this process's IPC channel.
 * @param channel - the IPC endpoint (default: `process`, in a cluster worker)
 * @param options - reply timeout
 */
export function createClusterStore(channel: IpcEndpoint = process, options: ClusterStoreOptions = {}): ClusterStore {
  return new ClusterStore(channel, options);
}

/**
 * The primary side: answers one worker's store operations from `store` (the primary's one FileStore). Operations run
 * in the order they arrive; a worker that has gone simply gets no reply.
 * @param worker - the worker's IPC endpoint (a `cluster.Worker`)
 * @param store - the store the primary owns
 * @param onError - where failed operations are reported (the reply carries a short message too)
 * @returns a function that stops answering this worker
 */
export function serveSharedStore(
  worker: IpcEndpoint,
  store: SharedStore,
  onError?: (message: string, error: unknown) => void
): () => void {
  const reply = (message: ReplyMessage): void => {
    try {
      worker.send?.(message, () => undefined);
    } catch {
      // The worker has gone: nobody is waiting any more.
    }
  };
  const listener = (message: unknown): void => {
    const m = readCall(message);
    if (!m) {
      return;
    }
    let work: Promise<StoreValue>;
    try {
      const { call } = m;
      switch (call.op) {
        case 'rememberJti':
          work = store.rememberJti(call.iss, call.jti, call.expiresAt);
          break;
        case 'appendAudit':
          work = store.appendAudit(call.record).then(() => undefined);
          break;
        case 'putFeedback':
          work = store.putFeedback(call.serviceId, call.item);
          break;
        case 'assertionFor':
          work = store.assertionFor(call.key, call.outcome, call.fresh);
          break;
        case 'rememberCards':
          work = store.rememberCards(call.serviceId, call.uuids).then(() => undefined);
          break;
        case 'isIssuedCard':
          work = store.isIssuedCard(call.serviceId, call.uuid);
          break;
        case 'ready':
          work = store.ready().then(() => undefined);
          break;
      }
    } catch (e) {
      work = Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
    work.then(
      (value) =>
        reply(value === undefined ? { type: REPLY, id: m.id, ok: true } : { type: REPLY, id: m.id, ok: true, value }),
      (error: unknown) => {
        onError?.(`shared store ${m.call.op} failed`, error);
        reply({ type: REPLY, id: m.id, ok: false, error: `${m.call.op} failed` });
      }
    );
  };
  worker.on('message', listener);
  return () => {
    worker.off('message', listener);
  };
}
