import { createLogger, type DestinationStream, type Logger } from '@cma-fleet/shared';
import type { IngressConfig } from './config.js';

/** The ingress's logger, scrubbing the secrets this process holds. */
export function createIngressLogger(
  config: IngressConfig,
  destination?: DestinationStream,
): Logger {
  return createLogger({
    name: 'ingress',
    level: config.LOG_LEVEL,
    secrets: [config.ANTHROPIC_WEBHOOK_SIGNING_KEY, config.ADMIN_TOKEN],
    destination,
  });
}
