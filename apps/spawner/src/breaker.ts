import type { Redis } from 'ioredis';

export type BreakerState = 'closed' | 'open' | 'half-open';

export interface BreakerSettings {
  /** Consecutive provider faults (across all replicas) that open the breaker. */
  threshold: number;
  /** How long an open breaker keeps every replica from calling the provider (ms). */
  coolDownMs: number;
  /** How long a probe may take before another caller may probe instead (ms). */
  probeTimeoutMs: number;
}

/** May this caller call the provider now? */
export type Admission =
  | { allowed: true; probe: boolean; failures: number }
  | { allowed: false; waitMs: number; state: BreakerState };

/**
 * `until` is the end of the cool-down (open) or of the probe's turn (half-open). When it has
 * passed, the caller becomes the probe.
 */
const ADMIT = `
local state = redis.call('HGET', KEYS[1], 'state') or 'closed'
local failures = tonumber(redis.call('HGET', KEYS[1], 'failures') or '0')
if state == 'closed' then return {'closed', 0, failures} end
local now = tonumber(ARGV[1])
local untilMs = tonumber(redis.call('HGET', KEYS[1], 'until') or '0')
if now < untilMs then
  -- While a probe runs, others look again soon rather than for the probe's whole allowance.
  local wait = untilMs - now
  if state == 'half-open' then wait = math.min(wait, tonumber(ARGV[3])) end
  return {state, wait, failures}
end
redis.call('HSET', KEYS[1], 'state', 'half-open', 'until', now + tonumber(ARGV[2]), 'updated_at', now)
return {'probe', 0, failures}
`;

const RECORD_FAULT = `
local state = redis.call('HGET', KEYS[1], 'state') or 'closed'
local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
local now = tonumber(ARGV[1])
if state == 'half-open' or failures >= tonumber(ARGV[2]) then
  redis.call('HSET', KEYS[1], 'state', 'open', 'until', now + tonumber(ARGV[3]), 'updated_at', now)
  return 'open'
end
return state
`;

/** How soon callers turned away during a probe look again (ms). */
const PROBE_RECHECK_MS = 1000;

type BreakerRedis = Redis & {
  breakerAdmit(
    key: string,
    now: number,
    probeMs: number,
    recheckMs: number,
  ): Promise<[string, number, number]>;
  breakerFault(key: string, now: number, threshold: number, coolDownMs: number): Promise<string>;
};

/**
 * A circuit breaker shared by every spawner replica through Redis. After `threshold` provider
 * faults in a row it opens: nobody calls the provider for the cool-down; then one caller probes,
 * and its success closes the breaker (its fault reopens it). Its state lives in one hash,
 * `<prefix>:breaker`, which the status page reads.
 */
export class ProviderBreaker {
  private readonly redis: BreakerRedis;
  readonly key: string;

  constructor(
    redis: Redis,
    keyPrefix: string,
    private readonly settings: BreakerSettings,
    private readonly now: () => number = Date.now,
  ) {
    if (!('breakerAdmit' in redis)) {
      redis.defineCommand('breakerAdmit', { numberOfKeys: 1, lua: ADMIT });
      redis.defineCommand('breakerFault', { numberOfKeys: 1, lua: RECORD_FAULT });
    }
    this.redis = redis as BreakerRedis;
    this.key = `${keyPrefix}:breaker`;
  }

  async admit(): Promise<Admission> {
    const [state, waitMs, failures] = await this.redis.breakerAdmit(
      this.key,
      this.now(),
      this.settings.probeTimeoutMs,
      PROBE_RECHECK_MS,
    );
    if (state === 'closed') return { allowed: true, probe: false, failures };
    if (state === 'probe') return { allowed: true, probe: true, failures };
    return { allowed: false, waitMs, state: state as BreakerState };
  }

  /** A provider call went through: close the breaker. Writes only when there is news. */
  async recordSuccess(admission: Admission): Promise<void> {
    if (admission.allowed && !admission.probe && admission.failures === 0) return;
    await this.redis.hset(this.key, {
      state: 'closed',
      failures: 0,
      until: 0,
      updated_at: this.now(),
    });
  }

  /** A provider fault; resolves with the breaker's state after it. */
  async recordFault(): Promise<BreakerState> {
    const state = await this.redis.breakerFault(
      this.key,
      this.now(),
      this.settings.threshold,
      this.settings.coolDownMs,
    );
    return state as BreakerState;
  }

  async state(): Promise<BreakerState> {
    return ((await this.redis.hget(this.key, 'state')) as BreakerState | null) ?? 'closed';
  }
}
