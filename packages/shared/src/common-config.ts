import { z } from 'zod';
import { optionalString } from './env.js';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** Variables every process reads: where Redis is, how its keys are named, how much to log. */
export const commonEnv = z.object({
  REDIS_URL: optionalString.pipe(
    z
      .string({ error: 'set REDIS_URL to the Redis the fleet shares, e.g. redis://127.0.0.1:6379' })
      .regex(/^rediss?:\/\/.+/, {
        error: 'must start with redis:// or rediss:// (TLS), e.g. redis://127.0.0.1:6379',
      }),
  ),
  REDIS_KEY_PREFIX: optionalString.pipe(
    z
      .string()
      .regex(/^[A-Za-z0-9_.-]{1,32}$/, {
        error: 'use 1-32 letters, digits, "_", "." or "-"; braces are added for you',
      })
      .default('cma'),
  ),
  LOG_LEVEL: optionalString.pipe(z.enum(LOG_LEVELS).default('info')),
});

export type CommonConfig = z.infer<typeof commonEnv>;
