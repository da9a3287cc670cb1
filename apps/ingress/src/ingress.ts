import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  createRedis,
  type Logger,
  queuePrefix,
  SPAWN_QUEUE,
  WorkerStateStore,
  waitForRedis,
} from '@cma-fleet/shared';
import { Queue } from 'bullmq';
import { startAdmin } from './admin-server.js';
import { createIngressHandler } from './app.js';
import type { IngressConfig } from './config.js';
import { DeliveryMarks } from './delivery-marks.js';

export interface RunningIngress {
  url: string;
  /** The operator's view (status page, /workers, /metrics, dashboard); undefined without ADMIN_TOKEN. */
  adminUrl: string | undefined;
  server: Server;
  queue: Queue;
  close(): Promise<void>;
}

/** Connects to Redis, builds the app and listens. Used by `main.ts` and by tests in-process. */
export async function startIngress(config: IngressConfig, logger: Logger): Promise<RunningIngress> {
  const redis = createRedis(config.REDIS_URL, 'request');
  // Give Redis a moment so the first deliveries are not refused needlessly; start anyway if it
  // is down (deliveries get 503 until it answers).
  await waitForRedis(redis, 5000).catch(() =>
    logger.warn('Redis not reachable at start-up; deliveries get 503 until it is'),
  );
  const prefix = queuePrefix(config.REDIS_KEY_PREFIX);
  const queue = new Queue(SPAWN_QUEUE, { connection: redis, prefix });
  queue.on('error', (error) => logger.debug({ err: error }, 'queue connection error'));
  const store = new WorkerStateStore(redis, prefix);
  const scheduler = {
    queue,
    redis,
    marks: new DeliveryMarks(redis, prefix),
    jobSettings: { attempts: config.SPAWN_ATTEMPTS },
  };
  const admin = await startAdmin(config, { scheduler, store, prefix, logger });
  const handler = createIngressHandler({
    signingKey: config.ANTHROPIC_WEBHOOK_SIGNING_KEY,
    scheduler,
    store,
    logger,
    onDelivery: admin.onDelivery,
    adminEnabled: admin.url !== undefined,
  });

  const server = createServer(handler);
  server.listen(config.PORT, config.HOST);
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const { port } = server.address() as AddressInfo;
  const host = config.HOST === '0.0.0.0' ? '127.0.0.1' : config.HOST;

  return {
    url: `http://${host}:${port}`,
    adminUrl: admin.url,
    server,
    queue,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      await admin.close();
      await queue.close().catch(() => {});
      redis.disconnect();
    },
  };
}
