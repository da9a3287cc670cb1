import type { Redis } from 'ioredis';

/** The states a provider circuit breaker publishes. */
export const BREAKER_STATES = ['closed', 'open', 'half-open'] as const;
export type BreakerState = (typeof BREAKER_STATES)[number];

export interface BreakerReading {
  state: BreakerState;
  /** False when no spawner has published a state (no breaker yet, or none has run). */
  published: boolean;
}

/**
 * The provider breaker's state as the spawners publish it: a hash `<prefix>:breaker` with a
 * `state` field. Read defensively: a missing or unknown value counts as closed, since a spawner
 * that publishes nothing never stops calling the provider.
 */
export async function readBreakerState(redis: Redis, keyPrefix: string): Promise<BreakerReading> {
  const state = await redis.hget(`${keyPrefix}:breaker`, 'state');
  if ((BREAKER_STATES as readonly string[]).includes(state ?? '')) {
    return { state: state as BreakerState, published: true };
  }
  return { state: 'closed', published: false };
}
