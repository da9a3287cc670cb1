import { queuePrefix, WorkerStateStore } from '@cma-fleet/shared';
import type { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { startTestFleet, type TestFleet } from '../helpers/fleet.js';
import { fleetQueue, postRun, vmsOf, waitUntilQuiet } from '../helpers/runs.js';

describe('provisioning through provider faults', () => {
  let fleet: TestFleet;
  let queue: Queue;
  let connection: Redis;
  let store: WorkerStateStore;

  async function start(env: Record<string, string>) {
    fleet = await startTestFleet({ LOG_LEVEL: 'silent', ...env });
    queue = fleetQueue(fleet);
    connection = new Redis(fleet.redis.url);
    store = new WorkerStateStore(connection, queuePrefix('e2e'));
  }
  afterEach(async () => {
    connection?.disconnect();
    await queue?.close();
    await fleet?.close();
  });

  it('rides through three timeouts: one VM, four attempts recorded, running', async () => {
    await start({ INSTAVM_TIMEOUT_MS: '200' });
    fleet.fake.injectFault({ method: 'POST', path: '/v1/vms', hang: true, times: 3 });
    expect(
      (await postRun(fleet.ingress.url, fleet.secrets.signingKey, 'sesn_timeouts')).status,
    ).toBe(200);
    await waitUntilQuiet(queue);

    expect(vmsOf(fleet.fake.vms(), 'sesn_timeouts')).toHaveLength(1);
    expect(await store.get('sesn_timeouts')).toMatchObject({ status: 'running', attempts: 4 });
    const history = await store.history('sesn_timeouts');
    expect(history.filter((t) => /attempt \d failed/.test(t.reason))).toHaveLength(3);
  });

  it('fails at once on 401, with the cause in the worker state', async () => {
    await start({});
    fleet.fake.injectFault({ method: 'POST', path: '/v1/vms', status: 401 });
    expect((await postRun(fleet.ingress.url, fleet.secrets.signingKey, 'sesn_401')).status).toBe(
      200,
    );
    await waitUntilQuiet(queue);

    const [job] = await queue.getJobs(['failed']);
    expect(job?.attemptsMade).toBe(1);
    const state = await store.get('sesn_401');
    expect(state?.status).toBe('failed');
    expect(state?.error).toMatch(/rejected the API key \(check INSTAVM_API_KEY\)/);
    expect(state?.error).toContain('401');
  });

  it("keeps a live worker's record while a later run of its session waits on the breaker", async () => {
    await start({ LOG_LEVEL: 'warn' });
    expect((await postRun(fleet.ingress.url, fleet.secrets.signingKey, 'sesn_kept')).status).toBe(
      200,
    );
    await expect.poll(async () => (await store.get('sesn_kept'))?.status).toBe('running');
    // The breaker opens (as another replica's faults would make it), then the session runs again.
    await connection.hset('{e2e}:breaker', { state: 'open', until: Date.now() + 60_000 });
    expect((await postRun(fleet.ingress.url, fleet.secrets.signingKey, 'sesn_kept')).status).toBe(
      200,
    );
    await expect
      .poll(() => fleet.logs.some((line) => line.includes('provision deferred')))
      .toBe(true);

    expect(await store.get('sesn_kept')).toMatchObject({ status: 'running', error: undefined });
  });

  it('opens the breaker while the provider answers 503, then gives all 100 sessions a VM', async () => {
    await start({ PROVIDER_BREAKER_THRESHOLD: '5', PROVIDER_BREAKER_COOLDOWN_MS: '5000' });
    fleet.addSpawner();
    fleet.fake.injectFault({ status: 503 });
    const outageStarted = Date.now();
    const sessions = Array.from({ length: 100 }, (_, i) => `sesn_outage_${i}`);
    for (const [i, session] of sessions.entries()) {
      expect((await postRun(fleet.ingress.url, fleet.secrets.signingKey, session)).status).toBe(
        200,
      );
      if (i % 10 === 9) await new Promise((resolve) => setTimeout(resolve, 500)); // arrivals spread
    }
    await expect.poll(() => fleet.spawner.breaker.state(), { timeout: 10_000 }).toBe('open');
    // Hold the outage for 60 s in all, then recover.
    await new Promise((resolve) =>
      setTimeout(resolve, Math.max(0, 60_000 - (Date.now() - outageStarted))),
    );
    const callsDuringOutage = fleet.fake.requests().length;
    fleet.fake.clearFaults();

    await waitUntilQuiet(queue, 60_000);
    // Without the breaker: 100 sessions x 6 attempts = 600 calls at least. With it: the first
    // faults, the in-flight provisions, then one probe per cool-down (12 in 60 s).
    expect(callsDuringOutage).toBeLessThan(60);
    expect(await queue.getFailedCount()).toBe(0);
    for (const session of sessions) expect(vmsOf(fleet.fake.vms(), session)).toHaveLength(1);
    expect(await fleet.spawner.breaker.state()).toBe('closed');
  }, 150_000);
});
