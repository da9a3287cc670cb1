import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import { createScrubber } from '@cma-fleet/shared';
import type { Queue } from 'bullmq';
import type { Router } from 'express';

/** Where the dashboard lives on the admin port. Bull Board must be told, or it renders blank. */
export const DASHBOARD_PATH = '/admin/queues';

export interface DashboardSettings {
  /** Retry, clean, promote and remove; off unless ADMIN_DASHBOARD_WRITE=true. */
  write: boolean;
  /** Secret values this process holds, scrubbed from anything the dashboard shows. */
  secrets: Array<string | undefined>;
}

/** Bull Board for the fleet's queues, read-only unless the operator allowed writes. */
export function dashboardRouter(queues: Queue[], settings: DashboardSettings): Router {
  const serverAdapter = new ExpressAdapter();
  serverAdapter.setBasePath(DASHBOARD_PATH);
  const scrub = createScrubber(settings.secrets);
  createBullBoard({
    queues: queues.map((queue) => {
      const adapter = new BullMQAdapter(queue, {
        readOnlyMode: !settings.write,
        allowRetries: settings.write,
        description: QUEUE_DESCRIPTIONS[queue.name] ?? '',
      });
      // Job data holds identifiers only; format it anyway, so a secret that ever slipped into a
      // payload or an error would still not be shown.
      for (const field of ['data', 'returnValue'] as const) {
        adapter.setFormatter(field, (value: unknown) => scrubbed(value, scrub));
      }
      return adapter;
    }),
    serverAdapter,
    options: { uiConfig: { boardTitle: 'CMA fleet' } },
  });
  // Failure reasons and stack traces cannot be formatted: the admin app scrubs every answer.
  return serverAdapter.getRouter() as Router;
}

const QUEUE_DESCRIPTIONS: Record<string, string> = {
  'cma-spawn': 'one job per session run that needs a worker',
  'cma-control': 'operator actions carried out by the spawners (stop)',
};

/** A JSON-safe copy of `value` with every secret-shaped string redacted. */
function scrubbed(value: unknown, scrub: (text: string) => string): unknown {
  if (value === undefined) return value;
  return JSON.parse(scrub(JSON.stringify(value)));
}
