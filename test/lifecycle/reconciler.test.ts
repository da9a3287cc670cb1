import { InstaVmClient } from '@cma-fleet/instavm';
import { queuePrefix, WorkerStateStore } from '@cma-fleet/shared';
import { RECONCILE_QUEUE } from '@cma-fleet/spawner';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { startTestFleet, type TestFleet } from '../helpers/fleet.js';
import { postRun, vmsOf } from '../helpers/runs.js';

describe('the reconciler', () => {
  let fleet: TestFleet;
  let connection: Redis;
  let store: WorkerStateStore;

  async function start(env: Record<string, string>) {
    fleet = await startTestFleet({ LOG_LEVEL: 'silent', RECONCILE_INTERVAL_MS: '200', ...env });
    connection = new Redis(fleet.redis.url);
    store = new WorkerStateStore(connection, queuePrefix('e2e'));
  }
  afterEach(async () => {
    connection?.disconnect();
    await fleet?.close();
  });

  const client = () =>
    new InstaVmClient({ baseUrl: fleet.fake.url, apiKey: fleet.secrets.instavmApiKey });
  const makeVm = (metadata: Record<string, string>) =>
    client().createVm({
      vm_lifetime_seconds: 3600,
      memory_mb: 512,
      vcpu_count: 1,
      metadata,
      env: {},
      egress_policy: {
        allow_package_managers: false,
        allow_http: false,
        allow_https: true,
        allowed_domains: [],
        allowed_cidrs: [],
      },
    });

  it('marks a worker whose VM the provider reports gone exited, with the reason', async () => {
    await start({});
    expect((await postRun(fleet.ingress.url, fleet.secrets.signingKey, 'sesn_gone')).status).toBe(
      200,
    );
    await expect.poll(async () => (await store.get('sesn_gone'))?.status).toBe('running');
    const [vm] = vmsOf(fleet.fake.vms(), 'sesn_gone');
    fleet.fake.exitVm(vm?.vm_id ?? '');

    await expect
      .poll(async () => (await store.get('sesn_gone'))?.status, { timeout: 5000 })
      .toBe('exited');
    const last = (await store.history('sesn_gone')).at(-1);
    expect(last?.reason).toMatch(/vanished|idle exit/);
    expect(last?.at).toBeGreaterThan(0);
    const counter = await fleet.spawner.metrics.reconcilerActions.get();
    const marked = counter.values.find((v) => v.labels.action === 'marked_exited');
    expect(marked?.value).toBeGreaterThanOrEqual(1);
  });

  it('kills a VM stuck starting past the deadline and marks it failed', async () => {
    await start({ RECONCILE_PROVISION_DEADLINE_MS: '1000', INSTAVM_TIMEOUT_MS: '5000' });
    // The worker never starts: the start call hangs.
    fleet.fake.injectFault({ method: 'POST', path: '/execute_async', hang: true, times: 1 });
    expect((await postRun(fleet.ingress.url, fleet.secrets.signingKey, 'sesn_stuck')).status).toBe(
      200,
    );
    await expect.poll(() => vmsOf(fleet.fake.vms(), 'sesn_stuck').length).toBe(1);
    const vmId = vmsOf(fleet.fake.vms(), 'sesn_stuck')[0]?.vm_id;

    await expect
      .poll(async () => (await store.get('sesn_stuck'))?.status, { timeout: 4000 })
      .toBe('failed');
    expect((await store.get('sesn_stuck'))?.error).toMatch(/stuck provisioning/);
    const kills = fleet.fake
      .requests()
      .filter((r) => r.method === 'DELETE' && r.path === `/v1/vms/${vmId}`);
    expect(kills).toHaveLength(1);
  });

  it('kills a VM with our tag but no record after the grace period, and never an untagged one', async () => {
    await start({ RECONCILE_ORPHAN_GRACE_MS: '600' });
    const orphan = await makeVm({ role: 'cma-worker', fleet: 'e2e', session_id: 'sesn_orphan' });
    const untagged = await makeVm({ role: 'something-else' });
    const otherFleet = await makeVm({ role: 'cma-worker', fleet: 'another-fleet' });

    await expect
      .poll(() => fleet.fake.vms().find((vm) => vm.vm_id === orphan.vm_id)?.status, {
        timeout: 5000,
      })
      .toBe('killed');
    const rounds = new Queue(RECONCILE_QUEUE, {
      connection: { url: fleet.redis.url },
      prefix: '{e2e}',
    });
    const before = await rounds.getCompletedCount();
    await expect
      .poll(() => rounds.getCompletedCount(), { timeout: 5000 })
      .toBeGreaterThan(before + 3);
    await rounds.close();
    for (const spared of [untagged, otherFleet]) {
      expect(fleet.fake.vms().find((vm) => vm.vm_id === spared.vm_id)?.status).toBe('running');
    }
    const touched = fleet.fake.requests().filter((r) => r.method === 'DELETE');
    expect(touched.map((r) => r.path)).toEqual([`/v1/vms/${orphan.vm_id}`]);
  });

  it('over 100 rounds asks the provider only read-only questions, kills and creates', async () => {
    await start({ RECONCILE_INTERVAL_MS: '20', RECONCILE_ORPHAN_GRACE_MS: '0' });
    for (const session of ['sesn_r1', 'sesn_r2', 'sesn_r3']) {
      expect((await postRun(fleet.ingress.url, fleet.secrets.signingKey, session)).status).toBe(
        200,
      );
    }
    await expect.poll(async () => (await store.get('sesn_r3'))?.status).toBe('running');
    fleet.fake.exitVm(vmsOf(fleet.fake.vms(), 'sesn_r1')[0]?.vm_id ?? '');
    await makeVm({ role: 'cma-worker', fleet: 'e2e' });

    const rounds = new Queue(RECONCILE_QUEUE, {
      connection: { url: fleet.redis.url },
      prefix: '{e2e}',
    });
    await expect
      .poll(() => rounds.getCompletedCount(), { timeout: 20_000 })
      .toBeGreaterThanOrEqual(100);
    await rounds.close();
    const kinds = new Set(
      fleet.fake.requests().map((r) => `${r.method} ${r.path.replace(/vm_[0-9a-f]+/, ':id')}`),
    );
    const allowed =
      /^(GET .*|DELETE \/v1\/vms\/:id|POST \/v1\/vms|POST \/v1\/egress\/vm\/:id|POST \/execute(_async)?)$/;
    // Egress and execute calls come from the three spawns, never from a reconcile round.
    for (const kind of kinds) expect(kind).toMatch(allowed);
    const afterSpawns = fleet.fake.requests().filter((r) => r.at > Date.now() - 1000);
    expect(afterSpawns.every((r) => r.method === 'GET' || r.method === 'DELETE')).toBe(true);
  });

  it('recovers a run whose webhook never arrived: queued work, no worker, a VM within a round', async () => {
    await start({ LOST_WORK_MIN_QUEUED_MS: '1000' });
    const { anthropic } = fleet;
    anthropic.setWorkQueue('env_01e2etest', {
      depth: 1,
      pending: 0,
      workers_polling: 0,
      oldest_queued_at: new Date(Date.now() - 60_000).toISOString(),
    });
    anthropic.setSessions([
      { id: 'sesn_lost', status: 'running', environment_id: 'env_01e2etest' },
      { id: 'sesn_elsewhere', status: 'running', environment_id: 'env_other' },
      { id: 'sesn_idle', status: 'idle', environment_id: 'env_01e2etest' },
    ]);

    await expect.poll(() => vmsOf(fleet.fake.vms(), 'sesn_lost').length, { timeout: 3000 }).toBe(1);
    await expect.poll(async () => (await store.get('sesn_lost'))?.status).toBe('running');
    expect(vmsOf(fleet.fake.vms(), 'sesn_elsewhere')).toHaveLength(0);
    expect(vmsOf(fleet.fake.vms(), 'sesn_idle')).toHaveLength(0);
    // Later rounds see the live worker and spawn nothing more.
    const calls = anthropic.calls().length;
    await expect.poll(() => anthropic.calls().length).toBeGreaterThan(calls + 4);
    expect(vmsOf(fleet.fake.vms(), 'sesn_lost')).toHaveLength(1);
    // The organisation key went to Anthropic only, never to the provider.
    expect(JSON.stringify(fleet.fake.requests())).not.toContain(fleet.secrets.apiKey);
  });
});
