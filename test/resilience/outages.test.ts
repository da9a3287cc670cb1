import { once } from 'node:events';
import { type FakeInstaVm, startFakeInstaVm } from '@cma-fleet/fake-instavm';
import { queuePrefix, WorkerStateStore } from '@cma-fleet/shared';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { realLookingSecrets } from '../helpers/fleet.js';
import { type AppProcess, startIngressProcess, startSpawnerProcess } from '../helpers/processes.js';
import { startRedisServer, type TestRedis } from '../helpers/redis.js';
import { postRun, spawnQueue, vmsOf, waitUntilQuiet } from '../helpers/runs.js';

const secrets = realLookingSecrets();
const PREFIX = 'outage';

function env(redis: TestRedis, fake: FakeInstaVm, extra: Record<string, string> = {}) {
  return {
    REDIS_URL: redis.url,
    REDIS_KEY_PREFIX: PREFIX,
    LOG_LEVEL: 'info',
    ANTHROPIC_WEBHOOK_SIGNING_KEY: secrets.signingKey,
    ANTHROPIC_ENVIRONMENT_ID: 'env_outage',
    INSTAVM_API_KEY: secrets.instavmApiKey,
    INSTAVM_API_URL: fake.url,
    SPAWN_BACKOFF_MS: '100',
    SPAWNER_LOCK_MS: '2000',
    ...extra,
  };
}

describe('outages', () => {
  let redis: TestRedis;
  let fake: FakeInstaVm;
  const apps: AppProcess[] = [];

  async function setUp() {
    redis = await startRedisServer({ persist: true });
    fake = await startFakeInstaVm({ apiKey: secrets.instavmApiKey });
  }
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((app) => app.stop()));
    await fake?.close();
    await redis?.close();
  });

  it('429 with Retry-After: 2 pauses both spawner processes for 2 s, without using an attempt', async () => {
    await setUp();
    const ingress = await startIngressProcess(env(redis, fake));
    apps.push(
      ingress,
      ...(await Promise.all([1, 2].map(() => startSpawnerProcess(env(redis, fake))))),
    );
    fake.injectFault({ method: 'POST', path: '/v1/vms', status: 429, retryAfter: '2', times: 1 });

    expect((await postRun(ingress.url, secrets.signingKey, 'sesn_429_a')).status).toBe(200);
    const connection = new Redis(redis.url);
    const store = new WorkerStateStore(connection, queuePrefix(PREFIX));
    await expect
      .poll(async () =>
        (await store.history('sesn_429_a')).some((t) => t.reason.includes('rate limited')),
      )
      .toBe(true);
    // More sessions arrive during the pause; they must wait too, whichever spawner takes them.
    for (const session of ['sesn_429_b', 'sesn_429_c']) {
      expect((await postRun(ingress.url, secrets.signingKey, session)).status).toBe(200);
    }
    const queue = spawnQueue(redis.url, PREFIX);
    await waitUntilQuiet(queue);

    const requests = fake.requests();
    const limited = requests.findIndex((r) => r.method === 'POST' && r.path === '/v1/vms');
    const next = requests[limited + 1];
    expect(next).toBeDefined();
    expect((next?.at ?? 0) - (requests[limited]?.at ?? 0)).toBeGreaterThanOrEqual(1950);
    const jobs = await queue.getJobs(['completed']);
    const first = jobs.find((job) => job.data.sessionId === 'sesn_429_a');
    // BullMQ counts the successful attempt too: 1 means the rate-limited try used none.
    expect(first?.attemptsMade).toBe(1);
    for (const session of ['sesn_429_a', 'sesn_429_b', 'sesn_429_c']) {
      expect(vmsOf(fake.vms(), session)).toHaveLength(1);
    }
    await queue.close();
    connection.disconnect();
  }, 60_000);

  it('a 30 s Redis restart: 503 during it, 200 after, and every 200 got exactly one VM', async () => {
    await setUp();
    const ingress = await startIngressProcess(env(redis, fake));
    apps.push(
      ingress,
      ...(await Promise.all([1, 2].map(() => startSpawnerProcess(env(redis, fake))))),
    );

    const answers: Array<{ session: string; status: number; at: number }> = [];
    let stopSending = false;
    const sender = (async () => {
      for (let i = 0; !stopSending && i < 400; i++) {
        const session = `sesn_restart_${i}`;
        const at = Date.now();
        const status = await postRun(ingress.url, secrets.signingKey, session).then(
          (response) => response.status,
          () => 0,
        );
        answers.push({ session, status, at });
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    })();

    await expect
      .poll(() => answers.filter((a) => a.status === 200).length, { timeout: 10_000 })
      .toBeGreaterThan(5);
    await redis.stop();
    const down = Date.now();
    await new Promise((resolve) => setTimeout(resolve, 30_000)); // the outage itself
    await redis.start();
    const up = Date.now();
    await expect
      .poll(() => answers.filter((a) => a.at > up && a.status === 200).length, { timeout: 15_000 })
      .toBeGreaterThan(5);
    stopSending = true;
    await sender;

    const during = answers.filter((a) => a.at > down + 1000 && a.at < up - 1000);
    expect(during.length).toBeGreaterThan(50);
    expect(during.every((a) => a.status === 503)).toBe(true);
    const firstOkAfter = answers.find((a) => a.at > up && a.status === 200);
    expect((firstOkAfter?.at ?? Number.POSITIVE_INFINITY) - up).toBeLessThan(5000);

    const accepted = answers.filter((a) => a.status === 200).map((a) => a.session);
    await expect
      .poll(() => accepted.filter((s) => vmsOf(fake.vms(), s).length === 0).length, {
        timeout: 30_000,
      })
      .toBe(0);
    for (const session of accepted) expect(vmsOf(fake.vms(), session)).toHaveLength(1);
  }, 120_000);

  it('SIGTERM during a provision with Redis unreachable exits within the deadline; another replica adopts the VM', async () => {
    await setUp();
    const ingress = await startIngressProcess(env(redis, fake));
    const spawner = await startSpawnerProcess(env(redis, fake, { SPAWNER_SHUTDOWN_MS: '1500' }));
    apps.push(ingress);
    // The VM is made, but the answer never comes back in time.
    fake.injectFault({
      method: 'POST',
      path: '/v1/vms',
      afterEffect: true,
      delayMs: 60_000,
      times: 1,
    });
    expect((await postRun(ingress.url, secrets.signingKey, 'sesn_sigterm')).status).toBe(200);
    await expect.poll(() => vmsOf(fake.vms(), 'sesn_sigterm').length).toBe(1);

    await redis.stop();
    const exited = once(spawner.child, 'exit');
    const sent = Date.now();
    spawner.child.kill('SIGTERM');
    const [code] = (await exited) as [number | null];
    const tookMs = Date.now() - sent;
    expect(code).toBe(0);
    expect(tookMs).toBeLessThan(1500 + 1000 + 500);

    await redis.start();
    apps.push(await startSpawnerProcess(env(redis, fake)));
    const connection = new Redis(redis.url);
    const store = new WorkerStateStore(connection, queuePrefix(PREFIX));
    await expect
      .poll(async () => (await store.get('sesn_sigterm'))?.status, { timeout: 15_000 })
      .toBe('running');
    expect(vmsOf(fake.vms(), 'sesn_sigterm')).toHaveLength(1);
    connection.disconnect();
  }, 60_000);
});
