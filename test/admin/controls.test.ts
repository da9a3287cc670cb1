import { queuePrefix, WorkerStateStore } from '@cma-fleet/shared';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { adminFetch, deliverRun, POLL, sessionPath } from '../helpers/admin.js';
import { startTestFleet, type TestFleet } from '../helpers/fleet.js';
import { fleetQueue, liveVmsOf, vmsOf, waitUntilQuiet } from '../helpers/runs.js';

interface WorkerView {
  session_id: string;
  status: string;
  vm_id: string | null;
}

async function workerOf(fleet: TestFleet, sessionId: string): Promise<WorkerView | undefined> {
  const answer = (await (await adminFetch(fleet, '/workers')).json()) as { workers: WorkerView[] };
  return answer.workers.find((w) => w.session_id === sessionId);
}

async function runningWorker(fleet: TestFleet, sessionId: string) {
  await deliverRun(fleet, sessionId);
  await expect.poll(async () => (await workerOf(fleet, sessionId))?.status, POLL).toBe('running');
}

describe('manual controls', () => {
  let fleet: TestFleet;
  afterEach(async () => {
    await fleet?.close();
  });

  it('stops a running worker: the VM is killed and the state says stopped by operator', async () => {
    fleet = await startTestFleet();
    const sessionId = 'sesn_stop_me';
    await runningWorker(fleet, sessionId);

    const answer = await adminFetch(fleet, sessionPath(sessionId, 'stop'), { method: 'POST' });
    expect(answer.status).toBe(202);
    expect(await answer.json()).toMatchObject({ ok: true, action: 'stop', session_id: sessionId });

    await expect.poll(async () => (await workerOf(fleet, sessionId))?.status, POLL).toBe('exited');
    expect(liveVmsOf(fleet.fake.vms(), sessionId)).toHaveLength(0);
    const history = await historyOf(fleet, sessionId);
    expect(history.at(-1)).toMatchObject({ status: 'exited', reason: 'stopped by operator' });
    // The ingress never called the provider: only the spawner holds its key.
    const deletes = fleet.fake.requests().filter((r) => r.method === 'DELETE');
    expect(deletes).toHaveLength(1);
  });

  it('respawns a stopped worker through the queue, with any character in the session id', async () => {
    fleet = await startTestFleet();
    const sessionId = 'odd/ses sion?id=1&x=%2F:ü#';
    await runningWorker(fleet, sessionId);
    await adminFetch(fleet, sessionPath(sessionId, 'stop'), { method: 'POST' });
    await expect.poll(async () => (await workerOf(fleet, sessionId))?.status, POLL).toBe('exited');

    const answer = await adminFetch(fleet, sessionPath(sessionId, 'respawn'), { method: 'POST' });
    expect(answer.status).toBe(202);
    expect(await answer.json()).toMatchObject({ action: 'respawn', session_id: sessionId });

    await expect.poll(async () => (await workerOf(fleet, sessionId))?.status, POLL).toBe('running');
    expect(vmsOf(fleet.fake.vms(), sessionId)).toHaveLength(2);
    expect(liveVmsOf(fleet.fake.vms(), sessionId)).toHaveLength(1);
    const queue = fleetQueue(fleet);
    await waitUntilQuiet(queue);
    const jobs = await queue.getJobs(['completed']);
    expect(jobs.map((job) => job.data.reason).sort()).toEqual(['manual', 'webhook']);
    await queue.close();
  });

  it('refuses a session id longer than the queue contract allows, queueing nothing', async () => {
    fleet = await startTestFleet();
    const answer = await adminFetch(fleet, sessionPath('s'.repeat(4097), 'respawn'), {
      method: 'POST',
    });
    expect(answer.status).toBe(400);
    const queue = fleetQueue(fleet);
    expect(await queue.count()).toBe(0);
    await queue.close();
  });

  it('treats a respawn while the worker is alive as covered: never two VMs', async () => {
    fleet = await startTestFleet();
    const sessionId = 'sesn_alive';
    await runningWorker(fleet, sessionId);
    const answer = await adminFetch(fleet, sessionPath(sessionId, 'respawn'), { method: 'POST' });
    expect(answer.status).toBe(202);
    const queue = fleetQueue(fleet);
    await expect.poll(async () => (await queue.getJobs(['completed'])).length, POLL).toBe(2);
    expect(vmsOf(fleet.fake.vms(), sessionId)).toHaveLength(1);
    await queue.close();
  });
});

async function historyOf(fleet: TestFleet, sessionId: string) {
  const redis = new Redis(fleet.redis.url);
  try {
    const store = new WorkerStateStore(redis, queuePrefix(fleet.env.REDIS_KEY_PREFIX ?? 'cma'));
    return await store.history(sessionId);
  } finally {
    redis.disconnect();
  }
}
