import { type Logger, type WorkerStateStore, withTimeout } from '@cma-fleet/shared';
import express, { type ErrorRequestHandler, type Express, type Response } from 'express';
import type { Scheduler } from './schedule.js';
import { renderStatusPage } from './status-page.js';
import { webhookRouter } from './webhook.js';
import { listWorkerViews } from './workers-view.js';

export interface IngressDeps {
  signingKey: string | undefined;
  scheduler: Scheduler;
  store: WorkerStateStore;
  logger: Logger;
}

/** The ingress HTTP app: the webhook, a health check, the workers list and a status page. */
export function createIngressApp(deps: IngressDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  // Routing is case-insensitive and trailing slashes match: never a redirect (a 3xx disables
  // the webhook at Anthropic).
  app.use(webhookRouter(deps));

  app.get('/health', async (_req, res) => {
    try {
      await withTimeout(deps.scheduler.redis.ping(), 1000, 'Redis PING');
      res.json({ ok: true });
    } catch {
      res.status(503).json({ ok: false, error: 'Redis unreachable' });
    }
  });

  app.get('/workers', async (_req, res) => {
    const workers = await readOr503(res, () => listWorkerViews(deps.store));
    if (workers) res.json({ workers });
  });

  app.get('/', async (_req, res) => {
    const data = await readOr503(res, () =>
      Promise.all([
        listWorkerViews(deps.store),
        deps.scheduler.queue.getJobCounts('waiting', 'active', 'delayed', 'completed', 'failed'),
      ]),
    );
    if (!data) return;
    const [workers, queue] = data;
    const signingKeyConfigured = deps.signingKey !== undefined;
    res.type('html').send(renderStatusPage({ workers, queue, signingKeyConfigured }));
  });

  app.use((_req, res) => {
    res.status(404).json({ error: 'not found' });
  });
  app.use(errorHandler(deps.logger));
  return app;
}

/** Runs a Redis read; when Redis cannot answer within a second, answers 503 and returns undefined. */
async function readOr503<T>(res: Response, read: () => Promise<T>): Promise<T | undefined> {
  try {
    return await withTimeout(read(), 1000, 'Redis read');
  } catch {
    res.status(503).json({ error: 'Redis unreachable' });
    return undefined;
  }
}

/** Body-parser errors keep their 4xx status; anything else is our fault, logged, answered 500. */
function errorHandler(logger: Logger): ErrorRequestHandler {
  return (error, _req, res, _next) => {
    const status = typeof error?.status === 'number' && error.status >= 400 ? error.status : 500;
    if (status >= 500) logger.error({ err: error }, 'request failed');
    const message =
      status === 413
        ? 'body larger than 1 MiB'
        : status < 500
          ? String(error.message)
          : 'internal error';
    res.status(status).json({ error: message });
  };
}
