import {
  type Logger,
  SPAWN_JOB_NAME,
  spawnJobOptions,
  type WorkerState,
  type WorkerStateStore,
} from '@cma-fleet/shared';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { LostWorkSource } from './lost-work.js';
import type { WorkerMachine, WorkerProvider } from './providers/provider.js';

export interface ReconcileSettings {
  /** A worker still provisioning this long after it began is stuck (ms). */
  provisionDeadlineMs: number;
  /** A VM older than this is killed, whatever its record says (ms). */
  maxVmAgeMs: number;
  /** The VMs' lifetime, to tell "lifetime reached" from other ends (ms). */
  lifetimeMs: number;
  /** A tagged VM with no record is killed once seen for this long (ms). */
  orphanGraceMs: number;
  /** Records of ended workers are deleted this long after their last change (ms). */
  retentionMs: number;
  /** Attempts for the spawn jobs the reconciler adds. */
  spawnAttempts: number;
}

export interface ReconcilerDeps {
  provider: WorkerProvider;
  store: WorkerStateStore;
  /** The spawn queue: recovered and re-queued sessions go through it and its deduplication. */
  queue: Queue;
  redis: Redis;
  keyPrefix: string;
  logger: Logger;
  settings: ReconcileSettings;
  lostWork?: LostWorkSource;
  now?: () => number;
}

export type ReconcileAction =
  | 'marked_exited'
  | 'killed_stuck'
  | 'killed_too_old'
  | 'killed_orphan'
  | 'pruned'
  | 'requeued'
  | 'recovered_lost_work';

export type ReconcileReport = Record<ReconcileAction, number>;

const ACTIVE: ReadonlySet<string> = new Set(['provisioning', 'running']);

/**
 * One reconcile round. Judges liveness only by reading the provider (listing and status reads
 * never extend a VM's life), then acts: records workers that ended, kills what is stuck, too old
 * or orphaned, prunes old records, and re-queues sessions left without a worker. It never touches
 * a VM without this fleet's role tag.
 */
export async function reconcileOnce(deps: ReconcilerDeps): Promise<ReconcileReport> {
  const now = (deps.now ?? Date.now)();
  const report = emptyReport();
  const machines = new Map((await deps.provider.listOurs()).map((m) => [m.id, m]));
  const states = await deps.store.all();

  for (const state of states) {
    if (ACTIVE.has(state.status)) await judgeWorker(state, machines, now, deps, report);
  }
  await reapUnrecorded(machines, states, now, deps, report);
  await pruneEnded(now, deps, report);
  if (deps.lostWork) {
    // Anthropic being unreachable must not stop the rest of the fleet's upkeep.
    await recoverLostWork(deps.lostWork, now, deps, report).catch((error) =>
      deps.logger.warn({ err: error }, 'could not ask Anthropic for waiting work'),
    );
  }
  return report;
}

function emptyReport(): ReconcileReport {
  return {
    marked_exited: 0,
    killed_stuck: 0,
    killed_too_old: 0,
    killed_orphan: 0,
    pruned: 0,
    requeued: 0,
    recovered_lost_work: 0,
  };
}

async function judgeWorker(
  state: WorkerState,
  machines: Map<string, WorkerMachine>,
  now: number,
  deps: ReconcilerDeps,
  report: ReconcileReport,
): Promise<void> {
  const { store, provider, settings } = deps;
  const machine = state.vmId ? await lookUp(state.vmId, machines, provider) : undefined;
  const age = now - state.createdAt;

  if (state.vmId && !machine?.alive) {
    const reason = endReason(machine, age, settings.lifetimeMs);
    await store.transition(state.sessionId, { status: 'exited', reason });
    report.marked_exited += 1;
    return;
  }
  if (state.status === 'provisioning' && age > settings.provisionDeadlineMs) {
    if (machine) await provider.kill(machine.id);
    const error = `stuck provisioning for ${Math.round(age / 1000)} s`;
    await store.transition(state.sessionId, {
      status: 'failed',
      error,
      reason: `reconciler: ${error}`,
    });
    report.killed_stuck += machine ? 1 : 0;
    // A job still retrying keeps going (its next step starts over); otherwise the run that asked
    // for this worker has none: ask again.
    if (!(await jobStillWorking(state, deps))) {
      await requeue(state.sessionId, now, deps);
      report.requeued += 1;
    }
    return;
  }
  const vmAge = machine?.createdAt === undefined ? age : now - machine.createdAt;
  if (machine && vmAge > settings.maxVmAgeMs) {
    await provider.kill(machine.id);
    const reason = `reconciler: VM older than the maximum age (${Math.round(vmAge / 1000)} s)`;
    await store.transition(state.sessionId, { status: 'exited', reason });
    report.killed_too_old += 1;
  }
}

/** The machine from the listing, else a status read (the listing may be incomplete). */
async function lookUp(
  vmId: string,
  machines: Map<string, WorkerMachine>,
  provider: WorkerProvider,
) {
  return machines.get(vmId) ?? (await provider.get(vmId));
}

/** Why a worker's VM is gone, as far as the provider's answers tell. */
export function endReason(
  machine: WorkerMachine | undefined,
  ageMs: number,
  lifetimeMs: number,
): string {
  if (ageMs >= lifetimeMs) return 'lifetime reached';
  const status = machine?.status.toLowerCase();
  if (status === 'killed') return 'killed';
  if (status === 'stopped') return 'idle exit (the poller ended and the VM powered off)';
  return 'vanished (the provider no longer knows the VM: idle exit or killed outside the fleet)';
}

/** A spawn job still waiting, running or backing off owns the record; leave it be. */
async function jobStillWorking(state: WorkerState, deps: ReconcilerDeps): Promise<boolean> {
  if (!state.jobId) return false;
  const jobState = await deps.queue.getJobState(state.jobId);
  return jobState === 'active' || jobState === 'waiting' || jobState === 'delayed';
}

async function requeue(sessionId: string, now: number, deps: ReconcilerDeps): Promise<void> {
  await deps.queue.add(
    SPAWN_JOB_NAME,
    { sessionId, receivedAt: now, reason: 'reconcile' },
    spawnJobOptions(sessionId, { attempts: deps.settings.spawnAttempts }),
  );
}

/**
 * Kills VMs that carry our tag but belong to no record (a crash between create and the state
 * write that no retry adopted) and VMs past the maximum age, once seen for the grace period.
 */
async function reapUnrecorded(
  machines: Map<string, WorkerMachine>,
  states: WorkerState[],
  now: number,
  deps: ReconcilerDeps,
  report: ReconcileReport,
): Promise<void> {
  const recorded = new Set(states.filter((s) => ACTIVE.has(s.status)).map((s) => s.vmId));
  const seenKey = `${deps.keyPrefix}:orphans`;
  const firstSeen = await deps.redis.hgetall(seenKey);
  const stillOrphans: string[] = [];
  for (const machine of machines.values()) {
    if (recorded.has(machine.id)) continue;
    const seenAt = machine.createdAt ?? Number(firstSeen[machine.id] ?? now);
    if (now - seenAt >= deps.settings.orphanGraceMs) {
      deps.logger.warn({ vm_id: machine.id, metadata: machine.metadata }, 'killing an orphan VM');
      await deps.provider.kill(machine.id);
      report.killed_orphan += 1;
    } else {
      stillOrphans.push(machine.id);
      if (firstSeen[machine.id] === undefined) await deps.redis.hset(seenKey, machine.id, now);
    }
  }
  const forget = Object.keys(firstSeen).filter((id) => !stillOrphans.includes(id));
  if (forget.length > 0) await deps.redis.hdel(seenKey, ...forget);
}

async function pruneEnded(now: number, deps: ReconcilerDeps, report: ReconcileReport) {
  const old = await deps.store.updatedBefore(now - deps.settings.retentionMs);
  for (const sessionId of old) {
    const state = await deps.store.get(sessionId);
    if (state && ACTIVE.has(state.status)) continue;
    await deps.store.remove(sessionId);
    report.pruned += 1;
  }
}

async function recoverLostWork(
  source: LostWorkSource,
  now: number,
  deps: ReconcilerDeps,
  report: ReconcileReport,
): Promise<void> {
  for (const sessionId of await source.sessionsWithWaitingWork(now)) {
    const state = await deps.store.get(sessionId);
    if (state && ACTIVE.has(state.status)) continue;
    deps.logger.info({ session_id: sessionId }, 'recovering a run whose webhook never arrived');
    await requeue(sessionId, now, deps);
    report.recovered_lost_work += 1;
  }
}
