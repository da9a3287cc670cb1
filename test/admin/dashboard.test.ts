import { afterEach, describe, expect, it } from 'vitest';
import { adminFetch, deliverRun, POLL } from '../helpers/admin.js';
import { startTestFleet, type TestFleet } from '../helpers/fleet.js';
import { fleetQueue } from '../helpers/runs.js';

/** A fleet whose one spawn job failed for good (the provider refused the request). */
async function fleetWithFailedJob(extraEnv: Record<string, string> = {}) {
  const fleet = await startTestFleet(extraEnv);
  fleet.fake.injectFault({ method: 'POST', path: '/v1/vms', status: 422, times: 1 });
  await deliverRun(fleet, 'sesn_dash_failed');
  const queue = fleetQueue(fleet);
  await expect.poll(() => queue.getJobCountByTypes('failed'), POLL).toBe(1);
  return { fleet, queue };
}

const retryFailed = (fleet: TestFleet) =>
  adminFetch(fleet, '/admin/queues/api/queues/cma-spawn/retry/failed', { method: 'PUT' });

describe('the queue dashboard', () => {
  let fleet: TestFleet | undefined;
  afterEach(async () => {
    await fleet?.close();
  });

  it('lists both queues, with job data and no secret', async () => {
    const started = await fleetWithFailedJob();
    fleet = started.fleet;
    await started.queue.close();
    const answer = await adminFetch(
      fleet,
      '/admin/queues/api/queues?activeQueue=cma-spawn&status=failed',
    );
    expect(answer.status).toBe(200);
    const text = await answer.text();
    const body = JSON.parse(text) as { queues: Array<{ name: string; readOnlyMode: boolean }> };
    expect(body.queues.map((q) => q.name).sort()).toEqual(['cma-control', 'cma-spawn']);
    expect(body.queues.every((q) => q.readOnlyMode)).toBe(true);
    expect(text).toContain('sesn_dash_failed');
    for (const secret of Object.values(fleet.secrets)) expect(text).not.toContain(secret);
  });

  it('redacts a secret-shaped string quoted in a failure reason, in the dashboard and /workers', async () => {
    fleet = await startTestFleet();
    const echoed = `instavm_sk_${'e'.repeat(8)}${Date.now()}`;
    fleet.fake.injectFault({ method: 'POST', path: '/v1/vms', status: 422, body: `no: ${echoed}` });
    await deliverRun(fleet, 'sesn_dash_echo');
    const queue = fleetQueue(fleet);
    await expect.poll(() => queue.getJobCountByTypes('failed'), POLL).toBe(1);
    const [job] = await queue.getJobs(['failed']);
    expect(job?.failedReason).toContain(echoed); // BullMQ keeps the raw reason
    await queue.close();
    const answer = await adminFetch(
      fleet,
      '/admin/queues/api/queues?activeQueue=cma-spawn&status=failed',
    );
    const text = await answer.text();
    expect(text).toContain('sesn_dash_echo');
    expect(text).not.toContain(echoed);
    expect(text).toContain('[redacted]');
    const workers = await (await adminFetch(fleet, '/workers')).text();
    expect(workers).toContain('sesn_dash_echo');
    expect(workers).not.toContain(echoed);
  });

  it('refuses retries while read-only (the default)', async () => {
    const started = await fleetWithFailedJob();
    fleet = started.fleet;
    const answer = await retryFailed(fleet);
    expect(answer.ok).toBe(false);
    expect(await started.queue.getJobCountByTypes('failed')).toBe(1);
    await started.queue.close();
  });

  it('retries failed jobs when ADMIN_DASHBOARD_WRITE=true', async () => {
    const started = await fleetWithFailedJob({ ADMIN_DASHBOARD_WRITE: 'true' });
    fleet = started.fleet;
    const answer = await retryFailed(fleet);
    expect(answer.status).toBe(200);
    await expect.poll(() => started.queue.getJobCountByTypes('completed'), POLL).toBe(1);
    expect(await started.queue.getJobCountByTypes('failed')).toBe(0);
    await started.queue.close();
  });
});
