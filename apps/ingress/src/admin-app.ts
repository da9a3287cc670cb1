import {
  createScrubber,
  type IngressMetrics,
  type Logger,
  readBreakerState,
  readSpawnLatencies,
  summariseLatencies,
  type WorkerStateStore,
} from '@cma-fleet/shared';
import type { Queue } from 'bullmq';
import express, { type Express, type RequestHandler } from 'express';
import { adminDisabled, requireAdminToken } from './admin-auth.js';
import { controlsRouter } from './admin-controls.js';
import { errorHandler, readOr503 } from './app.js';
import { DASHBOARD_PATH, dashboardRouter } from './dashboard.js';
import { queueCounts } from './ingress-metrics.js';
import type { Scheduler } from './schedule.js';
import { renderStatusPage } from './status-page.js';
import { listWorkerViews } from './workers-view.js';

export interface AdminDeps {
  /** Undefined: nothing is served (403 everywhere, with how to turn it on). */
  token: string | undefined;
  dashboardWrite: boolean;
  signingKey: string | undefined;
  scheduler: Scheduler;
  controlQueue: Queue;
  store: WorkerStateStore;
  /** The BullMQ key prefix (`{cma}`), under which the breaker and latency samples live. */
  prefix: string;
  metrics: IngressMetrics;
  logger: Logger;
}

/**
 * The operator's view, served on the admin port: status page, `/workers`, `/metrics`, the queue
 * dashboard and the manual controls, every one behind ADMIN_TOKEN.
 */
export function createAdminApp(deps: AdminDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  if (!deps.token) {
    app.use(adminDisabled);
    return app;
  }
  app.use(requireAdminToken(deps.token));
  const secrets = [deps.signingKey, deps.token];
  app.use(scrubbedAnswers(createScrubber(secrets)));
  const queues = [deps.scheduler.queue, deps.controlQueue];

  app.get('/', async (_req, res) => {
    const data = await readOr503(res, () => statusData(deps, queues));
    if (data) res.type('html').send(renderStatusPage(data));
  });
  app.get('/workers', async (_req, res) => {
    const workers = await readOr503(res, () => listWorkerViews(deps.store));
    if (workers) res.json({ workers });
  });
  app.get('/metrics', async (_req, res) => {
    const text = await readOr503(res, () => deps.metrics.registry.metrics());
    if (text !== undefined) res.type(deps.metrics.registry.contentType).send(text);
  });
  app.use(DASHBOARD_PATH, dashboardRouter(queues, { write: deps.dashboardWrite, secrets }));
  app.use(controlsRouter({ ...deps, controlQueue: deps.controlQueue }));

  app.use((_req, res) => {
    res.status(404).json({ error: 'not found' });
  });
  app.use(errorHandler(deps.logger));
  return app;
}

/**
 * Replaces anything secret-shaped in every text answer. Worker errors and failure reasons quote
 * provider answers, which this process does not control.
 */
function scrubbedAnswers(scrub: (text: string) => string): RequestHandler {
  return (_req, res, next) => {
    const send = res.send.bind(res);
    res.send = (body?: unknown) => send(typeof body === 'string' ? scrub(body) : body);
    next();
  };
}

async function statusData(deps: AdminDeps, queues: Queue[]) {
  const redis = deps.scheduler.redis;
  const [workers, counts, breaker, samples] = await Promise.all([
    listWorkerViews(deps.store),
    queueCounts(queues),
    readBreakerState(redis, deps.prefix),
    readSpawnLatencies(redis, deps.prefix),
  ]);
  return {
    workers,
    queues: counts,
    breaker,
    latency: summariseLatencies(samples),
    signingKeyConfigured: deps.signingKey !== undefined,
    dashboardPath: DASHBOARD_PATH.slice(1),
  };
}
