import { queuePrefix, WorkerStateStore } from '@cma-fleet/shared';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestFleet, type TestFleet } from '../helpers/fleet.js';
import { fleetQueue, outcomesOf, postRun, vmsOf, waitUntilQuiet } from '../helpers/runs.js';

describe("an operator's stop while the worker is still being made", () => {
  let fleet: TestFleet;
  let connection: Redis;
  beforeAll(async () => {
    fleet = await startTestFleet({ LOG_LEVEL: 'silent' });
    connection = new Redis(fleet.redis.url);
  });
  afterAll(async () => {
    connection.disconnect();
    await fleet.close();
  });

  it('ends the spawn instead of letting its retry make a new VM', async () => {
    const store = new WorkerStateStore(connection, queuePrefix('e2e'));
    // The install step is slow, so the stop lands mid-provision.
    fleet.fake.injectFault({ method: 'POST', path: '/execute', delayMs: 1500, times: 1 });
    expect(
      (await postRun(fleet.ingress.url, fleet.secrets.signingKey, 'sesn_stop_early')).status,
    ).toBe(200);
    await expect.poll(() => vmsOf(fleet.fake.vms(), 'sesn_stop_early').length).toBe(1);

    const stop = await fetch(`${fleet.ingress.adminUrl}/admin/sessions/sesn_stop_early/stop`, {
      method: 'POST',
      headers: { authorization: `Bearer ${fleet.secrets.adminToken}` },
    });
    expect(stop.status).toBe(202);
    const queue = fleetQueue(fleet);
    await expect.poll(() => fleet.fake.vms()[0]?.status, { timeout: 10_000 }).toBe('killed');
    await waitUntilQuiet(queue);

    expect(vmsOf(fleet.fake.vms(), 'sesn_stop_early')).toHaveLength(1);
    expect(await outcomesOf(queue, 'sesn_stop_early')).toEqual(['stopped']);
    expect(await store.get('sesn_stop_early')).toMatchObject({ status: 'exited' });
    expect((await store.history('sesn_stop_early')).at(-1)?.reason).toBe('stopped by operator');
    await queue.close();
  });
});
