import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '@cma-fleet/shared';
import { classifyEvent } from './events.js';
import { readRawBody } from './raw-body.js';
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

/** True for the webhook's route: `POST /webhook`, any case, a trailing slash or a query. */
export function isWebhookRequest(req: IncomingMessage): boolean {
  if (req.method !== 'POST') return false;
  const path = (req.url ?? '').split('?')[0]?.toLowerCase();
  return path === '/webhook' || path === '/webhook/';
}

/**
 * `POST /webhook`: read the raw bytes (any content type), verify, then either schedule a spawn
 * for `session.status_run_started` or acknowledge and ignore. Only a job Redis holds earns a 200.
 * Served on Node's own HTTP objects, without the framework: it is the hot path, and the
 * benchmarks showed the router, body parser and JSON helpers costing more than the work itself.
 */
export function createWebhookHandler(deps: WebhookDeps) {
  const verify = deps.signingKey ? createVerifier(deps.signingKey) : undefined;
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const started = performance.now();
    const receivedAt = Date.now();
    const webhookId = req.headers['webhook-id'];
    const answer = (status: number, body: object, outcome: Outcome, fields: object = {}) => {
      sendJson(res, status, body);
      const level = status >= 500 ? 'warn' : 'info';
      const ms = round(performance.now() - started);
      deps.logger[level]({ webhook_id: webhookId, status, outcome, ms, ...fields }, 'delivery');
      deps.onDelivery?.({ outcome, status, ...fields });
    };

    const read = await readRawBody(req, MAX_BODY_BYTES).catch(() => undefined);
    if (!read) return; // the client went away mid-body: nobody to answer
    if (!read.ok) {
      return answer(413, { error: 'body larger than 1 MiB' }, 'rejected', { reason: 'size' });
    }
    if (!verify) {
      const error = 'webhook signing key not configured: set ANTHROPIC_WEBHOOK_SIGNING_KEY';
      return answer(503, { error }, 'unavailable', { reason: 'no_signing_key' });
    }
    const verified = verify(read.body, req.headers);
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
  };
}

function sendJson(res: ServerResponse, status: number, body: object): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(payload),
  });
  res.end(payload);
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
