import {
  CONTROL_JOB_NAME,
  type ControlJob,
  controlJobOptions,
  type IngressMetrics,
  type Logger,
  SPAWN_JOB_NAME,
  type SpawnJob,
  spawnJobOptions,
  withTimeout,
} from '@cma-fleet/shared';
import type { Queue } from 'bullmq';
import { type Request, type Response, Router } from 'express';
import type { Scheduler } from './schedule.js';

export interface ControlDeps {
  scheduler: Scheduler;
  /** The control queue; its jobs run in a spawner, which holds the provider's key. */
  controlQueue: Queue;
  metrics: IngressMetrics;
  logger: Logger;
}

/**
 * Manual controls. Session ids may hold any character: clients URL-encode them
 * (`encodeURIComponent`) and Express decodes the path parameter.
 * - `POST /admin/sessions/:id/stop`: a spawner kills the session's VM and records `exited`.
 * - `POST /admin/sessions/:id/respawn`: a normal spawn job, reason `manual`, with the session's
 *   deduplication; a worker still alive covers it (stop first to replace a live worker).
 * Both answer 202 with the job's id once Redis holds the job.
 */
export function controlsRouter(deps: ControlDeps): Router {
  const router = Router();
  router.post('/admin/sessions/:id/stop', async (req, res) => {
    const data: ControlJob = { action: 'stop', sessionId: sessionOf(req), requestedAt: Date.now() };
    await enqueue(res, deps, 'stop', data.sessionId, () =>
      deps.controlQueue.add(CONTROL_JOB_NAME, data, controlJobOptions()),
    );
  });
  router.post('/admin/sessions/:id/respawn', async (req, res) => {
    const sessionId = sessionOf(req);
    const data: SpawnJob = { sessionId, receivedAt: Date.now(), reason: 'manual' };
    const { queue, jobSettings } = deps.scheduler;
    await enqueue(res, deps, 'respawn', sessionId, () =>
      queue.add(SPAWN_JOB_NAME, data, spawnJobOptions(sessionId, jobSettings)),
    );
  });
  return router;
}

function sessionOf(req: Request): string {
  return String(req.params.id);
}

/** The longest session id the queue contract accepts (see spawnJobSchema). */
const MAX_SESSION_ID = 4096;

async function enqueue(
  res: Response,
  deps: ControlDeps,
  action: 'stop' | 'respawn',
  sessionId: string,
  add: () => Promise<{ id?: string }>,
): Promise<void> {
  if (sessionId.length > MAX_SESSION_ID) {
    res.status(400).json({ error: `session id longer than ${MAX_SESSION_ID} characters` });
    return;
  }
  try {
    const job = await withTimeout(add(), 2000, `queueing ${action}`);
    deps.metrics.operatorActions.inc({ action });
    deps.logger.info({ action, session_id: sessionId, job_id: job.id }, 'operator action queued');
    res.status(202).json({ ok: true, action, session_id: sessionId, job_id: job.id ?? null });
  } catch (error) {
    deps.logger.warn({ err: error, action, session_id: sessionId }, 'operator action not queued');
    res.status(503).json({ error: 'queue unavailable, retry later' });
  }
}
