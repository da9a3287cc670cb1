import type { JobsOptions } from 'bullmq';
import { z } from 'zod';
import { safeKey } from './ids.js';

/** The one queue both apps share: ingress adds a job per run-started event, spawners take them. */
export const SPAWN_QUEUE = 'cma-spawn';

/**
 * BullMQ's key prefix for a deployment prefix. The braces make Redis Cluster put every key of the
 * queue in one hash slot, as BullMQ's Lua scripts require; on a single Redis they are harmless.
 */
export function queuePrefix(keyPrefix: string): string {
  return `{${keyPrefix}}`;
}

/** Why a spawn was asked for. */
export const SPAWN_REASONS = ['webhook', 'reconcile', 'manual'] as const;

/** A spawn job's payload. It carries identifiers only: job data is stored in clear in Redis. */
export const spawnJobSchema = z.object({
  sessionId: z.string().min(1).max(4096),
  /** The delivery (`webhook-id`) that asked for it, to correlate logs; absent for other reasons. */
  webhookId: z.string().max(4096).optional(),
  /** When the request reached us (ms since epoch), for spawn-latency measurement. */
  receivedAt: z.number().int().nonnegative(),
  reason: z.enum(SPAWN_REASONS),
});

export type SpawnJob = z.infer<typeof spawnJobSchema>;

/** The job name, visible in the dashboard. */
export const SPAWN_JOB_NAME = 'spawn-worker';

export interface SpawnJobSettings {
  /** Provision attempts before a job fails for good. */
  attempts: number;
}

/** The spawners' own backoff strategy decides each retry's delay from the failure. */
export const SPAWN_BACKOFF_TYPE = 'provision-policy';

/**
 * Options for a session's spawn job.
 * - No custom job id: BullMQ ignores an `add` whose id already exists in any state, which would
 *   silently drop a session's second run. Ids stay BullMQ's own counter.
 * - `deduplication` keyed on the session collapses bursts while a spawn waits or runs; with
 *   `keepLastIfActive`, a run that arrives while the spawn is active is kept as one follow-up job
 *   that starts when the active one ends, so no run is lost.
 * - Finished jobs are trimmed by age and count so Redis does not grow forever.
 */
export function spawnJobOptions(sessionId: string, settings: SpawnJobSettings): JobsOptions {
  return {
    deduplication: { id: sessionDedupId(sessionId), keepLastIfActive: true },
    attempts: settings.attempts,
    backoff: { type: SPAWN_BACKOFF_TYPE },
    removeOnComplete: { age: 24 * 3600, count: 5000 },
    removeOnFail: { age: 7 * 24 * 3600, count: 5000 },
  };
}

/** The deduplication id for a session: a hash, never the raw upstream id. */
export function sessionDedupId(sessionId: string): string {
  return `s-${safeKey(sessionId)}`;
}

/**
 * Operator actions that need the provider, so they run in the spawners (the only processes that
 * hold the provider's key); the ingress only enqueues them.
 */
export const CONTROL_QUEUE = 'cma-control';

export const CONTROL_ACTIONS = ['stop'] as const;

/** A control job's payload: identifiers only, like a spawn job's. */
export const controlJobSchema = z.object({
  action: z.enum(CONTROL_ACTIONS),
  sessionId: z.string().min(1).max(4096),
  /** When the operator asked (ms since epoch). */
  requestedAt: z.number().int().nonnegative(),
});

export type ControlJob = z.infer<typeof controlJobSchema>;

/** The job name, visible in the dashboard. */
export const CONTROL_JOB_NAME = 'stop-worker';

/** A stop is safe to repeat (killing a gone VM succeeds), so it is retried on provider errors. */
export function controlJobOptions(): JobsOptions {
  return {
    attempts: 5,
    backoff: { type: 'exponential', delay: 1000, jitter: 0.5 },
    removeOnComplete: { age: 24 * 3600, count: 1000 },
    removeOnFail: { age: 7 * 24 * 3600, count: 1000 },
  };
}
