import { z } from 'zod';
import { envInt } from './env.js';

/** Attempts per spawn job. Read by whoever adds jobs (it is a job option). */
export const spawnJobEnv = z.object({
  SPAWN_ATTEMPTS: envInt(6, 1, 50),
});
