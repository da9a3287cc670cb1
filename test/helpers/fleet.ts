import { randomBytes } from 'node:crypto';
import { type FakeAnthropic, startFakeAnthropic } from '@cma-fleet/fake-anthropic';
import { type FakeInstaVm, startFakeInstaVm } from '@cma-fleet/fake-instavm';
import {
  createIngressLogger,
  loadIngressConfig,
  type RunningIngress,
  startIngress,
} from '@cma-fleet/ingress';
import {
  createSpawnerLogger,
  loadSpawnerConfig,
  type RunningSpawner,
  startSpawner,
} from '@cma-fleet/spawner';
import { captureLines } from './capture.js';
import { startTestRedis, type TestRedis } from './redis.js';
import { newSigningKey } from './sign.js';

/** Credentials shaped like real ones, so a leak of any of them is recognisable. */
export function realLookingSecrets() {
  return {
    signingKey: newSigningKey(),
    instavmApiKey: `instavm_sk_${randomBytes(24).toString('hex')}`,
    environmentKey: `sk-ant-oat01-${randomBytes(32).toString('base64url')}`,
    apiKey: `sk-ant-api03-${randomBytes(32).toString('base64url')}`,
    adminToken: randomBytes(24).toString('hex'),
  };
}

export interface TestFleet {
  redis: TestRedis;
  fake: FakeInstaVm;
  /** The fake Anthropic API the reconciler asks about waiting work. */
  anthropic: FakeAnthropic;
  ingress: RunningIngress;
  /** The first spawner. */
  spawner: RunningSpawner;
  /** Every spawner started, crashed ones included. */
  spawners: RunningSpawner[];
  /** Starts one more spawner replica in this process. */
  addSpawner(): RunningSpawner;
  secrets: ReturnType<typeof realLookingSecrets>;
  logs: string[];
  env: Record<string, string>;
  close(): Promise<void>;
}

/**
 * A whole fleet in this process: a real Redis, the fake InstaVM over HTTP, the real ingress and
 * the real spawner, configured through the same environment parsing as `main.ts`.
 */
export async function startTestFleet(extraEnv: Record<string, string> = {}): Promise<TestFleet> {
  const secrets = realLookingSecrets();
  const redis = await startTestRedis();
  const fake = await startFakeInstaVm({ apiKey: secrets.instavmApiKey });
  const anthropic = await startFakeAnthropic({ apiKey: secrets.apiKey });
  const env: Record<string, string> = {
    REDIS_URL: redis.url,
    REDIS_KEY_PREFIX: 'e2e',
    LOG_LEVEL: 'debug',
    PORT: '0',
    HOST: '127.0.0.1',
    ANTHROPIC_WEBHOOK_SIGNING_KEY: secrets.signingKey,
    ANTHROPIC_ENVIRONMENT_ID: 'env_01e2etest',
    INSTAVM_API_KEY: secrets.instavmApiKey,
    INSTAVM_API_URL: fake.url,
    WORKER_EGRESS_DOMAINS: 'pypi.org,files.pythonhosted.org',
    WORKER_LIFETIME_SECONDS: '7200',
    SPAWN_BACKOFF_MS: '50',
    ADMIN_TOKEN: secrets.adminToken,
    ADMIN_PORT: '0',
    ADMIN_HOST: '127.0.0.1',
    // The control plane holds the organisation key (lost-work recovery asks the fake Anthropic
    // API with it); it must never reach a worker.
    ANTHROPIC_API_KEY: secrets.apiKey,
    ANTHROPIC_API_URL: anthropic.url,
    ...extraEnv,
  };
  const logs = captureLines();
  const ingressConfig = loadIngressConfig(env);
  const spawnerConfig = loadSpawnerConfig(env);
  const ingress = await startIngress(ingressConfig, createIngressLogger(ingressConfig, logs));
  const spawners: RunningSpawner[] = [];
  const addSpawner = () => {
    const spawner = startSpawner(spawnerConfig, createSpawnerLogger(spawnerConfig, logs));
    spawners.push(spawner);
    return spawner;
  };
  const spawner = addSpawner();
  return {
    redis,
    fake,
    anthropic,
    ingress,
    spawner,
    spawners,
    addSpawner,
    secrets,
    logs: logs.lines,
    env,
    async close() {
      await Promise.all(spawners.map((s) => s.close().catch(() => {})));
      await ingress.close();
      await fake.close();
      await anthropic.close();
      await redis.close();
    },
  };
}
