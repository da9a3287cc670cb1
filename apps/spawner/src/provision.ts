import {
  type Logger,
  type Opening,
  type SpawnJob,
  spawnJobSchema,
  toError,
  type WorkerStateStore,
} from '@cma-fleet/shared';
import { type Job, UnrecoverableError } from 'bullmq';
import type { WorkerMachine, WorkerProvider } from './providers/provider.js';
import type { ProvisionStep } from './retry-policy.js';

export interface ProvisionDeps {
  provider: WorkerProvider;
  store: WorkerStateStore;
  logger: Logger;
  /** The worker's environment for a session: ids and placeholders only. */
  workerEnv: (sessionId: string) => Record<string, string>;
  /** Called as provisioning passes each step; tests use it to crash a spawner at that point. */
  checkpoint?: (step: Checkpoint) => void;
}

/** The points between provisioning steps where a spawner can die. */
export const CHECKPOINTS = [
  'before-create',
  'after-create',
  'after-prepare',
  'after-egress',
  'after-start',
] as const;
export type Checkpoint = (typeof CHECKPOINTS)[number];

export type ProvisionOutcome = 'spawned' | 'adopted' | 'covered' | 'stopped';

export interface ProvisionResult {
  outcome: ProvisionOutcome;
  vmId: string;
}

/** Tracks which step is running, so a failure can be judged by where it happened. */
interface Progress {
  step: ProvisionStep;
  machine?: WorkerMachine;
}

/**
 * A provisioning attempt failed. Carries where it failed and the machine it had, so the caller
 * can judge whether a VM may exist and clean up a machine that will never run a worker.
 */
export class ProvisionFailure extends Error {
  constructor(
    override readonly cause: Error,
    readonly step: ProvisionStep,
    readonly machine: WorkerMachine | undefined,
  ) {
    super(cause.message, { cause });
    this.name = 'ProvisionFailure';
  }
}

/**
 * The first step of an attempt: for a session with no worker record, begins one (`provisioning`,
 * this job); otherwise reads the record. One Redis round trip, which the caller overlaps with
 * the breaker's admission, so a session's first VM is asked for after a single round trip.
 */
export function openRecord(job: Job, data: SpawnJob, deps: ProvisionDeps): Promise<Opening> {
  return deps.store.beginIfAbsent(data.sessionId, {
    status: 'provisioning',
    jobId: String(job.id),
    attempts: job.attemptsStarted,
    reason: `spawn requested (${data.reason})`,
  });
}

/**
 * Provisions one worker for a spawn job, given what `openRecord` found. Idempotent: a retry
 * (after an error, a crash or a stall) first adopts the VM an earlier attempt of the same job
 * made, and a session whose worker is still alive needs no new VM at all. Failures are thrown
 * as ProvisionFailure; what happens next (retry, pause, give up) is the caller's policy.
 */
export async function provisionWorker(
  job: Job,
  data: SpawnJob,
  opening: Opening,
  deps: ProvisionDeps,
  log: Logger,
  signal?: AbortSignal,
): Promise<ProvisionResult> {
  const progress: Progress = { step: 'other' };
  const started = performance.now();
  try {
    const result = await provision(job, data, opening, deps, progress, signal);
    log.info(
      { outcome: result.outcome, vm_id: result.vmId, ms: Math.round(performance.now() - started) },
      'provision finished',
    );
    return result;
  } catch (thrown) {
    throw new ProvisionFailure(toError(thrown), progress.step, progress.machine);
  }
}

/** Reads a job's payload; a malformed one can never succeed. */
export function parseSpawnJob(job: Job): SpawnJob {
  const parsed = spawnJobSchema.safeParse(job.data);
  if (!parsed.success) throw new UnrecoverableError(`invalid job data: ${parsed.error.message}`);
  return parsed.data;
}

async function provision(
  job: Job,
  data: SpawnJob,
  opening: Opening,
  deps: ProvisionDeps,
  progress: Progress,
  signal?: AbortSignal,
): Promise<ProvisionResult> {
  const { provider, store } = deps;
  const jobId = String(job.id);
  const current = opening.began ? undefined : opening.current;
  // An operator stopped this job's worker while it was being made: the job ends here.
  if (current?.jobId === jobId && (await store.stoppedJob(data.sessionId)) === jobId) {
    return { outcome: 'stopped', vmId: current.vmId ?? '' };
  }

  if (current?.vmId && current.jobId !== jobId) {
    const previous = await provider.get(current.vmId, signal);
    if (previous?.alive && current.status === 'running') {
      return { outcome: 'covered', vmId: previous.id };
    }
    if (previous?.alive) {
      // A VM from a job that gave up part-way: it runs no worker, and the session must never
      // have two VMs of ours.
      await provider.kill(previous.id, signal);
    }
    if (current.status === 'running' || current.status === 'provisioning') {
      await store.transition(data.sessionId, {
        status: 'exited',
        reason: 'VM gone before the next run',
      });
    }
  }

  let machine = await findEarlierAttempt(
    job,
    current?.jobId === jobId ? current.vmId : undefined,
    deps,
    signal,
  );
  const adopted = machine !== undefined;
  if (machine) {
    await store.transition(data.sessionId, {
      status: 'provisioning',
      vmId: machine.id,
      jobId,
      attempts: job.attemptsStarted,
      reason: 'adopted the VM of an earlier attempt',
    });
  } else {
    if (!opening.began) {
      await store.begin(data.sessionId, {
        status: 'provisioning',
        jobId,
        attempts: job.attemptsStarted,
        reason: `spawn requested (${data.reason})`,
      });
    }
    deps.checkpoint?.('before-create');
    progress.step = 'create';
    machine = await provider.create(
      { sessionId: data.sessionId, jobTag: jobId, env: deps.workerEnv(data.sessionId) },
      signal,
    );
    progress.step = 'other';
    deps.checkpoint?.('after-create');
    await store.transition(data.sessionId, {
      status: 'provisioning',
      vmId: machine.id,
      reason: 'VM created',
    });
  }
  progress.machine = machine;

  await provider.prepare(machine, signal);
  deps.checkpoint?.('after-prepare');
  await provider.applyEgress(machine, signal);
  deps.checkpoint?.('after-egress');
  await provider.startWorker(machine, signal);
  deps.checkpoint?.('after-start');
  await store.transition(data.sessionId, {
    status: 'running',
    vmId: machine.id,
    attempts: job.attemptsStarted,
    reason: 'worker started',
  });
  return { outcome: adopted ? 'adopted' : 'spawned', vmId: machine.id };
}

/**
 * The live VM an earlier attempt of this job created: by the id it recorded, else (when an
 * attempt may have died between the create call and the state write) by the job tag on the VM.
 */
async function findEarlierAttempt(
  job: Job,
  recordedVmId: string | undefined,
  deps: ProvisionDeps,
  signal?: AbortSignal,
): Promise<WorkerMachine | undefined> {
  if (recordedVmId) {
    const recorded = await deps.provider.get(recordedVmId, signal);
    if (recorded?.alive) return recorded;
  }
  if (job.attemptsStarted <= 1) return undefined;
  return deps.provider.findByJob(String(job.id), signal);
}
