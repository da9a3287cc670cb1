import {
  SPAWN_JOB_NAME,
  type SpawnJob,
  type SpawnJobSettings,
  spawnJobOptions,
  withTimeout,
} from '@cma-fleet/shared';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';

/** How long a delivery may wait on Redis before we answer 503 and let Anthropic retry. */
export const ENQUEUE_TIMEOUT_MS = 800;

/**
 * Adds a spawn job and resolves only once Redis holds it; rejects (and the delivery is answered
 * 503) when Redis is unreachable or slow. A job added after its deadline is harmless: the retry
 * collapses into it through the session's deduplication.
 */
export async function scheduleSpawn(
  queue: Queue,
  redis: Redis,
  job: SpawnJob,
  settings: SpawnJobSettings,
): Promise<string | undefined> {
  // BullMQ waits for a lost connection to come back before it sends anything; refuse at once
  // instead, so a refused delivery cannot turn into a job minutes later.
  if (redis.status !== 'ready') throw new Error(`Redis connection is ${redis.status}`);
  const added = await withTimeout(
    queue.add(SPAWN_JOB_NAME, job, spawnJobOptions(job.sessionId, settings)),
    ENQUEUE_TIMEOUT_MS,
    'adding the spawn job',
  );
  return added.id;
}
