import {
  SPAWN_JOB_NAME,
  type SpawnJobSettings,
  spawnJobOptions,
  withTimeout,
} from '@cma-fleet/shared';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { DeliveryMarks } from './delivery-marks.js';

/** How long a delivery may wait on Redis before we answer 503 and let Anthropic retry. */
export const ENQUEUE_TIMEOUT_MS = 800;

/** How long a concurrent copy of a delivery waits for the first one to be scheduled. */
const COPY_WAIT_MS = 500;

export interface Scheduler {
  queue: Queue;
  /** The queue's connection, checked before each delivery. */
  redis: Redis;
  marks: DeliveryMarks;
  jobSettings: SpawnJobSettings;
}

export type RunAcceptance = { duplicate: true } | { duplicate: false; jobId: string | undefined };

/**
 * Accepts a verified run-started delivery: a delivery already scheduled is a duplicate; anything
 * else adds a spawn job, and resolves only once Redis holds it. Rejects (the delivery is then
 * answered 503) when Redis is unreachable or slow. Bursts for one session collapse into one job
 * through the queue contract's deduplication.
 */
export async function acceptRun(
  scheduler: Scheduler,
  webhookId: string,
  sessionId: string,
  receivedAt: number,
): Promise<RunAcceptance> {
  // BullMQ waits for a lost connection to come back before it sends anything; refuse at once
  // instead, so a refused delivery cannot turn into a job minutes later.
  if (scheduler.redis.status !== 'ready') {
    throw new Error(`Redis connection is ${scheduler.redis.status}`);
  }
  const { marks } = scheduler;
  // Each Redis step has its own deadline; a copy's wait for the first copy is bounded apart.
  const claim = await withTimeout(marks.claim(webhookId), ENQUEUE_TIMEOUT_MS, 'claiming');
  if (claim === 'done') return { duplicate: true };
  if (claim === 'pending' && (await marks.waitForDone(webhookId, COPY_WAIT_MS))) {
    return { duplicate: true };
  }
  try {
    const job = await withTimeout(
      scheduler.queue.add(
        SPAWN_JOB_NAME,
        { sessionId, webhookId, receivedAt, reason: 'webhook' },
        spawnJobOptions(sessionId, scheduler.jobSettings),
      ),
      ENQUEUE_TIMEOUT_MS,
      'adding the spawn job',
    );
    marks.markDone(webhookId);
    return { duplicate: false, jobId: job.id };
  } catch (error) {
    marks.release(webhookId);
    throw error;
  }
}
