import { safeKey } from '@cma-fleet/shared';
import type { Redis } from 'ioredis';

/**
 * Anthropic retries an event up to 3 times, at most 120 s apart, with the same `webhook-id`;
 * 15 minutes covers every retry with a wide margin.
 */
export const DELIVERY_MARK_TTL_MS = 15 * 60 * 1000;

/**
 * `new`: first sight of this delivery (the mark is now `pending`). `pending`: another request is
 * scheduling it, or died doing so. `done`: a job for it is in Redis.
 */
export type DeliveryClaim = 'new' | 'pending' | 'done';

/** Reads the mark and, when there is none, sets `pending`, in one atomic step. */
const CLAIM_SCRIPT = `
local current = redis.call('GET', KEYS[1])
if current then return current end
redis.call('SET', KEYS[1], 'pending', 'PX', ARGV[1])
return 'new'
`;

type RedisWithClaim = Redis & {
  claimDelivery(key: string, ttlMs: number): Promise<DeliveryClaim>;
};

/**
 * Per-delivery idempotency. Only a `done` mark makes a delivery a duplicate. A copy that finds
 * the mark `pending` waits for the request holding it (see `waitForDone`) rather than answering
 * at once: that request may still fail, and a copy acknowledged in its place would lose the run.
 * A mark therefore never causes a run to be dropped.
 */
export class DeliveryMarks {
  private readonly redis: RedisWithClaim;

  constructor(
    redis: Redis,
    private readonly keyPrefix: string,
  ) {
    if (!('claimDelivery' in redis)) {
      redis.defineCommand('claimDelivery', { numberOfKeys: 1, lua: CLAIM_SCRIPT });
    }
    this.redis = redis as RedisWithClaim;
  }

  private key(webhookId: string): string {
    return `${this.keyPrefix}:delivery:${safeKey(webhookId)}`;
  }

  claim(webhookId: string): Promise<DeliveryClaim> {
    return this.redis.claimDelivery(this.key(webhookId), DELIVERY_MARK_TTL_MS);
  }

  /**
   * Marks the delivery scheduled. Not awaited by callers: it travels on the same connection right
   * behind the job's add, and if it is lost the mark stays `pending`, which is safe.
   */
  markDone(webhookId: string): void {
    this.redis.set(this.key(webhookId), 'done', 'PX', DELIVERY_MARK_TTL_MS).catch(() => {});
  }

  /** Forgets a claim whose scheduling failed, so copies waiting on it go ahead at once. */
  release(webhookId: string): void {
    this.redis.del(this.key(webhookId)).catch(() => {});
  }

  /**
   * Waits up to `ms` for another request's claim to settle. True when it ended `done`; false when
   * it was released, or is still pending (its holder may have died): the caller then schedules
   * the run itself, which the session's deduplication makes safe.
   */
  async waitForDone(webhookId: string, ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      const mark = await this.redis.get(this.key(webhookId));
      if (mark !== 'pending') return mark === 'done';
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
    return false;
  }
}

/** How often a waiting copy looks at the mark; only concurrent copies of a delivery wait. */
const POLL_MS = 20;
