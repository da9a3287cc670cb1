import {
  type Logger,
  recordSpawnLatency,
  type SpawnerMetrics,
  spawnJobSchema,
} from '@cma-fleet/shared';
import { type Job, UnrecoverableError, type Worker } from 'bullmq';
import type { Redis } from 'ioredis';

export interface ObserverDeps {
  metrics: SpawnerMetrics;
  redis: Redis;
  /** The BullMQ key prefix (`{cma}`), under which latency samples are kept for the status page. */
  prefix: string;
  logger: Logger;
}

/**
 * Counts what the spawn worker finishes, from its own events (never from QueueEvents, which is
 * best-effort): provisions by outcome, retries, and the spawn latency from the delivery's arrival
 * to a running worker. Watching events keeps metrics out of the provisioning code.
 */
export function observeSpawnWorker(worker: Worker, deps: ObserverDeps): void {
  worker.on('completed', (job: Job, result: unknown) => onCompleted(job, result, deps));
  worker.on('failed', (job: Job | undefined, error: Error) => {
    if (!job) return;
    const final =
      error instanceof UnrecoverableError || job.attemptsMade >= (job.opts.attempts ?? 1);
    if (final) deps.metrics.provisions.inc({ outcome: 'failed' });
    else deps.metrics.retries.inc();
  });
}

function onCompleted(job: Job, result: unknown, deps: ObserverDeps): void {
  const outcome = (result as { outcome?: unknown } | undefined)?.outcome;
  deps.metrics.provisions.inc({ outcome: typeof outcome === 'string' ? outcome : 'unknown' });
  // A covered run started no VM: there is no spawn to time.
  if (outcome !== 'spawned' && outcome !== 'adopted') return;
  const data = spawnJobSchema.safeParse(job.data);
  if (!data.success) return;
  const ms = Date.now() - data.data.receivedAt;
  deps.metrics.spawnLatency.observe(ms / 1000);
  recordSpawnLatency(deps.redis, deps.prefix, ms).catch((error) =>
    deps.logger.debug({ err: error }, 'could not record a spawn latency sample'),
  );
}

/** What InstaVmClient's `onResponse` hook reports, counted by endpoint, method and status. */
export function providerCallObserver(metrics: SpawnerMetrics) {
  return (call: { endpoint: string; method: string; status: number; ms: number }) => {
    metrics.providerRequests.inc({
      endpoint: call.endpoint,
      method: call.method,
      status: String(call.status),
    });
    metrics.providerSeconds.observe({ endpoint: call.endpoint }, call.ms / 1000);
  };
}
