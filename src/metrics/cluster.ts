// /metrics with several workers (CDS_WORKERS > 1): whichever worker receives the scrape asks the cluster primary,
// which asks every worker for its registry as JSON, adds its own process metrics, sums them with prom-client's
// AggregatorRegistry.aggregate (each metric's own aggregator: counters and histograms summed, event-loop lag
// averaged, the start time omitted) and answers the text, with the 5 s ratio computed from the summed counters.
//
//   worker A  --{cds-metrics:collect, id}-->  primary  --{cds-metrics:snapshot-req, id'}--> every worker
//             <--{cds-metrics:text, id, text}--        <--{cds-metrics:snapshot, id', metrics}--
//
// A worker that does not answer within the collection timeout (it died, or is stuck) is left out of that scrape.
import { AggregatorRegistry } from 'prom-client';
import type { IpcEndpoint } from '../store/cluster-store';
import { renderWithRatio, type ServiceMetrics } from './metrics';

const COLLECT = 'cds-metrics:collect';
const TEXT = 'cds-metrics:text';
const SNAPSHOT_REQ = 'cds-metrics:snapshot-req';
const SNAPSHOT = 'cds-metrics:snapshot';

type MetricsJson = Awaited<ReturnType<ServiceMetrics['snapshot']>>;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isMessage(m: unknown, type: string): m is Record<string, unknown> & { id: number } {
  return isObject(m) && m['type'] === type && typeof m['id'] === 'number';
}

function send(channel: IpcEndpoint, message: unknown, onFailure?: () => void): void {
  try {
    const sent = channel.send?.(message, (error) => {
      if (error) {
        onFailure?.();
      }
    });
    if (sent === undefined) {
      onFailure?.();
    }
  } catch {
    onFailure?.();
  }
}

/**
 * The worker side, answering: sends this process's registry whenever the primary asks.
 * @param metrics - this worker's metrics
 * @param channel - the IPC channel to the primary (default `process`)
 * @returns a function that stops answering
 */
export function answerMetricsSnapshots(metrics: ServiceMetrics, channel: IpcEndpoint = process): () => void {
  const listener = (message: unknown): void => {
    if (!isMessage(message, SNAPSHOT_REQ)) {
      return;
    }
    void metrics.snapshot().then(
      (json) => send(channel, { type: SNAPSHOT, id: message.id, metrics: json }),
      () => send(channel, { type: SNAPSHOT, id: message.id, metrics: [] })
    );
  };
  channel.on('message', listener);
  return () => {
    channel.off('message', listener);
  };
}

/**
 * The worker side, asking: the text of the whole cluster's metrics, from the primary.
 * @param channel - the IPC channel to the primary (default `process`)
 * @param timeoutMs - how long to wait for the primary (rejects after it)
 */
export function clusterMetricsSource(channel: IpcEndpoint = process, timeoutMs = 10000): () => Promise<string> {
  let nextId = 1;
  const waiting = new Map<number, { resolve: (text: string) => void; reject: (e: Error) => void }>();
  channel.on('message', (message: unknown) => {
    if (!isMessage(message, TEXT)) {
      return;
    }
    const w = waiting.get(message.id);
    if (!w) {
      return;
    }
    waiting.delete(message.id);
    if (typeof message['text'] === 'string') {
      w.resolve(message['text']);
    } else {
      w.reject(new Error('metrics: the cluster primary could not collect the metrics'));
    }
  });
  return () =>
    new Promise<string>((resolve, reject) => {
      const id = nextId++;
      const timer = setTimeout(() => {
        if (waiting.delete(id)) {
          reject(new Error(`metrics: no answer from the cluster primary within ${timeoutMs} ms`));
        }
      }, timeoutMs);
      timer.unref();
      waiting.set(id, {
        resolve: (text) => {
          clearTimeout(timer);
          resolve(text);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      send(channel, { type: COLLECT, id }, () => {
        if (waiting.delete(id)) {
          clearTimeout(timer);
          reject(new Error('metrics: the IPC channel to the cluster primary is closed'));
        }
      });
    });
}

interface Collection {
  expected: Set<IpcEndpoint>;
  received: MetricsJson[];
  finish: () => void;
}

/** The primary side: collects every worker's registry and its own, and answers the workers' scrapes. */
export class MetricsCollector {
  /** Each attached worker, and whether it has started (only started workers are asked: others cannot answer yet). */
  private readonly workers = new Map<IpcEndpoint, () => boolean>();
  private readonly collections = new Map<number, Collection>();
  private nextId = 1;

  /**
   * @param own - the primary's own metrics (process metrics only: it serves no HTTP)
   * @param timeoutMs - how long one collection waits for the workers
   */
  constructor(
    private readonly own: ServiceMetrics,
    private readonly timeoutMs = 3000
  ) {}

  /**
   * Starts answering one worker's scrapes and asking it for its registry.
   * @param worker - the worker's IPC endpoint (a `cluster.Worker`)
   * @param started - whether it has started serving (until then it is not asked, and not waited for)
   * @returns a function that forgets the worker (call it when the worker exits)
   */
  attach(worker: IpcEndpoint, started: () => boolean = () => true): () => void {
    const listener = (message: unknown): void => {
      if (isMessage(message, COLLECT)) {
        const id = message.id;
        this.collect(worker).then(
          (text) => send(worker, { type: TEXT, id, text }),
          () => send(worker, { type: TEXT, id })
        );
      } else if (isMessage(message, SNAPSHOT)) {
        const collection = this.collections.get(message.id);
        if (collection?.expected.delete(worker)) {
          collection.received.push(Array.isArray(message['metrics']) ? (message['metrics'] as MetricsJson) : []);
          if (collection.expected.size === 0) {
            collection.finish();
          }
        }
      }
    };
    this.workers.set(worker, started);
    worker.on('message', listener);
    return () => {
      worker.off('message', listener);
      this.workers.delete(worker);
      for (const collection of this.collections.values()) {
        if (collection.expected.delete(worker) && collection.expected.size === 0) {
          collection.finish();
        }
      }
    };
  }

  /**
   * The text of every process's metrics, summed; workers that do not answer in time are left out.
   * @param requester - the worker that asked (asked too, even if the primary has not yet seen it start)
   */
  async collect(requester?: IpcEndpoint): Promise<string> {
    const id = this.nextId++;
    const received: MetricsJson[] = [await this.own.snapshot()];
    await new Promise<void>((resolve) => {
      const collection: Collection = {
        expected: new Set(
          [...this.workers].filter(([w, started]) => w === requester || started()).map(([worker]) => worker)
        ),
        received,
        finish: () => {
          clearTimeout(timer);
          this.collections.delete(id);
          resolve();
        },
      };
      const timer = setTimeout(collection.finish, this.timeoutMs);
      timer.unref();
      this.collections.set(id, collection);
      if (collection.expected.size === 0) {
        collection.finish();
        return;
      }
      for (const worker of [...collection.expected]) {
        send(worker, { type: SNAPSHOT_REQ, id }, () => {
          if (collection.expected.delete(worker) && collection.expected.size === 0) {
            collection.finish();
          }
        });
      }
    });
    return renderWithRatio(AggregatorRegistry.aggregate(received));
  }
}
