import type { Logger, SpawnJob } from '@cma-fleet/shared';
import { type Job, type Queue, UnrecoverableError, Worker } from 'bullmq';
import type { Admission, ProviderBreaker } from './breaker.js';
import {
  openRecord,
  type ProvisionDeps,
  ProvisionFailure,
  type ProvisionResult,
  parseSpawnJob,
  provisionWorker,
} from './provision.js';
import { type BackoffSettings, backoffDelay, planRetry } from './retry-policy.js';

export interface ProcessorSettings {
  backoff: BackoffSettings;
  /** A job blocked by an unhealthy or rate-limiting provider for longer than this fails (ms). */
  patienceMs: number;
  /** A job sent back to wait (rate limit, open breaker) more often than this fails. */
  maxDeferrals: number;
  /** How long every replica pauses after the breaker opens (ms). */
  breakerCoolDownMs: number;
}

export interface ProcessorDeps {
  provision: ProvisionDeps;
  breaker: ProviderBreaker;
  /** Used to pause every replica: BullMQ's queue-wide rate limit. */
  queue: Queue;
  settings: ProcessorSettings;
}

/** A failed attempt that will be retried after `delayMs` (read by the backoff strategy). */
export class RetryLater extends Error {
  constructor(
    message: string,
    readonly delayMs: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'RetryLater';
  }
}

/** BullMQ's backoff hook: the delay our retry policy chose for the failure. */
export function backoffStrategy(settings: BackoffSettings) {
  return (attemptsMade: number, _type?: string, error?: Error): number =>
    error instanceof RetryLater ? error.delayMs : backoffDelay(attemptsMade, settings);
}

interface Attempt {
  job: Job;
  data: SpawnJob;
  number: number;
  of: number;
  log: Logger;
}

/**
 * The spawn queue's processor: admission through the shared breaker, the provision itself, and
 * the failure policy. A rate-limited or provider-down job goes back to the queue without using
 * an attempt (BullMQ's rate-limit path) while every replica pauses; other failures retry with
 * backoff or, when retrying cannot help, fail at once with a readable error in the worker state.
 */
export function createSpawnProcessor(deps: ProcessorDeps) {
  return async (job: Job, _token?: string, signal?: AbortSignal): Promise<ProvisionResult> => {
    const data = parseSpawnJob(job);
    const attempt = describeAttempt(job, data, deps.provision.logger);
    attempt.log.debug('provision attempt started');
    // Both in one round trip. A refused attempt may thus have begun the session's record; it
    // then records its wait there, as it would have without the record.
    const [admission, opening] = await Promise.all([
      deps.breaker.admit(),
      openRecord(job, data, deps.provision),
    ]);
    if (!admission.allowed) {
      return defer(attempt, deps, admission.waitMs, `the provider breaker is ${admission.state}`);
    }
    try {
      const result = await provisionWorker(job, data, opening, deps.provision, attempt.log, signal);
      await deps.breaker.recordSuccess(admission);
      return result;
    } catch (error) {
      // A spawner that is going away records nothing: the job's retry sees where it stopped.
      if (signal?.aborted || !(error instanceof ProvisionFailure)) throw error;
      return handleFailure(error, attempt, admission, deps);
    }
  };
}

function describeAttempt(job: Job, data: SpawnJob, logger: Logger): Attempt {
  const number = job.attemptsMade + 1;
  const of = job.opts.attempts ?? 1;
  const log = logger.child({
    session_id: data.sessionId,
    webhook_id: data.webhookId,
    job_id: job.id,
    attempt: `${number} of ${of}`,
  });
  return { job, data, number, of, log };
}

async function handleFailure(
  failure: ProvisionFailure,
  attempt: Attempt,
  admission: Admission,
  deps: ProcessorDeps,
): Promise<never> {
  const plan = planRetry(failure.cause, failure.step, attempt.number, deps.settings.backoff);
  const message = `${plan.cause}: ${failure.cause.message}`;
  if (plan.rateLimited) return defer(attempt, deps, plan.delayMs, message);
  if (plan.providerFault) {
    const state = await deps.breaker.recordFault();
    // Once the provider is judged down, waiting costs the job no attempt.
    const wasProbe = admission.allowed && admission.probe;
    if (state === 'open' || wasProbe) {
      return defer(attempt, deps, deps.settings.breakerCoolDownMs, message);
    }
  }
  const final = !plan.retry || attempt.number >= attempt.of;
  const fields = { err: failure.cause, cause: plan.cause, vm_may_exist: plan.vmMayExist };
  if (final) {
    attempt.log.error(fields, 'provision failed for good');
    await killQuietly(failure, attempt, deps);
  } else {
    attempt.log.warn(
      { ...fields, retry_in_ms: plan.delayMs },
      'provision attempt failed, will retry',
    );
  }
  await record(attempt, deps, {
    final,
    reason: final
      ? `gave up after attempt ${attempt.number}: ${message}`
      : `attempt ${attempt.number} failed, retrying in ${plan.delayMs} ms: ${message}`,
    error: message,
  });
  if (!plan.retry) throw new UnrecoverableError(message);
  throw new RetryLater(message, plan.delayMs, { cause: failure.cause });
}

/**
 * Sends the job back to wait without using an attempt, and pauses every replica for `waitMs`.
 * A job that has waited past the patience, or been sent back too often, fails instead.
 */
async function defer(
  attempt: Attempt,
  deps: ProcessorDeps,
  waitMs: number,
  reason: string,
): Promise<never> {
  const { job } = attempt;
  const deferrals = job.attemptsStarted - job.attemptsMade;
  const waited = Date.now() - job.timestamp;
  if (deferrals > deps.settings.maxDeferrals || waited > deps.settings.patienceMs) {
    const message = `gave up after waiting ${Math.round(waited / 1000)} s (${deferrals} times): ${reason}`;
    attempt.log.error(
      { deferrals, waited_ms: waited },
      'provision abandoned: provider unavailable',
    );
    await record(attempt, deps, { final: true, reason: message, error: message });
    throw new UnrecoverableError(message);
  }
  attempt.log.warn({ wait_ms: waitMs, reason }, 'provision deferred');
  await record(attempt, deps, { final: false, reason: `waiting ${waitMs} ms: ${reason}` });
  await deps.queue.rateLimit(Math.max(1, Math.round(waitMs)));
  throw Worker.RateLimitError();
}

/**
 * Records a failed or waiting attempt in the session's worker record, unless that record is
 * another job's: a job that failed before it began provisioning (say, while checking the live
 * worker) must not turn that live worker's `running` into `provisioning` or `failed`.
 */
async function record(
  attempt: Attempt,
  deps: ProcessorDeps,
  change: { final: boolean; reason: string; error?: string },
): Promise<void> {
  const { store } = deps.provision;
  const { sessionId } = attempt.data;
  try {
    const current = await store.get(sessionId);
    if (current?.jobId !== undefined && current.jobId !== String(attempt.job.id)) {
      attempt.log.info({ reason: change.reason }, 'not recorded: the record is another job');
      return;
    }
    // This job's worker has ended (an operator's stop, say): the record already says why.
    if (current?.status === 'exited') return;
    await store.transition(sessionId, {
      status: change.final ? 'failed' : 'provisioning',
      error: change.final ? change.error : undefined,
      jobId: String(attempt.job.id),
      attempts: attempt.job.attemptsStarted,
      reason: change.reason,
    });
  } catch (error) {
    attempt.log.error({ err: error }, 'could not record the failure');
  }
}

/** A VM whose provisioning failed for good runs no worker: do not leave it costing money. */
async function killQuietly(failure: ProvisionFailure, attempt: Attempt, deps: ProcessorDeps) {
  if (!failure.machine) return;
  try {
    await deps.provision.provider.kill(failure.machine.id);
  } catch (error) {
    attempt.log.warn({ err: error, vm_id: failure.machine.id }, 'could not kill a failed VM');
  }
}
