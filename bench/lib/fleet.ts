import { randomBytes } from 'node:crypto';
import { queuePrefix, SPAWN_QUEUE, WorkerStateStore } from '@cma-fleet/shared';
import { Queue } from 'bullmq';
import getPort from 'get-port';
import { Redis } from 'ioredis';
import { newSigningKey } from '../../test/helpers/sign.js';
import { type BenchProcess, startApp, waitForLog } from './processes.js';
import { type BenchRedis, startBenchRedis } from './redis.js';

const KEY_PREFIX = 'bench';

export interface FleetSettings {
  name: string;
  /** Milliseconds the fake InstaVM waits in each VM create. */
  createDelayMs: number;
  spawners: number;
  /** SPAWNER_CONCURRENCY of each spawner. */
  concurrency: number;
  /** Whether to run an ingress too (the scale-out scenario fills the queue directly). */
  ingress: boolean;
  /** Extra Node flags for the spawners, e.g. --cpu-prof. */
  spawnerNodeFlags?: string[];
}

export interface BenchFleet {
  redis: BenchRedis;
  fake: BenchProcess;
  fakeUrl: string;
  ingress?: BenchProcess;
  webhookUrl: string;
  spawners: BenchProcess[];
  signingKey: string;
  /** The bench's own view of the queue and the worker states (its own connection). */
  queue: Queue;
  store: WorkerStateStore;
  connection: Redis;
  close(): Promise<void>;
}

/**
 * A whole fleet as real processes on this machine, unpinned: Redis, the fake InstaVM over HTTP,
 * optionally the ingress, and `spawners` spawner processes, all ready when this resolves.
 */
export async function startFleet(settings: FleetSettings): Promise<BenchFleet> {
  const redis = await startBenchRedis(settings.name);
  const apiKey = `instavm_sk_${randomBytes(24).toString('hex')}`;
  const signingKey = newSigningKey();
  const [fakePort, ingressPort] = [await getPort(), await getPort()];
  const fake = startApp('fakeInstaVm', {
    logName: `${settings.name}-fake`,
    env: {
      FAKE_INSTAVM_PORT: String(fakePort),
      FAKE_INSTAVM_API_KEY: apiKey,
      FAKE_INSTAVM_CREATE_DELAY_MS: String(settings.createDelayMs),
    },
  });
  const common = { REDIS_URL: redis.url, REDIS_KEY_PREFIX: KEY_PREFIX, LOG_LEVEL: 'info' };
  const ingress = settings.ingress
    ? startApp('ingress', {
        logName: `${settings.name}-ingress`,
        env: {
          ...common,
          PORT: String(ingressPort),
          HOST: '127.0.0.1',
          ANTHROPIC_WEBHOOK_SIGNING_KEY: signingKey,
        },
      })
    : undefined;
  const spawners = Array.from({ length: settings.spawners }, (_, i) =>
    startApp('spawner', {
      logName: `${settings.name}-spawner-${i + 1}`,
      nodeFlags: settings.spawnerNodeFlags,
      env: {
        ...common,
        ANTHROPIC_ENVIRONMENT_ID: 'env_01bench',
        INSTAVM_API_KEY: apiKey,
        INSTAVM_API_URL: `http://127.0.0.1:${fakePort}`,
        SPAWNER_CONCURRENCY: String(settings.concurrency),
      },
    }),
  );
  await waitForLog(fake, /fake InstaVM listening/);
  if (ingress) await waitForLog(ingress, /ingress listening/);
  for (const spawner of spawners) await waitForLog(spawner, /spawner consuming/);

  const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
  const prefix = queuePrefix(KEY_PREFIX);
  const queue = new Queue(SPAWN_QUEUE, { connection, prefix });
  return {
    redis,
    fake,
    fakeUrl: `http://127.0.0.1:${fakePort}`,
    ingress,
    webhookUrl: `http://127.0.0.1:${ingressPort}/webhook`,
    spawners,
    signingKey,
    queue,
    store: new WorkerStateStore(connection, prefix),
    connection,
    async close() {
      await Promise.all([...spawners.map((s) => s.stop()), ingress?.stop(), fake.stop()]);
      await queue.close();
      connection.disconnect();
      await redis.stop();
    },
  };
}

/** When the fake received each VM create, by the session id in the VM's metadata. */
export async function createCallTimes(fakeUrl: string): Promise<Map<string, number>> {
  const response = await fetch(`${fakeUrl}/_fake/requests`);
  const { requests } = (await response.json()) as {
    requests: Array<{ method: string; path: string; body: unknown; at: number }>;
  };
  const times = new Map<string, number>();
  for (const request of requests) {
    if (request.method !== 'POST' || request.path !== '/v1/vms') continue;
    const body = request.body as { metadata?: { session_id?: string } } | undefined;
    const sessionId = body?.metadata?.session_id;
    if (sessionId !== undefined && !times.has(sessionId)) times.set(sessionId, request.at);
  }
  return times;
}

/** Forgets the fake's VMs and request log, so one measurement does not see the last one's. */
export async function resetFake(fakeUrl: string): Promise<void> {
  await fetch(`${fakeUrl}/_fake/reset`, { method: 'POST' });
}
