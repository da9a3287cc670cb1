import { randomUUID } from 'node:crypto';
import { expect } from 'vitest';
import type { TestFleet } from './fleet.js';
import { postRun } from './runs.js';

/** A request to the fleet's admin port with the operator token, as an operator's tool sends it. */
export function adminFetch(fleet: TestFleet, path: string, init: RequestInit = {}) {
  const base = fleet.ingress.adminUrl;
  if (!base) throw new Error('this fleet has no admin port (ADMIN_TOKEN unset)');
  return fetch(`${base}${path}`, {
    ...init,
    headers: { ...init.headers, authorization: `Bearer ${fleet.secrets.adminToken}` },
  });
}

/** The admin API path for a session action; session ids may hold any character. */
export function sessionPath(sessionId: string, action: 'stop' | 'respawn'): string {
  return `/admin/sessions/${encodeURIComponent(sessionId)}/${action}`;
}

/**
 * Patience for conditions that cross processes and queues: generous, since CI machines are
 * shared and slow at times; a condition that holds returns at once anyway.
 */
export const POLL = { timeout: 15_000, interval: 50 };

/**
 * Delivers a run-started event as Anthropic does: the same `webhook-id` again after a 5xx (a
 * loaded machine can make the ingress answer 503 within its enqueue deadline), until a 200.
 */
export async function deliverRun(
  fleet: TestFleet,
  sessionId: string,
  webhookId = `whe_${randomUUID()}`,
): Promise<void> {
  await expect
    .poll(
      async () =>
        (await postRun(fleet.ingress.url, fleet.secrets.signingKey, sessionId, webhookId)).status,
      POLL,
    )
    .toBe(200);
}
