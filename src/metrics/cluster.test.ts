// The cluster side of /metrics over in-process channel pairs shaped like the cluster's IPC (JSON round trip,
// asynchronous delivery): every worker's registry summed with the primary's, a silent worker left out after the
// timeout instead of hanging the scrape, a worker that exits not waited for, a worker not yet started not asked.
// The real cluster is exercised by test/metrics-process.test.ts.
import { EventEmitter } from 'node:events';
import type { IpcEndpoint } from '../store/cluster-store';
import { answerMetricsSnapshots, clusterMetricsSource, MetricsCollector } from './cluster';
import { METRIC, ServiceMetrics } from './metrics';

function channel(): { worker: IpcEndpoint; primary: IpcEndpoint; cut: () => void } {
  const workerSide = new EventEmitter();
  const primarySide = new EventEmitter();
  let connected = true;
  const endpoint = (self: EventEmitter, other: EventEmitter): IpcEndpoint => ({
    send(message: unknown, callback?: (error: Error | null) => void): boolean {
      if (!connected) {
        setImmediate(() => callback?.(new Error('channel closed')));
        return false;
      }
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
    cut: () => {
      connected = false;
    },
  };
}

function callsOf(text: string): number {
  const m = new RegExp(`^${METRIC.calls}\\{service="s",hook="order-sign",status="200"\\} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

describe('MetricsCollector', () => {
  it('sums every worker, answers the asking worker, and computes the ratio over the sum', async () => {
    const collector = new MetricsCollector(new ServiceMetrics(), 5000);
    const a = channel();
    const b = channel();
    const ma = new ServiceMetrics();
    const mb = new ServiceMetrics();
    ma.observeCall('s', 'order-sign', 200, 0.1);
    ma.observeCall('s', 'order-sign', 200, 6);
    mb.observeCall('s', 'order-sign', 200, 0.2);
    answerMetricsSnapshots(ma, a.worker);
    answerMetricsSnapshots(mb, b.worker);
    collector.attach(a.primary);
    collector.attach(b.primary);
    const text = await clusterMetricsSource(a.worker)();
    expect(callsOf(text)).toBe(3);
    expect(text).toMatch(new RegExp(`^${METRIC.withinTargetRatio} 0\\.6666`, 'm'));
  });

  it('leaves out a worker that does not answer within the timeout', async () => {
    const collector = new MetricsCollector(new ServiceMetrics(), 200);
    const a = channel();
    const silent = channel();
    const ma = new ServiceMetrics();
    ma.observeCall('s', 'order-sign', 200, 0.1);
    answerMetricsSnapshots(ma, a.worker);
    collector.attach(a.primary);
    collector.attach(silent.primary);
    expect(callsOf(await collector.collect())).toBe(1);
  });

  it('does not wait for a worker that exits, nor ask one that has not started', async () => {
    const collector = new MetricsCollector(new ServiceMetrics(), 60000);
    const a = channel();
    const gone = channel();
    const starting = channel();
    const ma = new ServiceMetrics();
    ma.observeCall('s', 'order-sign', 200, 0.1);
    answerMetricsSnapshots(ma, a.worker);
    collector.attach(a.primary);
    const forget = collector.attach(gone.primary);
    collector.attach(starting.primary, () => false);
    const scrape = collector.collect();
    forget();
    expect(callsOf(await scrape)).toBe(1);
  });

  it('a worker whose channel to the primary is cut gets an error, not a hang', async () => {
    const a = channel();
    a.cut();
    await expect(clusterMetricsSource(a.worker, 60000)()).rejects.toThrow(/closed/);
  });
});
