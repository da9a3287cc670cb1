import { createHash, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { envBoolean, envInt, optionalString } from './env.js';

/** The shortest operator token accepted: anything shorter can be guessed. */
export const ADMIN_TOKEN_MIN_LENGTH = 24;

/**
 * The operator token: unset means the operator's view is not served at all (fail closed).
 * Read by the ingress (dashboard, status page, /workers, /metrics, manual controls) and by the
 * spawner (its /metrics).
 */
export const adminTokenEnv = z.object({
  ADMIN_TOKEN: optionalString.pipe(
    z
      .string()
      .min(ADMIN_TOKEN_MIN_LENGTH, {
        error:
          `must be at least ${ADMIN_TOKEN_MIN_LENGTH} characters (e.g. the output of ` +
          '`openssl rand -hex 32`), or unset to turn the operator view off',
      })
      .regex(/^\S+$/, { error: 'must not contain spaces' })
      .optional(),
  ),
});

/** Where the ingress serves the operator's view: a port of its own, loopback by default. */
export const adminEnv = adminTokenEnv.extend({
  ADMIN_PORT: envInt(8001, 0, 65_535),
  ADMIN_HOST: optionalString.pipe(z.string().default('127.0.0.1')),
  /** Retry, clean and other write actions in the dashboard; read-only unless set. */
  ADMIN_DASHBOARD_WRITE: envBoolean(false),
});

/** The spawner's metrics endpoint: off unless a port is set (0 = any free port). */
export const spawnerMetricsEnv = adminTokenEnv.extend({
  SPAWNER_METRICS_PORT: optionalString.transform((value, ctx) => {
    if (value === undefined) return undefined;
    const port = Number(value);
    if (Number.isInteger(port) && port >= 0 && port <= 65_535) return port;
    ctx.addIssue({
      code: 'custom',
      message: `must be a port number from 0 to 65535, or unset to turn it off; got "${value}"`,
    });
    return z.NEVER;
  }),
  SPAWNER_METRICS_HOST: optionalString.pipe(z.string().default('127.0.0.1')),
});

/** What only the operator's CLI (`pnpm fleet`) reads: where the admin API and the webhook are. */
export const operatorCliEnv = z.object({
  ADMIN_URL: optionalString.pipe(
    z.url({ error: "must be the admin port's URL, e.g. http://127.0.0.1:8001" }).optional(),
  ),
  INGRESS_URL: optionalString.pipe(
    z.url({ error: 'must be the ingress URL, e.g. http://127.0.0.1:8000' }).optional(),
  ),
});

/**
 * True when an `Authorization` header carries `token`: as a bearer token, or as the password of
 * HTTP basic auth (any user name), which is what a browser can send. The comparison takes the
 * same time whatever the presented value, so the token cannot be guessed byte by byte.
 */
export function carriesAdminToken(header: string | undefined, token: string): boolean {
  const presented = presentedToken(header);
  if (presented === undefined) return false;
  return sameSecret(presented, token);
}

function presentedToken(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const space = header.indexOf(' ');
  if (space < 0) return undefined;
  const scheme = header.slice(0, space).toLowerCase();
  const value = header.slice(space + 1).trim();
  if (scheme === 'bearer') return value;
  if (scheme !== 'basic') return undefined;
  const decoded = Buffer.from(value, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? undefined : decoded.slice(colon + 1);
}

/** Hashing first gives equal-length inputs, as timingSafeEqual needs, whatever was presented. */
function sameSecret(presented: string, token: string): boolean {
  const digest = (text: string) => createHash('sha256').update(text, 'utf8').digest();
  return timingSafeEqual(digest(presented), digest(token));
}
