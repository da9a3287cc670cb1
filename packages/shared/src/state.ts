import type { Redis } from 'ioredis';
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

type WriteMode = 'begin' | 'begin-if-absent' | 'transition';

/**
 * Every write of a worker record, as one script (atomic, and one command where a MULTI of the
 * same steps was eight: the spawner writes three per worker). KEYS: the worker hash, the index,
 * the history. ARGV: the mode, the session id, the time, the transition's JSON, then the hash's
 * fields and values. `begin` replaces the record's fields; `begin-if-absent` writes only when
 * the session has no record and otherwise answers the record as it stands; `transition`
 * updates the record, keeping `error` only on a `failed` one. The history keeps the newest
 * HISTORY_LIMIT transitions.
 */
const WRITE_RECORD = `
local mode = ARGV[1]
if mode == 'begin-if-absent' and redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.call('HGETALL', KEYS[1])
end
if mode == 'begin' then redis.call('DEL', KEYS[1]) end
redis.call('HSET', KEYS[1], unpack(ARGV, 5))
if mode == 'transition' then
  redis.call('HSETNX', KEYS[1], 'created_at', ARGV[3])
  if redis.call('HGET', KEYS[1], 'status') ~= 'failed' then redis.call('HDEL', KEYS[1], 'error') end
end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
redis.call('LPUSH', KEYS[3], ARGV[4])
redis.call('LTRIM', KEYS[3], 0, ${HISTORY_LIMIT - 1})
return false
`;

type StateRedis = Redis & {
  workerWriteRecord(
    workerKey: string,
    indexKey: string,
    historyKey: string,
    mode: WriteMode,
    ...args: Array<string | number>
  ): Promise<string[] | null>;
};

/** What `beginIfAbsent` found: nothing (so it began a record), or the session's record. */
export type Opening = { began: true } | { began: false; current: WorkerState | undefined };

/**
 * Worker state in Redis, one hash per session plus an index by last update and a capped list of
 * transitions. Keys use hashes of session ids, never the raw ids. Holds no credential, ever.
 */
export class WorkerStateStore {
  private readonly redis: StateRedis;

  constructor(
    redis: Redis,
    private readonly keyPrefix: string,
    private readonly now: () => number = Date.now,
  ) {
    if (!('workerWriteRecord' in redis)) {
      redis.defineCommand('workerWriteRecord', { numberOfKeys: 3, lua: WRITE_RECORD });
    }
    this.redis = redis as StateRedis;
  }

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
    await this.write('begin', sessionId, change);
  }

  /**
   * Starts a record for a session that has none, or reads the one it has, in one round trip:
   * a session's first worker, the common case, needs no separate read before its VM is made.
   */
  async beginIfAbsent(sessionId: string, change: StateChange): Promise<Opening> {
    const found = await this.write('begin-if-absent', sessionId, change);
    if (found === null) return { began: true };
    return { began: false, current: parseState(pairsToObject(found)) };
  }

  /** Records a transition of the session's current worker. */
  async transition(sessionId: string, change: StateChange): Promise<void> {
    await this.write('transition', sessionId, change);
  }

  private write(mode: WriteMode, sessionId: string, change: StateChange) {
    const at = this.now();
    const transition: Transition = { status: change.status, at, reason: change.reason };
    const fields: Record<string, string | number> = { session_id: sessionId };
    if (mode !== 'transition') fields.created_at = at;
    return this.redis.workerWriteRecord(
      this.workerKey(sessionId),
      this.indexKey,
      this.historyKey(sessionId),
      mode,
      sessionId,
      at,
      JSON.stringify(transition),
      ...Object.entries({ ...fields, ...fieldsOf(change, at) }).flat(),
    );
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

/** HGETALL's flat answer from a script, as an object. */
function pairsToObject(pairs: string[]): Record<string, string> {
  const fields: Record<string, string> = {};
  for (let i = 0; i + 1 < pairs.length; i += 2) fields[pairs[i] as string] = pairs[i + 1] as string;
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
