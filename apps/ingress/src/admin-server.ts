import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  CONTROL_QUEUE,
  type IngressMetrics,
  type Logger,
  type WorkerStateStore,
} from '@cma-fleet/shared';
import { Queue } from 'bullmq';
import { createAdminApp } from './admin-app.js';
import type { IngressConfig } from './config.js';
import { countDelivery, ingressMetrics } from './ingress-metrics.js';
import type { Scheduler } from './schedule.js';
import type { WebhookDeps } from './webhook.js';

export interface AdminParts {
  scheduler: Scheduler;
  store: WorkerStateStore;
  /** The BullMQ key prefix (`{cma}`). */
  prefix: string;
  logger: Logger;
}

export interface RunningAdmin {
  /** Undefined when ADMIN_TOKEN is unset: then no admin port is opened at all. */
  url: string | undefined;
  metrics: IngressMetrics;
  onDelivery: NonNullable<WebhookDeps['onDelivery']>;
  close(): Promise<void>;
}

/**
 * The operator's side of the ingress, on its own port (ADMIN_HOST:ADMIN_PORT, loopback by
 * default) so the public URL serves only the webhook and the health check. Without ADMIN_TOKEN
 * the port is not opened (fail closed); metrics are still counted, for when it is.
 */
export async function startAdmin(config: IngressConfig, parts: AdminParts): Promise<RunningAdmin> {
  const controlQueue = new Queue(CONTROL_QUEUE, {
    connection: parts.scheduler.redis,
    prefix: parts.prefix,
  });
  controlQueue.on('error', (error) => parts.logger.debug({ err: error }, 'queue connection error'));
  const queues = [parts.scheduler.queue, controlQueue];
  const metrics = ingressMetrics({ ...parts, redis: parts.scheduler.redis, queues });
  const onDelivery: RunningAdmin['onDelivery'] = (report) => countDelivery(metrics, report);
  const closeQueue = () => controlQueue.close().catch(() => {});
  if (!config.ADMIN_TOKEN) {
    return { url: undefined, metrics, onDelivery, close: closeQueue };
  }

  const app = createAdminApp({
    ...parts,
    token: config.ADMIN_TOKEN,
    dashboardWrite: config.ADMIN_DASHBOARD_WRITE,
    signingKey: config.ANTHROPIC_WEBHOOK_SIGNING_KEY,
    controlQueue,
    metrics,
  });
  const server = await listen(app.listen(config.ADMIN_PORT, config.ADMIN_HOST));
  const { port } = server.address() as AddressInfo;
  const host = config.ADMIN_HOST === '0.0.0.0' ? '127.0.0.1' : config.ADMIN_HOST;
  return {
    url: `http://${host}:${port}`,
    metrics,
    onDelivery,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      await closeQueue();
    },
  };
}

async function listen(server: Server): Promise<Server> {
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  return server;
}
