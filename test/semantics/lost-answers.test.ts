import type { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestFleet, type TestFleet } from '../helpers/fleet.js';
import { fleetQueue, outcomesOf, postRun, vmsOf, waitUntilQuiet } from '../helpers/runs.js';

describe('a create whose answer is lost', () => {
  let fleet: TestFleet;
  let queue: Queue;
  beforeAll(async () => {
    fleet = await startTestFleet({ LOG_LEVEL: 'silent', INSTAVM_TIMEOUT_MS: '300' });
    queue = fleetQueue(fleet);
  });
  afterAll(async () => {
    await queue.close();
    await fleet.close();
  });

  it.each([
    ['times out after the VM was made', { delayMs: 1000 }],
    ['fails with 502 after the VM was made', { status: 502 }],
    ['has its connection reset after the VM was made', { resetConnection: true }],
  ])('%s: the retry looks the VM up and adopts it', async (what, fault) => {
    const sessionId = `sesn_lost_${what.split(' ')[0]}_${Object.keys(fault)[0]}`;
    fleet.fake.injectFault({
      method: 'POST',
      path: '/v1/vms',
      afterEffect: true,
      times: 1,
      ...fault,
    });
    expect((await postRun(fleet.ingress.url, fleet.secrets.signingKey, sessionId)).status).toBe(
      200,
    );
    await waitUntilQuiet(queue);

    expect(vmsOf(fleet.fake.vms(), sessionId)).toHaveLength(1);
    expect(await outcomesOf(queue, sessionId)).toEqual(['adopted']);
    const creates = fleet.fake
      .requests()
      .filter(
        (r) =>
          r.method === 'POST' && r.path === '/v1/vms' && JSON.stringify(r.body).includes(sessionId),
      );
    expect(creates).toHaveLength(1);
  });
});
