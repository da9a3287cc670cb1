import type { Logger } from '@cma-fleet/shared';
import { Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { type ReconcileReport, type ReconcilerDeps, reconcileOnce } from './reconciler.js';

/** The queue whose scheduler hands out reconcile rounds: one job per round, one taker each. */
export const RECONCILE_QUEUE = 'cma-reconcile';
const SCHEDULER_ID = 'reconcile-round';

export interface RunningReconciler {
  close(force?: boolean): Promise<void>;
}

export interface ReconcilerSchedule {
  connection: Redis;
  prefix: string;
  intervalMs: number;
  deps: ReconcilerDeps;
  logger: Logger;
  /** Says why a round should be skipped (e.g. the provider is known to be down). */
  skipReason?: () => Promise<string | undefined>;
  /** Told each round's report, for metrics. */
  onReport?: (report: ReconcileReport) => void;
}

/**
 * Runs the reconciler on a BullMQ job scheduler shared by every spawner replica: the scheduler
 * makes one job per interval and exactly one replica takes it, so each round runs once however
 * many replicas there are. Re-registering on start-up is idempotent (an upsert).
 */
export function startReconciler(schedule: ReconcilerSchedule): RunningReconciler {
  const { connection, prefix, intervalMs, deps, logger } = schedule;
  const queue = new Queue(RECONCILE_QUEUE, { connection, prefix });
  queue.on('error', (error) => logger.debug({ err: error }, 'reconcile queue error'));
  void queue
    .upsertJobScheduler(
      SCHEDULER_ID,
      { every: intervalMs },
      { name: 'reconcile', opts: { removeOnComplete: 200, removeOnFail: 200 } },
    )
    .catch((error) => logger.error({ err: error }, 'could not schedule the reconciler'));

  const worker = new Worker(
    RECONCILE_QUEUE,
    async (job) => {
      const skip = await schedule.skipReason?.();
      if (skip) {
        logger.debug({ round: job.id, skip }, 'reconcile round skipped');
        return { skipped: skip, pid: process.pid };
      }
      const started = performance.now();
      const report = await reconcileOnce(deps);
      schedule.onReport?.(report);
      const acted = Object.values(report).some((n) => n > 0);
      const fields = { round: job.id, ms: Math.round(performance.now() - started), ...report };
      if (acted) logger.info(fields, 'reconcile round');
      else logger.debug(fields, 'reconcile round');
      return { ...report, pid: process.pid };
    },
    { connection, prefix, concurrency: 1 },
  );
  worker.on('error', (error) => logger.warn({ err: error }, 'reconcile worker error'));
  worker.on('failed', (job, error) =>
    logger.error({ err: error, round: job?.id }, 'reconcile round failed'),
  );

  return {
    async close(force = false) {
      await worker.close(force);
      await queue.close();
    },
  };
}
