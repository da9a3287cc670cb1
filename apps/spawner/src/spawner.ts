import { InstaVmClient } from '@cma-fleet/instavm';
import {
  createRedis,
  type Logger,
  queuePrefix,
  SPAWN_QUEUE,
  WorkerStateStore,
} from '@cma-fleet/shared';
import { Worker } from 'bullmq';
import { DEFAULT_KEY_PLACEHOLDER, type SpawnerConfig } from './config.js';
import { createLocalProvider } from './local-provider-config.js';
import { InstaVmProvider } from './providers/instavm-provider.js';
import type { WorkerProvider } from './providers/provider.js';
import { type ProvisionDeps, provisionWorker } from './provision.js';

export interface RunningSpawner {
  worker: Worker;
  provider: WorkerProvider;
  close(): Promise<void>;
  /**
   * Dies as a killed process would, for tests: in-flight provisions stop where they are (their
   * provider calls are aborted), nothing more is written, and the jobs' locks are left to expire.
   */
  crash(): Promise<void>;
}

export interface SpawnerOptions {
  checkpoint?: ProvisionDeps['checkpoint'];
}

/** The environment a worker VM gets: ids and the placeholder key, never a real credential. */
export function workerEnvFor(config: SpawnerConfig) {
  // In local mode the configured key is the real one; the local provider masks it itself.
  const key =
    config.SANDBOX_PROVIDER === 'local'
      ? DEFAULT_KEY_PLACEHOLDER
      : config.ANTHROPIC_ENVIRONMENT_KEY;
  return (sessionId: string): Record<string, string> => ({
    ANTHROPIC_ENVIRONMENT_ID: config.ANTHROPIC_ENVIRONMENT_ID,
    ANTHROPIC_ENVIRONMENT_KEY: key,
    ANTHROPIC_SESSION_ID: sessionId,
    ANTHROPIC_BASE_URL: config.ANTHROPIC_BASE_URL,
  });
}

export function createInstaVmProvider(config: SpawnerConfig): InstaVmProvider {
  const client = new InstaVmClient({
    baseUrl: config.INSTAVM_API_URL,
    apiKey: config.INSTAVM_API_KEY ?? '',
    timeoutMs: config.INSTAVM_TIMEOUT_MS,
  });
  return new InstaVmProvider(client, {
    fleet: config.REDIS_KEY_PREFIX,
    memoryMb: config.WORKER_MEMORY_MB,
    vcpuCount: config.WORKER_VCPU,
    lifetimeSeconds: config.WORKER_LIFETIME_SECONDS,
    egressDomains: [new URL(config.ANTHROPIC_BASE_URL).hostname, ...config.WORKER_EGRESS_DOMAINS],
    snapshotId: config.WORKER_SNAPSHOT_ID,
    vaultIds: config.INSTAVM_VAULT_IDS,
    antVersion: config.ANT_VERSION,
    command: { workdir: config.WORKER_WORKDIR, maxIdle: config.WORKER_MAX_IDLE },
  });
}

/** Starts consuming the spawn queue. Used by `main.ts` and by tests in-process. */
export function startSpawner(
  config: SpawnerConfig,
  logger: Logger,
  options: SpawnerOptions = {},
): RunningSpawner {
  // First, so a host that cannot sandbox workers stops the spawner before anything opens.
  const provider =
    config.SANDBOX_PROVIDER === 'local'
      ? createLocalProvider(config)
      : createInstaVmProvider(config);
  const connection = createRedis(config.REDIS_URL, 'worker');
  const prefix = queuePrefix(config.REDIS_KEY_PREFIX);
  const store = new WorkerStateStore(connection, prefix);
  const deps: ProvisionDeps = {
    provider,
    store,
    logger,
    workerEnv: workerEnvFor(config),
    checkpoint: options.checkpoint,
  };
  const life = new AbortController();

  const worker = new Worker(
    SPAWN_QUEUE,
    (job, _token, signal) =>
      provisionWorker(job, deps, signal ? AbortSignal.any([signal, life.signal]) : life.signal),
    {
      connection,
      prefix,
      concurrency: config.SPAWNER_CONCURRENCY,
      lockDuration: config.SPAWNER_LOCK_MS,
      stalledInterval: Math.max(250, Math.floor(config.SPAWNER_LOCK_MS / 2)),
      maxStalledCount: config.SPAWNER_MAX_STALLS,
    },
  );
  worker.on('error', (error) => logger.warn({ err: error }, 'spawn worker error'));

  return {
    worker,
    provider,
    async close() {
      await worker.close();
      connection.disconnect();
    },
    async crash() {
      life.abort(new Error('spawner crashed'));
      connection.disconnect();
      await worker.close(true).catch(() => {});
    },
  };
}
