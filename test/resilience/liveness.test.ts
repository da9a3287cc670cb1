import { startHealthServer } from '@cma-fleet/spawner';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestFleet, type TestFleet } from '../helpers/fleet.js';
import { postRun } from '../helpers/runs.js';

describe('the spawner liveness check', () => {
  let fleet: TestFleet;
  let health: Awaited<ReturnType<typeof startHealthServer>>;
  beforeAll(async () => {
    fleet = await startTestFleet({ LOG_LEVEL: 'silent', SPAWNER_LIVENESS_STALL_MS: '500' });
    health = await startHealthServer(0, '127.0.0.1', () => fleet.spawner.liveness());
  });
  afterAll(async () => {
    await health.close();
    await fleet.close();
  });

  const status = async () => (await fetch(health.url)).status;

  it('is healthy while the queue is empty, and while it consumes', async () => {
    expect(await status()).toBe(200);
    expect((await postRun(fleet.ingress.url, fleet.secrets.signingKey, 'sesn_live_1')).status).toBe(
      200,
    );
    await expect.poll(() => fleet.fake.vms().length).toBe(1);
    expect(await status()).toBe(200);
  });

  it('fails when jobs wait while this spawner takes none, though Redis answers PING', async () => {
    // A worker that stopped consuming, as BullMQ workers have after Redis outages, while the
    // process and its Redis connection stay up.
    await fleet.spawner.worker.close();
    expect((await postRun(fleet.ingress.url, fleet.secrets.signingKey, 'sesn_live_2')).status).toBe(
      200,
    );
    await expect.poll(status, { timeout: 5000 }).toBe(503);
    const report = (await (await fetch(health.url)).json()) as { reason: string };
    expect(report.reason).toMatch(/1 jobs wait but this spawner has taken none/);

    // Once another replica drains the queue, nothing waits and the check passes again.
    fleet.addSpawner();
    await expect.poll(() => fleet.fake.vms().length).toBe(2);
    await expect.poll(status).toBe(200);
  });
});
