/**
 * `pnpm send-test [session-id]`: posts one correctly signed `session.status_run_started`
 * delivery to a running ingress, for smoke tests by hand. Reads ANTHROPIC_WEBHOOK_SIGNING_KEY
 * (or the development key `pnpm start` made) and INGRESS_URL (default http://127.0.0.1:$PORT).
 * `pnpm fleet send-test` does the same.
 */
import { loadDotEnv } from './lib/dev-env.js';
import { sendTestDelivery, sendTestSettings } from './lib/send-test.js';

loadDotEnv();
try {
  const sent = await sendTestDelivery(sendTestSettings(process.env), process.argv[2] || undefined);
  process.stdout.write(`POST ${sent.url} → ${sent.status} ${sent.body}\n`);
  process.exit(sent.status >= 200 && sent.status < 300 ? 0 : 1);
} catch (error) {
  process.stderr.write(`${(error as Error).message}\n`);
  process.exit(2);
}
