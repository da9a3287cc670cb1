import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { BREAKER_STATES, type BreakerReading } from './breaker-state.js';

/**
 * Every Prometheus metric of the fleet, defined in one place. Each process has its own registry
 * (the ingress and the spawner are scraped separately); nothing uses prom-client's global one,
 * so tests running both in one process do not mix them.
 */

/** Reads the ingress takes at scrape time, from Redis. */
export interface IngressGaugeSources {
  /** Job counts by state, per queue name. */
  queueCounts(): Promise<Record<string, Record<string, number>>>;
  /** Worker records by status. */
  workerCounts(): Promise<Record<string, number>>;
  breaker(): Promise<BreakerReading>;
}

export type IngressMetrics = ReturnType<typeof createIngressMetrics>;
export type SpawnerMetrics = ReturnType<typeof createSpawnerMetrics>;

export function createIngressMetrics(sources: IngressGaugeSources) {
  const registry = newRegistry();
  const registers = [registry];
  return {
    registry,
    deliveries: new Counter({
      name: 'cma_deliveries_total',
      help: 'Webhook deliveries by outcome (scheduled, ignored, duplicate, ...) and reason',
      labelNames: ['outcome', 'reason'] as const,
      registers,
    }),
    verificationFailures: new Counter({
      name: 'cma_webhook_verification_failures_total',
      help: 'Deliveries whose Standard Webhooks signature did not verify',
      registers,
    }),
    enqueueSeconds: new Histogram({
      name: 'cma_enqueue_duration_seconds',
      help: 'Time to get a spawn job into Redis for a verified run-started delivery',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers,
    }),
    operatorActions: new Counter({
      name: 'cma_operator_actions_total',
      help: 'Manual controls requested through the admin API (stop, respawn)',
      labelNames: ['action'] as const,
      registers,
    }),
    queueJobs: new Gauge({
      name: 'cma_queue_jobs',
      help: 'Jobs in each queue by state',
      labelNames: ['queue', 'state'] as const,
      registers,
      async collect() {
        this.reset();
        for (const [queue, counts] of Object.entries(await sources.queueCounts())) {
          for (const [state, n] of Object.entries(counts)) this.set({ queue, state }, n);
        }
      },
    }),
    workers: new Gauge({
      name: 'cma_workers',
      help: 'Worker records by status (running = live workers)',
      labelNames: ['status'] as const,
      registers,
      async collect() {
        this.reset();
        for (const [status, n] of Object.entries(await sources.workerCounts())) {
          this.set({ status }, n);
        }
      },
    }),
    breakerState: new Gauge({
      name: 'cma_provider_breaker_state',
      help: 'Provider circuit breaker: 1 for the state it is in (closed when none is published)',
      labelNames: ['state'] as const,
      registers,
      async collect() {
        const reading = await sources.breaker();
        for (const state of BREAKER_STATES) this.set({ state }, state === reading.state ? 1 : 0);
      },
    }),
  };
}

export function createSpawnerMetrics() {
  const registry = newRegistry();
  const registers = [registry];
  return {
    registry,
    providerRequests: new Counter({
      name: 'cma_provider_requests_total',
      help: 'Answered provider API calls by endpoint, method and HTTP status',
      labelNames: ['endpoint', 'method', 'status'] as const,
      registers,
    }),
    providerSeconds: new Histogram({
      name: 'cma_provider_request_duration_seconds',
      help: 'Provider API call duration by endpoint',
      labelNames: ['endpoint'] as const,
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    }),
    spawnLatency: new Histogram({
      name: 'cma_spawn_latency_seconds',
      help: 'From the delivery reaching the ingress to the worker VM running',
      buckets: [0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600],
      registers,
    }),
    provisions: new Counter({
      name: 'cma_provisions_total',
      help: 'Finished spawn jobs by outcome (spawned, adopted, covered, failed)',
      labelNames: ['outcome'] as const,
      registers,
    }),
    retries: new Counter({
      name: 'cma_provision_retries_total',
      help: 'Provision attempts that failed and will be retried',
      registers,
    }),
    operatorActions: new Counter({
      name: 'cma_operator_actions_total',
      help: 'Manual controls carried out by this spawner (stop)',
      labelNames: ['action'] as const,
      registers,
    }),
    reconcilerActions: new Counter({
      name: 'cma_reconciler_actions_total',
      help: 'Reconciler actions (marked exited, killed stuck, killed orphan, pruned, requeued)',
      labelNames: ['action'] as const,
      registers,
    }),
  };
}

function newRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return registry;
}
