import type { Logger, SpawnerMetrics, WorkerStateStore } from '@cma-fleet/shared';
import type { Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { SpawnerConfig } from './config.js';
import { startControlWorker } from './control.js';
import { type RunningMetricsServer, startMetricsServer } from './metrics-server.js';
import type { WorkerProvider } from './providers/provider.js';
import { observeSpawnWorker } from './spawn-observer.js';

export interface OperatorParts {
  config: SpawnerConfig;
  logger: Logger;
  /** The spawn queue's worker, observed for metrics. */
  spawnWorker: Worker;
  provider: WorkerProvider;
  store: WorkerStateStore;
  connection: Redis;
  /** The BullMQ key prefix (`{cma}`). */
  prefix: string;
  metrics: SpawnerMetrics;
}

export interface OperatorSide {
  controlWorker: Worker;
  /** Resolves with the metrics URL, or undefined when SPAWNER_METRICS_PORT is unset. */
  metricsServer: Promise<RunningMetricsServer | undefined>;
  close(force?: boolean): Promise<void>;
}

/**
 * What the spawner does for operators besides spawning: the control queue (stop a worker), the
 * metrics it counts, and its `/metrics` endpoint when SPAWNER_METRICS_PORT is set.
 */
export function startOperatorSide(parts: OperatorParts): OperatorSide {
  const { config, logger, metrics } = parts;
  observeSpawnWorker(parts.spawnWorker, {
    metrics,
    redis: parts.connection,
    prefix: parts.prefix,
    logger,
  });
  const controlWorker = startControlWorker(parts.connection, parts.prefix, parts);
  const metricsServer = startMetricsServer(
    {
      port: config.SPAWNER_METRICS_PORT,
      host: config.SPAWNER_METRICS_HOST,
      token: config.ADMIN_TOKEN,
    },
    metrics,
    logger,
  ).catch((error: Error) => {
    logger.error({ err: error }, 'could not serve the spawner metrics');
    return undefined;
  });
  return {
    controlWorker,
    metricsServer,
    async close(force = false) {
      await Promise.all([
        controlWorker.close(force).catch(() => {}),
        metricsServer.then((server) => server?.close()),
      ]);
    },
  };
}
