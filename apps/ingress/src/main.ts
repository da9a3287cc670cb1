import { loadConfigOrExit, loadDotEnvFile } from '@cma-fleet/shared';
import { loadIngressConfig } from './config.js';
import { startIngress } from './ingress.js';
import { createIngressLogger } from './logger.js';

// `pnpm start:ingress` reads the repository's .env; the environment itself wins.
loadDotEnvFile();
const config = loadConfigOrExit(() => loadIngressConfig());
const logger = createIngressLogger(config);

const ingress = await startIngress(config, logger);
logger.info(
  {
    url: ingress.url,
    admin_url: ingress.adminUrl ?? 'off (set ADMIN_TOKEN)',
    redis_key_prefix: config.REDIS_KEY_PREFIX,
    signing_key: config.ANTHROPIC_WEBHOOK_SIGNING_KEY
      ? 'configured'
      : 'missing (webhook answers 503)',
    spawn_attempts: config.SPAWN_ATTEMPTS,
  },
  'ingress listening',
);

let closing = false;
async function shutdown(signal: string) {
  if (closing) return;
  closing = true;
  logger.info({ signal }, 'ingress shutting down');
  const deadline = setTimeout(() => process.exit(1), 10_000);
  deadline.unref();
  await ingress.close();
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
