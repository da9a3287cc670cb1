import type { ChainableCommander, Redis } from 'ioredis';
import { safeKey } from './ids.js';

/**
 * Where a session's worker stands.
 * - `provisioning`: a spawner is creating or starting its VM.
 * - `running`: the VM runs `ant beta:worker poll`.
 * - `failed`: provisioning gave up; `error` says why.
 * - `exited`: the VM is gone (idle exit, lifetime, killed).
 */
export const WORKER_STATUSES = ['provisioning', 'running', 'failed', 'exited'] as const;
export type WorkerStatus = (typeof WORKER_STATUSES)[number];

export interface WorkerState {
  sessionId: string;
  status: WorkerStatus;
  vmId?: string;
  error?: string;
  /** The spawn job that made this worker. */
  jobId?: string;
  /** Provision attempts the job has started. */
  attempts?: number;
  /** When this worker's provisioning began (ms since epoch). */
  createdAt: number;
  updatedAt: number;
}

export interface Transition {
  status: WorkerStatus;
  at: number;
  reason: string;
}

export interface StateChange {
  status: WorkerStatus;
  reason: string;
  vmId?: string;
  error?: string;
  jobId?: string;
  attempts?: number;
}

const HISTORY_LIMIT = 50;

/**
 * Worker state in Redis, one hash per session plus an index by last update and a capped list of
 * transitions. Keys use hashes of session ids, never the raw ids. Holds no credential, ever.
 */
export class WorkerStateStore {
  constructor(
    private readonly redis: Redis,
    private readonly keyPrefix: string,
    private readonly now: () => number = Date.now,
  ) {}

  private workerKey(sessionId: string): string {
    return `${this.keyPrefix}:worker:${safeKey(sessionId)}`;
  }

  private stoppedKey(sessionId: string): string {
    return `${this.workerKey(sessionId)}:stopped`;
  }

  private historyKey(sessionId: string): string {
    return `${this.workerKey(sessionId)}:history`;
  }

  private get indexKey(): string {
    return `${this.keyPrefix}:workers`;
  }

  /**
   * Starts a new worker record for the session, replacing the previous one's fields (its
   * transitions stay in the history).
   */
  async begin(sessionId: string, change: StateChange): Promise<void> {
    const at = this.now();
    const key = this.workerKey(sessionId);
    const multi = this.redis
      .multi()
      .del(key)
      .hset(key, { session_id: sessionId, created_at: at, ...fieldsOf(change, at) });
    await this.indexAndLog(multi, sessionId, change, at).exec();
  }

  /** Records a transition of the session's current worker. */
  async transition(sessionId: string, change: StateChange): Promise<void> {
    const at = this.now();
    const key = this.workerKey(sessionId);
    const multi = this.redis.multi().hset(key, { session_id: sessionId, ...fieldsOf(change, at) });
    if (change.status !== 'failed') multi.hdel(key, 'error');
    await this.indexAndLog(multi.hsetnx(key, 'created_at', at), sessionId, change, at).exec();
  }

  /** Adds to a write: the index entry and the transition, in the same MULTI. */
  private indexAndLog(
    multi: ChainableCommander,
    sessionId: string,
    change: StateChange,
    at: number,
  ) {
    const transition: Transition = { status: change.status, at, reason: change.reason };
    return multi
      .zadd(this.indexKey, at, sessionId)
      .lpush(this.historyKey(sessionId), JSON.stringify(transition))
      .ltrim(this.historyKey(sessionId), 0, HISTORY_LIMIT - 1);
  }

  async get(sessionId: string): Promise<WorkerState | undefined> {
    return parseState(await this.redis.hgetall(this.workerKey(sessionId)));
  }

  async history(sessionId: string): Promise<Transition[]> {
    const raw = await this.redis.lrange(this.historyKey(sessionId), 0, HISTORY_LIMIT - 1);
    return raw.map((line) => JSON.parse(line) as Transition).reverse();
  }

  /** The transitions of several sessions' workers in one round trip, oldest first each. */
  async histories(sessionIds: string[]): Promise<Transition[][]> {
    if (sessionIds.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const id of sessionIds) pipeline.lrange(this.historyKey(id), 0, HISTORY_LIMIT - 1);
    const results = (await pipeline.exec()) ?? [];
    return results.map(([, lines]) =>
      ((lines as string[] | null) ?? []).map((line) => JSON.parse(line) as Transition).reverse(),
    );
  }

  /** The most recently updated workers first. */
  async list(limit = 200): Promise<WorkerState[]> {
    return this.read(await this.redis.zrevrange(this.indexKey, 0, limit - 1));
  }

  /** Every worker record, oldest update first (bounded by the reconciler's pruning). */
  async all(): Promise<WorkerState[]> {
    return this.read(await this.redis.zrange(this.indexKey, 0, -1));
  }

  /** Records last updated before `cutoff` (ms since epoch), oldest first. */
  async updatedBefore(cutoff: number, limit = 1000): Promise<string[]> {
    return this.redis.zrangebyscore(this.indexKey, 0, cutoff, 'LIMIT', 0, limit);
  }

  /**
   * Remembers that an operator stopped the worker that spawn job `jobId` was making, so the job's
   * retries give up instead of making a new one. Kept for a day, far longer than any retry.
   */
  async markStopped(sessionId: string, jobId: string): Promise<void> {
    await this.redis.set(this.stoppedKey(sessionId), jobId, 'PX', 86_400_000);
  }

  /** The spawn job whose worker an operator stopped, if any. */
  async stoppedJob(sessionId: string): Promise<string | undefined> {
    return (await this.redis.get(this.stoppedKey(sessionId))) ?? undefined;
  }

  /** Forgets a session's worker record and its history. */
  async remove(sessionId: string): Promise<void> {
    await this.redis
      .multi()
      .del(this.workerKey(sessionId), this.historyKey(sessionId), this.stoppedKey(sessionId))
      .zrem(this.indexKey, sessionId)
      .exec();
  }

  private async read(sessionIds: string[]): Promise<WorkerState[]> {
    if (sessionIds.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const id of sessionIds) pipeline.hgetall(this.workerKey(id));
    const results = (await pipeline.exec()) ?? [];
    return results
      .map(([, fields]) => parseState(fields as Record<string, string>))
      .filter((state): state is WorkerState => state !== undefined);
  }
}

function fieldsOf(change: StateChange, at: number): Record<string, string | number> {
  const fields: Record<string, string | number> = { status: change.status, updated_at: at };
  if (change.vmId !== undefined) fields.vm_id = change.vmId;
  if (change.error !== undefined) fields.error = change.error;
  if (change.jobId !== undefined) fields.job_id = change.jobId;
  if (change.attempts !== undefined) fields.attempts = change.attempts;
  return fields;
}

function parseState(fields: Record<string, string>): WorkerState | undefined {
  const status = fields.status as WorkerStatus | undefined;
  if (!fields.session_id || !status) return undefined;
  return {
    sessionId: fields.session_id,
    status,
    vmId: fields.vm_id,
    error: fields.error,
    jobId: fields.job_id,
    attempts: fields.attempts === undefined ? undefined : Number(fields.attempts),
    createdAt: Number(fields.created_at ?? fields.updated_at),
    updatedAt: Number(fields.updated_at),
  };
}
