import {
  createIngressMetrics,
  type IngressMetrics,
  readBreakerState,
  WORKER_STATUSES,
  type WorkerStateStore,
} from '@cma-fleet/shared';
import type { JobType, Queue } from 'bullmq';
import type { Redis } from 'ioredis';

/** The queue states the status page and the metrics show. */
export const QUEUE_STATES: JobType[] = [
  'waiting',
  'active',
  'delayed',
  'prioritized',
  'completed',
  'failed',
];

export interface IngressMetricSources {
  redis: Redis;
  /** The BullMQ key prefix (`{cma}`), under which the store and the breaker keep their keys. */
  prefix: string;
  queues: Queue[];
  store: WorkerStateStore;
}

/** The ingress's metrics, with gauges read from Redis at scrape time. */
export function ingressMetrics(sources: IngressMetricSources): IngressMetrics {
  return createIngressMetrics({
    queueCounts: () => queueCounts(sources.queues),
    workerCounts: () => workerCounts(sources.store),
    breaker: () => readBreakerState(sources.redis, sources.prefix),
  });
}

export async function queueCounts(queues: Queue[]) {
  const entries = await Promise.all(
    queues.map(async (queue) => [queue.name, await queue.getJobCounts(...QUEUE_STATES)] as const),
  );
  return Object.fromEntries(entries);
}

/** Workers by status, over the most recent records the store lists. */
async function workerCounts(store: WorkerStateStore): Promise<Record<string, number>> {
  const counts = Object.fromEntries(WORKER_STATUSES.map((status) => [status, 0]));
  for (const worker of await store.list(10_000))
    counts[worker.status] = (counts[worker.status] ?? 0) + 1;
  return counts;
}

/** What the webhook route reports after answering a delivery (see `createWebhookHandler`). */
export interface DeliveryReport {
  outcome: string;
  reason?: unknown;
  enqueue_ms?: unknown;
}

/** Counts a delivery by outcome and reason, and observes the enqueue time of scheduled ones. */
export function countDelivery(metrics: IngressMetrics, report: DeliveryReport): void {
  const reason = typeof report.reason === 'string' ? report.reason : '';
  metrics.deliveries.inc({ outcome: report.outcome, reason });
  if (report.outcome === 'rejected' && reason === 'signature') metrics.verificationFailures.inc();
  if (typeof report.enqueue_ms === 'number')
    metrics.enqueueSeconds.observe(report.enqueue_ms / 1000);
}
