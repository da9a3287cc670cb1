import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { adminFetch } from '../helpers/admin.js';
import { startTestFleet, type TestFleet } from '../helpers/fleet.js';
import { runStartedEvent, signedHeaders } from '../helpers/sign.js';

// Redis Cluster runs BullMQ's multi-key scripts only when all their keys share one hash slot,
// and the slot of a key with a `{tag}` is the slot of the tag. So every key the fleet writes
// must carry the same tag: `{REDIS_KEY_PREFIX}`.

/** The part of a key Redis Cluster hashes: the first non-empty `{...}`, else the whole key. */
function hashTag(key: string): string {
  const open = key.indexOf('{');
  const close = open === -1 ? -1 : key.indexOf('}', open + 1);
  return close > open + 1 ? key.slice(open + 1, close) : key;
}

async function allKeys(url: string): Promise<string[]> {
  const redis = new Redis(url);
  try {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await redis.scan(cursor, 'COUNT', 1000);
      keys.push(...batch);
      cursor = next;
    } while (cursor !== '0');
    return keys;
  } finally {
    redis.disconnect();
  }
}

describe('keys of a fleet with REDIS_KEY_PREFIX=tenant-a', () => {
  let fleet: TestFleet;
  afterEach(async () => {
    await fleet?.close();
  });

  it('all carry the hash tag {tenant-a} after a delivery has become a running worker', async () => {
    fleet = await startTestFleet({ REDIS_KEY_PREFIX: 'tenant-a' });
    const body = runStartedEvent('whe_hash_slot', 'sesn_hash_slot');
    const response = await fetch(`${fleet.ingress.url}/webhook`, {
      method: 'POST',
      headers: signedHeaders(fleet.secrets.signingKey, 'whe_hash_slot', body),
      body,
    });
    expect(response.status).toBe(200);
    await expect.poll(() => fleet.fake.vms().length).toBe(1);
    await expect
      .poll(async () => (await adminFetch(fleet, '/workers')).json())
      .toMatchObject({ workers: [{ session_id: 'sesn_hash_slot', status: 'running' }] });

    const keys = await allKeys(fleet.redis.url);
    // Queue keys, job hashes, worker state, history and index are all there to be checked.
    expect(keys.length).toBeGreaterThan(5);
    expect(keys.filter((key) => hashTag(key) !== 'tenant-a')).toEqual([]);
  });
});
