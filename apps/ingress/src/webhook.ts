import type { Logger } from '@cma-fleet/shared';
import express, { type Request, type Response, Router } from 'express';
import { classifyEvent } from './events.js';
import { acceptRun, type Scheduler } from './schedule.js';
import { createVerifier } from './verify.js';

export interface WebhookDeps {
  /** Undefined when no key is configured: every delivery then gets 503 (fail closed). */
  signingKey: string | undefined;
  scheduler: Scheduler;
  logger: Logger;
  /** Told of every answered delivery, with the fields it was logged with (for metrics). */
  onDelivery?: (report: { outcome: Outcome; status: number } & Record<string, unknown>) => void;
}

/** The largest body we read; Anthropic's envelopes are thin, a few hundred bytes. */
export const MAX_BODY_BYTES = 1024 * 1024;

/** What happened to a delivery, as logged and counted. */
export type Outcome = 'scheduled' | 'duplicate' | 'ignored' | 'rejected' | 'unavailable';

/**
 * `POST /webhook`: read the raw bytes (any content type), verify, then either schedule a spawn
 * for `session.status_run_started` or acknowledge and ignore. Only a job Redis holds earns a 200.
 */
export function webhookRouter(deps: WebhookDeps): Router {
  const verify = deps.signingKey ? createVerifier(deps.signingKey) : undefined;
  const router = Router();
  const rawBody = express.raw({ type: () => true, limit: MAX_BODY_BYTES });

  router.post('/webhook', rawBody, async (req: Request, res: Response) => {
    const started = performance.now();
    const receivedAt = Date.now();
    const webhookId = req.get('webhook-id');
    const log = deps.logger.child({ webhook_id: webhookId });
    const answer = (status: number, body: object, outcome: Outcome, fields: object = {}) => {
      res.status(status).json(body);
      const level = status >= 500 ? 'warn' : 'info';
      log[level](
        { status, outcome, ms: round(performance.now() - started), ...fields },
        'delivery',
      );
      deps.onDelivery?.({ outcome, status, ...fields });
    };

    if (!verify) {
      const error = 'webhook signing key not configured: set ANTHROPIC_WEBHOOK_SIGNING_KEY';
      return answer(503, { error }, 'unavailable', { reason: 'no_signing_key' });
    }
    const body: Buffer = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const verified = verify(body, req.headers);
    if (!verified.ok) {
      return answer(verified.status, { error: verified.error }, 'rejected', {
        reason: verified.status === 401 ? 'signature' : 'body',
        error: verified.error,
      });
    }

    const action = classifyEvent(verified.delivery.event);
    if (action.kind === 'reject') {
      return answer(400, { error: action.error }, 'rejected', {
        reason: 'event',
        error: action.error,
      });
    }
    if (action.kind === 'ignore') {
      return answer(200, { ok: true, ignored: action.type }, 'ignored', {
        event_type: action.type,
      });
    }

    const sessionId = action.sessionId;
    const fields = { session_id: sessionId };
    const enqueueStarted = performance.now();
    try {
      const accepted = await acceptRun(
        deps.scheduler,
        verified.delivery.webhookId,
        sessionId,
        receivedAt,
      );
      const enqueue_ms = round(performance.now() - enqueueStarted);
      if (accepted.duplicate) {
        answer(200, { ok: true, duplicate: true }, 'duplicate', fields);
      } else {
        answer(200, { ok: true, scheduled: sessionId }, 'scheduled', {
          ...fields,
          job_id: accepted.jobId,
          enqueue_ms,
        });
      }
    } catch (error) {
      answer(503, { error: 'queue unavailable, retry later' }, 'unavailable', {
        session_id: sessionId,
        reason: 'queue',
        error: (error as Error).message,
      });
    }
  });
  return router;
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
