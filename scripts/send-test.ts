/**
 * `pnpm send-test [session-id]`: posts one correctly signed `session.status_run_started`
 * delivery to a running ingress, for smoke tests by hand. Reads ANTHROPIC_WEBHOOK_SIGNING_KEY
 * (or the development key `pnpm start` made) and INGRESS_URL (default http://127.0.0.1:$PORT).
 */
import { createHmac, randomUUID } from 'node:crypto';
import { loadDotEnv, readDevEnv } from './lib/dev-env.js';

loadDotEnv();
const key = process.env.ANTHROPIC_WEBHOOK_SIGNING_KEY || readDevEnv().ANTHROPIC_WEBHOOK_SIGNING_KEY;
if (!key) {
  process.stderr.write(
    'set ANTHROPIC_WEBHOOK_SIGNING_KEY (or run pnpm start once to make a dev key)\n',
  );
  process.exit(2);
}
const base = process.env.INGRESS_URL || `http://127.0.0.1:${process.env.PORT || '8000'}`;
const sessionId = process.argv[2] || `sesn_test_${randomUUID().slice(0, 8)}`;
const webhookId = `whe_test_${randomUUID()}`;
const timestamp = Math.floor(Date.now() / 1000);
const body = JSON.stringify({
  type: 'event',
  id: webhookId,
  created_at: new Date().toISOString(),
  data: {
    type: 'session.status_run_started',
    id: sessionId,
    organization_id: '00000000-0000-0000-0000-000000000000',
    workspace_id: 'wrkspc_test',
  },
});
const signature = createHmac('sha256', Buffer.from(key.replace(/^whsec_/, ''), 'base64'))
  .update(`${webhookId}.${timestamp}.${body}`)
  .digest('base64');

const response = await fetch(`${base}/webhook`, {
  method: 'POST',
  headers: {
    'content-type': 'application/json',
    'webhook-id': webhookId,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': `v1,${signature}`,
  },
  body,
});
process.stdout.write(`POST ${base}/webhook → ${response.status} ${await response.text()}\n`);
process.exit(response.ok ? 0 : 1);
