import { createLogger, type DestinationStream, type Logger } from '@cma-fleet/shared';
import type { SpawnerConfig } from './config.js';

/** The spawner's logger, scrubbing the secrets this process holds. */
export function createSpawnerLogger(
  config: SpawnerConfig,
  destination?: DestinationStream,
): Logger {
  return createLogger({
    name: 'spawner',
    level: config.LOG_LEVEL,
    // In local mode the spawner holds the real environment key (see createLocalProvider).
    secrets: [
      config.INSTAVM_API_KEY,
      config.ANTHROPIC_API_KEY,
      config.ADMIN_TOKEN,
      config.SANDBOX_PROVIDER === 'local' ? config.ANTHROPIC_ENVIRONMENT_KEY : undefined,
    ],
    destination,
  });
}
