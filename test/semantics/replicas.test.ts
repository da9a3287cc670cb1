import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { type FakeInstaVm, startFakeInstaVm } from '@cma-fleet/fake-instavm';
import { queuePrefix, WorkerStateStore } from '@cma-fleet/shared';
import { CHECKPOINTS } from '@cma-fleet/spawner';
import type { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { realLookingSecrets } from '../helpers/fleet.js';
import { type AppProcess, startIngressProcess, startSpawnerProcess } from '../helpers/processes.js';
import { startTestRedis, type TestRedis } from '../helpers/redis.js';
import { postRun, spawnQueue, vmsOf, waitUntilQuiet } from '../helpers/runs.js';
import { runStartedEvent, signedHeaders } from '../helpers/sign.js';

const secrets = realLookingSecrets();

/** Crash tests shorten the lock so a dead spawner's job is resumed within seconds. */
function fleetEnv(
  redis: TestRedis,
  fake: FakeInstaVm,
  prefix: string,
  lockMs = '30000',
): Record<string, string> {
  return {
    REDIS_URL: redis.url,
    REDIS_KEY_PREFIX: prefix,
    LOG_LEVEL: 'info',
    ANTHROPIC_WEBHOOK_SIGNING_KEY: secrets.signingKey,
    ANTHROPIC_ENVIRONMENT_ID: 'env_replicas',
    INSTAVM_API_KEY: secrets.instavmApiKey,
    INSTAVM_API_URL: fake.url,
    SPAWN_BACKOFF_MS: '50',
    SPAWNER_LOCK_MS: lockMs,
  };
}

describe('three ingress and three spawner processes on one Redis', () => {
  let redis: TestRedis;
  let fake: FakeInstaVm;
  let queue: Queue;
  const apps: AppProcess[] = [];
  let ingressUrls: string[] = [];

  beforeAll(async () => {
    redis = await startTestRedis();
    fake = await startFakeInstaVm({ apiKey: secrets.instavmApiKey });
    const env = fleetEnv(redis, fake, 'replicas');
    const ingresses = await Promise.all([1, 2, 3].map(() => startIngressProcess(env)));
    const spawners = await Promise.all([1, 2, 3].map(() => startSpawnerProcess(env)));
    apps.push(...ingresses, ...spawners);
    ingressUrls = ingresses.map((ingress) => ingress.url);
    queue = spawnQueue(redis.url, 'replicas');
  }, 60_000);
  afterAll(async () => {
    await queue?.close();
    await Promise.all(apps.map((app) => app.stop()));
    await fake?.close();
    await redis?.close();
  });

  it('turns 50 concurrent deliveries of one event into one job and one VM, all acknowledged', async () => {
    const webhookId = `whe_${randomUUID()}`;
    const body = runStartedEvent(webhookId, 'sesn_fifty');
    // Slow creates keep the job active while the copies land.
    fake.injectFault({ method: 'POST', path: '/v1/vms', delayMs: 300, times: 1 });
    const answers = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        fetch(`${ingressUrls[i % 3]}/webhook`, {
          method: 'POST',
          headers: signedHeaders(secrets.signingKey, webhookId, body),
          body,
        }),
      ),
    );
    expect(answers.every((answer) => answer.status >= 200 && answer.status < 300)).toBe(true);

    await waitUntilQuiet(queue);
    const jobs = await queue.getJobs(['completed', 'failed', 'waiting', 'active', 'delayed']);
    expect(jobs.filter((job) => job.data.sessionId === 'sesn_fifty')).toHaveLength(1);
    expect(vmsOf(fake.vms(), 'sesn_fifty')).toHaveLength(1);
  });

  it('turns 20 distinct run-started events for one session, spread over the ingresses, into one VM', async () => {
    fake.injectFault({ method: 'POST', path: '/v1/vms', delayMs: 300, times: 1 });
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        postRun(ingressUrls[i % 3] ?? '', secrets.signingKey, 'sesn_twenty'),
      ),
    );
    expect(answers.map((answer) => answer.status)).toEqual(Array(20).fill(200));
    await waitUntilQuiet(queue);
    expect(vmsOf(fake.vms(), 'sesn_twenty')).toHaveLength(1);
  });
});

describe('a spawner killed at each step of a provision', () => {
  let redis: TestRedis;
  let fake: FakeInstaVm;
  let ingress: AppProcess & { url: string };

  beforeAll(async () => {
    redis = await startTestRedis();
    fake = await startFakeInstaVm({ apiKey: secrets.instavmApiKey });
    ingress = await startIngressProcess(fleetEnv(redis, fake, 'crash', '2000'));
  }, 30_000);
  afterAll(async () => {
    await ingress?.stop();
    await fake?.close();
    await redis?.close();
  });

  it.each(CHECKPOINTS.map((checkpoint) => [checkpoint]))(
    'SIGKILL %s: another spawner finishes the job with exactly one VM',
    async (checkpoint) => {
      const env = fleetEnv(redis, fake, 'crash', '2000');
      const sessionId = `sesn_crash_${checkpoint}`;
      const doomed = await startSpawnerProcess({ ...env, CMA_TEST_CRASH_AT: checkpoint });
      const exited = once(doomed.child, 'exit');
      expect((await postRun(ingress.url, secrets.signingKey, sessionId)).status).toBe(200);
      const [, signal] = (await exited) as [number | null, string | null];
      expect(signal).toBe('SIGKILL');

      const survivor = await startSpawnerProcess(env);
      const connection = new Redis(redis.url);
      const store = new WorkerStateStore(connection, queuePrefix('crash'));
      try {
        await expect
          .poll(async () => (await store.get(sessionId))?.status, { timeout: 40_000 })
          .toBe('running');
        const vms = vmsOf(fake.vms(), sessionId);
        expect(vms).toHaveLength(1);
        expect((await store.get(sessionId))?.vmId).toBe(vms[0]?.vm_id);
      } finally {
        connection.disconnect();
        await survivor.stop();
      }
    },
    60_000,
  );

  it('leaves the queue quiet afterwards', async () => {
    const queue = spawnQueue(redis.url, 'crash');
    await waitUntilQuiet(queue);
    await queue.close();
  });
});
