import { InstaVmClient } from '@cma-fleet/instavm';
import {
  createRedis,
  createSpawnerMetrics,
  type Logger,
  queuePrefix,
  SPAWN_QUEUE,
  type SpawnerMetrics,
  WorkerStateStore,
} from '@cma-fleet/shared';
import { Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { ProviderBreaker } from './breaker.js';
import { DEFAULT_KEY_PLACEHOLDER, type SpawnerConfig } from './config.js';
import { ConsumptionWatchdog, type LivenessReport, ProcessorActivity } from './liveness.js';
import { createLocalProvider } from './local-provider-config.js';
import { anthropicLostWorkSource } from './lost-work.js';
import { type OperatorSide, startOperatorSide } from './operator-side.js';
import { InstaVmProvider } from './providers/instavm-provider.js';
import type { WorkerProvider } from './providers/provider.js';
import type { ProvisionDeps } from './provision.js';
import { startReconciler } from './reconcile-schedule.js';
import { providerCallObserver } from './spawn-observer.js';
import { backoffStrategy, createSpawnProcessor } from './spawn-processor.js';

export interface RunningSpawner {
  worker: Worker;
  provider: WorkerProvider;
  breaker: ProviderBreaker;
  /** Whether this spawner consumes the queue (see liveness.ts). */
  liveness(): Promise<LivenessReport>;
  /** Metrics, the control queue's worker and the /metrics endpoint (see operator-side.ts). */
  metrics: SpawnerMetrics;
  operator: OperatorSide;
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

export function createInstaVmProvider(
  config: SpawnerConfig,
  metrics?: SpawnerMetrics,
): InstaVmProvider {
  const client = new InstaVmClient({
    baseUrl: config.INSTAVM_API_URL,
    apiKey: config.INSTAVM_API_KEY ?? '',
    timeoutMs: config.INSTAVM_TIMEOUT_MS,
    onResponse: metrics ? providerCallObserver(metrics) : undefined,
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
  const metrics = createSpawnerMetrics();
  // First, so a host that cannot sandbox workers stops the spawner before anything opens.
  const provider =
    config.SANDBOX_PROVIDER === 'local'
      ? createLocalProvider(config)
      : createInstaVmProvider(config, metrics);
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
  // The queue handle pauses every replica (rate limits) and sets the fleet-wide cap.
  const queue = new Queue(SPAWN_QUEUE, { connection, prefix });
  queue.on('error', (error) => logger.debug({ err: error }, 'queue connection error'));
  void applyGlobalConcurrency(queue, config.PROVISION_GLOBAL_CONCURRENCY, logger);
  const breaker = new ProviderBreaker(connection, prefix, {
    threshold: config.PROVIDER_BREAKER_THRESHOLD,
    coolDownMs: config.PROVIDER_BREAKER_COOLDOWN_MS,
    probeTimeoutMs: config.INSTAVM_TIMEOUT_MS * 2,
  });
  const backoff = { baseMs: config.SPAWN_BACKOFF_MS, maxMs: config.SPAWN_BACKOFF_MAX_MS };
  const process = createSpawnProcessor({
    provision: deps,
    breaker,
    queue,
    settings: {
      backoff,
      patienceMs: config.PROVIDER_PATIENCE_MS,
      maxDeferrals: config.PROVIDER_MAX_DEFERRALS,
      breakerCoolDownMs: config.PROVIDER_BREAKER_COOLDOWN_MS,
    },
  });

  const activity = new ProcessorActivity();
  const watchdog = new ConsumptionWatchdog({
    queue,
    activity,
    concurrency: config.SPAWNER_CONCURRENCY,
    maxStartsPerSecond: config.PROVISION_MAX_STARTS_PER_SECOND,
    stallMs: config.SPAWNER_LIVENESS_STALL_MS,
  });
  const worker = new Worker(
    SPAWN_QUEUE,
    (job, token, signal) =>
      activity.track(() =>
        process(job, token, signal ? AbortSignal.any([signal, life.signal]) : life.signal),
      ),
    {
      connection,
      prefix,
      concurrency: config.SPAWNER_CONCURRENCY,
      lockDuration: config.SPAWNER_LOCK_MS,
      stalledInterval: Math.max(250, Math.floor(config.SPAWNER_LOCK_MS / 2)),
      maxStalledCount: config.SPAWNER_MAX_STALLS,
      // Needed for the queue-wide pauses to apply; the rate itself is a ceiling.
      limiter: { max: config.PROVISION_MAX_STARTS_PER_SECOND, duration: 1000 },
      settings: { backoffStrategy: backoffStrategy(backoff) },
    },
  );
  worker.on('error', (error) => logger.warn({ err: error }, 'spawn worker error'));
  // A job whose lock we lost (this process stalled) now belongs to another replica: stop
  // working on it, so two spawners do not provision one session at once.
  worker.on('lockRenewalFailed', (jobIds) => {
    for (const jobId of jobIds) worker.cancelJob(jobId, 'lost the job lock to another replica');
    logger.warn({ job_ids: jobIds }, 'lost job locks; stopped those provisions');
  });
  const reconciler = startReconcilerFor(config, {
    breaker,
    metrics,
    provider,
    store,
    queue,
    connection,
    prefix,
    logger,
  });
  const operator = startOperatorSide({
    ...{ config, logger, provider, store, connection, prefix, metrics },
    spawnWorker: worker,
  });

  return {
    worker,
    provider,
    breaker,
    liveness: () => watchdog.check(),
    metrics,
    operator,
    async close() {
      await reconciler?.close();
      await operator.close();
      await worker.close();
      await queue.close();
      connection.disconnect();
    },
    async crash() {
      life.abort(new Error('spawner crashed'));
      connection.disconnect();
      await reconciler?.close(true).catch(() => {});
      await operator.close(true);
      await worker.close(true).catch(() => {});
    },
  };
}

/** Sets (or lifts) the cap on provisions in flight across every replica. */
async function applyGlobalConcurrency(queue: Queue, cap: number, logger: Logger): Promise<void> {
  try {
    if (cap > 0) await queue.setGlobalConcurrency(cap);
    else await queue.removeGlobalConcurrency();
  } catch (error) {
    logger.error({ err: error, cap }, 'could not apply PROVISION_GLOBAL_CONCURRENCY');
  }
}

interface ReconcilerParts {
  breaker: ProviderBreaker;
  metrics: SpawnerMetrics;
  provider: WorkerProvider;
  store: WorkerStateStore;
  queue: Queue;
  connection: Redis;
  prefix: string;
  logger: Logger;
}

/** Schedules the fleet-wide reconciler, unless RECONCILE_INTERVAL_MS is 0. */
function startReconcilerFor(config: SpawnerConfig, parts: ReconcilerParts) {
  if (config.RECONCILE_INTERVAL_MS === 0) return undefined;
  const lifetimeMs = config.WORKER_LIFETIME_SECONDS * 1000;
  const maxAgeSeconds = config.RECONCILE_MAX_VM_AGE_SECONDS ?? config.WORKER_LIFETIME_SECONDS + 300;
  const lostWork = config.ANTHROPIC_API_KEY
    ? anthropicLostWorkSource({
        apiKey: config.ANTHROPIC_API_KEY,
        baseUrl: config.ANTHROPIC_API_URL ?? config.ANTHROPIC_BASE_URL,
        environmentId: config.ANTHROPIC_ENVIRONMENT_ID,
        minQueuedMs: config.LOST_WORK_MIN_QUEUED_MS,
      })
    : undefined;
  return startReconciler({
    connection: parts.connection,
    prefix: parts.prefix,
    intervalMs: config.RECONCILE_INTERVAL_MS,
    logger: parts.logger,
    deps: {
      ...parts,
      redis: parts.connection,
      keyPrefix: parts.prefix,
      lostWork,
      settings: {
        provisionDeadlineMs: config.RECONCILE_PROVISION_DEADLINE_MS,
        maxVmAgeMs: maxAgeSeconds * 1000,
        lifetimeMs,
        orphanGraceMs: config.RECONCILE_ORPHAN_GRACE_MS,
        retentionMs: config.RECONCILE_RETENTION_MS,
        spawnAttempts: config.SPAWN_ATTEMPTS,
      },
    },
    // While the breaker is open, the provider's answers say nothing about the VMs.
    skipReason: async () =>
      (await parts.breaker.state()) === 'closed' ? undefined : 'provider breaker open',
    onReport: (report) => {
      for (const [action, count] of Object.entries(report)) {
        if (count > 0) parts.metrics.reconcilerActions.inc({ action }, count);
      }
    },
  });
}
