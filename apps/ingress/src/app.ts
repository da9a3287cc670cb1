import type { IncomingMessage, ServerResponse } from 'node:http';
import { type Logger, type WorkerStateStore, withTimeout } from '@cma-fleet/shared';
import express, { type ErrorRequestHandler, type Response } from 'express';
import { adminDisabled } from './admin-auth.js';
import type { Scheduler } from './schedule.js';
import { createWebhookHandler, isWebhookRequest, type WebhookDeps } from './webhook.js';

export interface IngressDeps {
  signingKey: string | undefined;
  scheduler: Scheduler;
  store: WorkerStateStore;
  logger: Logger;
  onDelivery?: WebhookDeps['onDelivery'];
  /** False: `GET /` says how to turn the operator's view on (it is never served here). */
  adminEnabled?: boolean;
}

/**
 * The public ingress: the webhook and a bare health check, nothing else. The operator's view is a
 * separate app on the admin port (see `createAdminApp`). The webhook is answered on Node's own
 * request objects (the hot path); everything else goes through Express.
 */
export function createIngressHandler(deps: IngressDeps) {
  const webhook = createWebhookHandler(deps);
  const app = createIngressApp(deps);
  return (req: IncomingMessage, res: ServerResponse): void => {
    if (isWebhookRequest(req)) void webhook(req, res);
    else app(req, res);
  };
}

function createIngressApp(deps: IngressDeps) {
  const app = express();
  app.disable('x-powered-by');
  // Routing is case-insensitive and trailing slashes match: never a redirect (a 3xx disables
  // the webhook at Anthropic).

  app.get('/health', async (_req, res) => {
    try {
      await withTimeout(deps.scheduler.redis.ping(), 1000, 'Redis PING');
      res.json({ ok: true });
    } catch {
      res.status(503).json({ ok: false, error: 'Redis unreachable' });
    }
  });

  if (!deps.adminEnabled) app.get('/', adminDisabled);

  app.use((_req, res) => {
    res.status(404).json({ error: 'not found' });
  });
  app.use(errorHandler(deps.logger));
  return app;
}

/** Runs a Redis read; when Redis cannot answer within a second, answers 503 and returns undefined. */
export async function readOr503<T>(res: Response, read: () => Promise<T>): Promise<T | undefined> {
  try {
    return await withTimeout(read(), 1000, 'Redis read');
  } catch {
    res.status(503).json({ error: 'Redis unreachable' });
    return undefined;
  }
}

/** Body-parser errors keep their 4xx status; anything else is our fault, logged, answered 500. */
export function errorHandler(logger: Logger): ErrorRequestHandler {
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
