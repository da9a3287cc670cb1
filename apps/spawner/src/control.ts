import {
  CONTROL_QUEUE,
  type ControlJob,
  controlJobSchema,
  type Logger,
  type SpawnerMetrics,
  type WorkerStateStore,
} from '@cma-fleet/shared';
import { type Job, UnrecoverableError, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { WorkerProvider } from './providers/provider.js';

export interface ControlDeps {
  provider: WorkerProvider;
  store: WorkerStateStore;
  logger: Logger;
  metrics: SpawnerMetrics;
}

export type StopOutcome = 'stopped' | 'no-worker';

/** Why the worker state says `exited` after an operator's stop. */
export const STOPPED_BY_OPERATOR = 'stopped by operator';

/**
 * Carries out an operator's stop: kills the session's VM (a VM already gone counts as killed)
 * and records `exited`. Safe to repeat, so a retried job does no harm.
 */
export async function stopSessionWorker(
  data: ControlJob,
  deps: ControlDeps,
  signal?: AbortSignal,
): Promise<{ outcome: StopOutcome; vmId: string | null }> {
  const log = deps.logger.child({ session_id: data.sessionId, action: data.action });
  const current = await deps.store.get(data.sessionId);
  if (!current) {
    log.info('stop requested for a session with no worker');
    return { outcome: 'no-worker', vmId: null };
  }
  // A spawn still provisioning this worker must not make a new one after the kill: its next
  // attempt sees the mark and ends.
  if (current.jobId) await deps.store.markStopped(data.sessionId, current.jobId);
  if (current.vmId) await deps.provider.kill(current.vmId, signal);
  await deps.store.transition(data.sessionId, {
    status: 'exited',
    vmId: current.vmId,
    reason: STOPPED_BY_OPERATOR,
  });
  deps.metrics.operatorActions.inc({ action: 'stop' });
  log.info({ vm_id: current.vmId ?? null, was: current.status }, 'worker stopped by operator');
  return { outcome: 'stopped', vmId: current.vmId ?? null };
}

/** Consumes the control queue: operator actions that need the provider's key. */
export function startControlWorker(connection: Redis, prefix: string, deps: ControlDeps): Worker {
  const worker = new Worker(
    CONTROL_QUEUE,
    (job: Job, _token, signal) => {
      const parsed = controlJobSchema.safeParse(job.data);
      if (!parsed.success) {
        throw new UnrecoverableError(`invalid control job: ${parsed.error.message}`);
      }
      return stopSessionWorker(parsed.data, deps, signal);
    },
    { connection, prefix, concurrency: 4 },
  );
  worker.on('error', (error) => deps.logger.warn({ err: error }, 'control worker error'));
  worker.on('failed', (job, error) =>
    deps.logger.warn(
      { err: error, session_id: job?.data?.sessionId, attempt: job?.attemptsMade },
      'operator action failed',
    ),
  );
  return worker;
}
