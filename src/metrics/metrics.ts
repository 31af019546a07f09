// GET /metrics (contract section 1, "Metrics"): the Prometheus text format, built with prom-client. Every label value
// comes from the service's own vocabulary (a loaded service's id and hook, an HTTP status, a likelihood, a FHIR
// fetch outcome), never from request data: no patient id, no token, no free text a client could send. Each serving
// process keeps its own registry; with several workers the cluster primary sums them (src/metrics/cluster.ts).
// CRD's own measure, the share of hook calls answered within 5 s, is kept as two counters and a ratio computed when
// scraped, after aggregation (a per-process ratio cannot be summed).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { FhirRequestOutcome } from '../fhir/client';

/** The Prometheus text format's content type, as prom-client writes it. */
export const METRICS_CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;

/** CRD's response-time target (Da Vinci CRD: "within 5 seconds"), in seconds. */
export const CRD_TARGET_SECONDS = 5;

/** Label value of a call to a service id nobody serves (the id itself comes from the URL: never a label). */
export const UNKNOWN = 'unknown';

/** Hook-call latency buckets, in seconds; 5 is CRD's target. */
const CALL_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 4, 5, 10, 30];
/** FHIR request latency buckets, in seconds (CDS_FHIR_TIMEOUT_MS is 1.5 s by default). */
const FHIR_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 1.5, 2.5, 5, 10];

export const METRIC = {
  calls: 'cds_hook_calls_total',
  callDuration: 'cds_hook_call_duration_seconds',
  callsWithinTarget: 'cds_hook_calls_within_5s_total',
  withinTargetRatio: 'cds_hook_calls_within_5s_ratio',
  decisions: 'cds_decisions_total',
  fhirRequests: 'cds_fhir_requests_total',
  fhirDuration: 'cds_fhir_request_duration_seconds',
  feedbackCalls: 'cds_feedback_calls_total',
} as const;

export interface ServiceMetricsOptions {
  /** Also collect prom-client's process and Node.js metrics (the serving processes do; tests of the app need not). */
  processMetrics?: boolean;
}

type MetricsJson = Awaited<ReturnType<Registry['getMetricsAsJSON']>>;

/** The metrics of one serving process. */
export class ServiceMetrics {
  readonly registry = new Registry();
  private readonly calls: Counter<'service' | 'hook' | 'status'>;
  private readonly callDuration: Histogram<'service' | 'hook' | 'status'>;
  private readonly callsWithinTarget: Counter<'service' | 'hook'>;
  private readonly decisions: Counter<'service' | 'policy' | 'likelihood'>;
  private readonly fhirRequests: Counter<'outcome'>;
  private readonly fhirDuration: Histogram<'outcome'>;
  private readonly feedbackCalls: Counter<'service' | 'status'>;

  constructor(options: ServiceMetricsOptions = {}) {
    const registers = [this.registry];
    this.calls = new Counter({
      name: METRIC.calls,
      help: 'Hook calls answered, by service id, hook and HTTP status.',
      labelNames: ['service', 'hook', 'status'],
      registers,
    });
    this.callDuration = new Histogram({
      name: METRIC.callDuration,
      help: 'Time from receiving a hook call to the end of its answer, in seconds.',
      labelNames: ['service', 'hook', 'status'],
      buckets: CALL_BUCKETS,
      registers,
    });
    this.callsWithinTarget = new Counter({
      name: METRIC.callsWithinTarget,
      help: 'Hook calls answered within 5 s (CRD), any status, by service id and hook.',
      labelNames: ['service', 'hook'],
      registers,
    });
    this.decisions = new Counter({
      name: METRIC.decisions,
      help: 'Coverage decisions of the orders under assessment in 200 answers, by service id, deciding policy and likelihood.',
      labelNames: ['service', 'policy', 'likelihood'],
      registers,
    });
    this.fhirRequests = new Counter({
      name: METRIC.fhirRequests,
      help: 'HTTP requests to an EHR FHIR server (reads, searches and their pages), by outcome.',
      labelNames: ['outcome'],
      registers,
    });
    this.fhirDuration = new Histogram({
      name: METRIC.fhirDuration,
      help: 'Time of one HTTP request to an EHR FHIR server, in seconds, by outcome.',
      labelNames: ['outcome'],
      buckets: FHIR_BUCKETS,
      registers,
    });
    this.feedbackCalls = new Counter({
      name: METRIC.feedbackCalls,
      help: 'Feedback calls answered, by service id and HTTP status.',
      labelNames: ['service', 'status'],
      registers,
    });
    if (options.processMetrics) {
      collectDefaultMetrics({ register: this.registry });
    }
  }

  /**
   * Counts one answered hook call.
   * @param service - a served service id, or UNKNOWN
   * @param hook - its hook, or UNKNOWN
   * @param status - the HTTP status sent
   * @param seconds - from receipt to the end of the answer
   */
  observeCall(service: string, hook: string, status: number, seconds: number): void {
    const labels = { service, hook, status: String(status) };
    this.calls.inc(labels);
    this.callDuration.observe(labels, seconds);
    // Always touched, so that the ratio's denominator and numerator have the same label sets.
    this.callsWithinTarget.inc({ service, hook }, seconds <= CRD_TARGET_SECONDS ? 1 : 0);
  }

  /** Counts the decisions of one 200 answer (one likelihood per order under assessment). */
  observeDecisions(service: string, policy: string, likelihoods: readonly string[]): void {
    for (const likelihood of likelihoods) {
      this.decisions.inc({ service, policy, likelihood });
    }
  }

  /** Counts one HTTP request to a FHIR server. */
  observeFhir(outcome: FhirRequestOutcome, seconds: number): void {
    this.fhirRequests.inc({ outcome });
    this.fhirDuration.observe({ outcome }, seconds);
  }

  /** Counts one answered feedback call. */
  observeFeedback(service: string, status: number): void {
    this.feedbackCalls.inc({ service, status: String(status) });
  }

  /** This process's metrics as JSON, for the cluster primary to aggregate. */
  snapshot(): Promise<MetricsJson> {
    return this.registry.getMetricsAsJSON();
  }

  /** This process's metrics in the text format, with the ratio (one process serving alone). */
  async render(): Promise<string> {
    return renderWithRatio(this.registry);
  }
}

function sumOf(metric: MetricsJson[number] | undefined): number {
  return (metric?.values ?? []).reduce((n, v) => n + v.value, 0);
}

/**
 * A registry's text with `cds_hook_calls_within_5s_ratio` appended: calls answered within 5 s over calls answered,
 * every service and status together, since the serving processes started; absent before the first call (a
 * ratio of nothing is not 0).
 * @param registry - one process's registry, or the primary's aggregate of every process
 */
export async function renderWithRatio(registry: Registry): Promise<string> {
  const json = await registry.getMetricsAsJSON();
  const total = sumOf(json.find((m) => m.name === METRIC.calls));
  const within = sumOf(json.find((m) => m.name === METRIC.callsWithinTarget));
  const text = await registry.metrics();
  if (total === 0) {
    return text;
  }
  const ratio = new Registry();
  new Gauge({
    name: METRIC.withinTargetRatio,
    help: 'Share of hook calls answered within 5 s (CRD), all services and statuses, since the processes started.',
    registers: [ratio],
  }).set(within / total);
  return `${text.endsWith('\n') || text === '' ? text : `${text}\n`}${await ratio.metrics()}`;
}
