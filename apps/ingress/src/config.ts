import {
  adminEnv,
  commonEnv,
  envInt,
  optionalString,
  parseEnv,
  spawnJobEnv,
} from '@cma-fleet/shared';
import { z } from 'zod';

/** The placeholder the reference cookbook ships in its examples; treated as "not configured". */
const SIGNING_KEY_PLACEHOLDER = 'ANTHROPIC_WHSEC';

/**
 * The signing key, or undefined when it is not configured (the webhook then answers 503: fail
 * closed). A value that is set but malformed stops the process instead, since it can never
 * verify anything and would reject every delivery with 401.
 */
const signingKey = optionalString.transform((value, ctx) => {
  if (value === undefined || value === SIGNING_KEY_PLACEHOLDER) return undefined;
  if (!isStandardWebhooksKey(value)) {
    ctx.addIssue({
      code: 'custom',
      message:
        'must be "whsec_" followed by base64, exactly as the Console shows it (no "v1," prefix, ' +
        'no quotes)',
    });
    return z.NEVER;
  }
  return value;
});

/** `whsec_` then padded base64 of at least 16 bytes. */
function isStandardWebhooksKey(value: string): boolean {
  const encoded = value.startsWith('whsec_') ? value.slice('whsec_'.length) : '';
  return /^[A-Za-z0-9+/]+={0,2}$/.test(encoded) && encoded.length % 4 === 0 && encoded.length >= 24;
}

export const ingressEnv = commonEnv.extend(spawnJobEnv.shape).extend({
  ...adminEnv.shape,
  // 0 picks a free port (tests and `pnpm start` use it).
  PORT: envInt(8000, 0, 65_535),
  HOST: optionalString.pipe(z.string().default('0.0.0.0')),
  ANTHROPIC_WEBHOOK_SIGNING_KEY: signingKey,
});

export type IngressConfig = z.infer<typeof ingressEnv>;

export function loadIngressConfig(env: Record<string, string | undefined> = process.env) {
  return parseEnv(ingressEnv, env);
}
