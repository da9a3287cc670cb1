import { loadConfigOrExit, loadDotEnvFile, withTimeout } from '@cma-fleet/shared';
import { loadSpawnerConfig } from './config.js';
import { type RunningHealthServer, startHealthServer } from './health-server.js';
import { createSpawnerLogger } from './logger.js';
import { CHECKPOINTS, type Checkpoint } from './provision.js';
import { startSpawner } from './spawner.js';

// `pnpm start:spawner` reads the repository's .env; the environment itself wins.
loadDotEnvFile();
const config = loadConfigOrExit(() => loadSpawnerConfig());
const logger = createSpawnerLogger(config);

const spawner = startSpawner(config, logger, { checkpoint: crashHookFromEnv() });
let health: RunningHealthServer | undefined;
let closing = false;
// Before anything is announced: a SIGTERM from here on drains instead of killing outright.
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
if (config.SPAWNER_HEALTH_PORT !== undefined) {
  health = await startHealthServer(config.SPAWNER_HEALTH_PORT, config.SPAWNER_HEALTH_HOST, () =>
    spawner.liveness(),
  );
}
logger.info(
  {
    provider: spawner.provider.name,
    ...(config.SANDBOX_PROVIDER === 'local'
      ? {
          local: {
            runtime_dir: config.LOCAL_RUNTIME_DIR,
            max_workers: config.LOCAL_MAX_WORKERS,
            max_processes: config.LOCAL_MAX_PROCESSES,
          },
        }
      : { instavm_api_url: config.INSTAVM_API_URL }),
    concurrency: config.SPAWNER_CONCURRENCY,
    worker: {
      memory_mb: config.WORKER_MEMORY_MB,
      vcpu: config.WORKER_VCPU,
      lifetime_seconds: config.WORKER_LIFETIME_SECONDS,
      max_idle: config.WORKER_MAX_IDLE,
      snapshot: config.WORKER_SNAPSHOT_ID ?? null,
      egress_domains: config.WORKER_EGRESS_DOMAINS,
    },
  },
  'spawner consuming',
);
void spawner.operator.metricsServer.then(
  (server) => server && logger.info({ url: server.url }, 'spawner metrics listening'),
);
if (health) logger.info({ url: health.url }, 'liveness check listening');

/**
 * SIGTERM: stop taking jobs and give in-flight provisions SPAWNER_SHUTDOWN_MS to finish. Past
 * that (or when Redis is unreachable, where BullMQ's close never returns) close by force: the
 * cut-off jobs' locks expire and another replica resumes them, adopting their VMs.
 */
async function shutdown(signal: string) {
  if (closing) return;
  closing = true;
  const deadlineMs = config.SPAWNER_SHUTDOWN_MS;
  logger.info({ signal, deadline_ms: deadlineMs }, 'spawner shutting down');
  // The last resort, should even the forced close hang.
  setTimeout(() => process.exit(1), deadlineMs + 2000).unref();
  void health?.close();
  try {
    await withTimeout(spawner.close(), deadlineMs, 'draining in-flight provisions');
    logger.info('spawner stopped');
  } catch {
    logger.warn('shutdown deadline passed: in-flight provisions are left to another replica');
    await withTimeout(spawner.crash(), 1000, 'forced close').catch(() => {});
  }
  process.exit(0);
}

/**
 * A test hook: CMA_TEST_CRASH_AT=<checkpoint> makes this process kill itself (SIGKILL, no
 * clean-up) when a provision reaches that point, to prove another replica finishes the job.
 */
function crashHookFromEnv(): ((step: Checkpoint) => void) | undefined {
  const at = process.env.CMA_TEST_CRASH_AT;
  if (!at) return undefined;
  if (!(CHECKPOINTS as readonly string[]).includes(at)) {
    throw new Error(`CMA_TEST_CRASH_AT must be one of ${CHECKPOINTS.join(', ')}`);
  }
  logger.warn({ crash_at: at }, 'test hook armed: this spawner will kill itself');
  return (step) => {
    if (step === at) process.kill(process.pid, 'SIGKILL');
  };
}
