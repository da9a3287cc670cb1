import { z } from 'zod';
import { envInt } from './env.js';

/** Retry settings of spawn jobs. Read by the ingress (they are set when a job is added). */
export const spawnJobEnv = z.object({
  SPAWN_ATTEMPTS: envInt(6, 1, 50),
  SPAWN_BACKOFF_MS: envInt(2000, 10, 600_000),
});
