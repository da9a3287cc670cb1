import { createHmac, randomBytes } from 'node:crypto';

/**
 * Signs a delivery the Standard Webhooks way with Node's own HMAC, independently of the
 * `standardwebhooks` library the ingress uses, so a bug shared by both cannot hide.
 */
export function signDelivery(
  signingKey: string,
  webhookId: string,
  timestampSeconds: number,
  body: string | Buffer,
): string {
  const key = Buffer.from(signingKey.replace(/^whsec_/, ''), 'base64');
  const mac = createHmac('sha256', key)
    .update(`${webhookId}.${timestampSeconds}.`)
    .update(body)
    .digest('base64');
  return `v1,${mac}`;
}

/** A fresh random signing key in the Console's format. */
export function newSigningKey(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

/** A `session.status_run_started` envelope shaped exactly like the reference's. */
export function runStartedEvent(webhookId: string, sessionId: string): string {
  return JSON.stringify({
    type: 'event',
    id: webhookId,
    created_at: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    data: {
      type: 'session.status_run_started',
      id: sessionId,
      organization_id: '00000000-0000-4000-8000-000000000001',
      workspace_id: 'wrkspc_test',
    },
  });
}

/** Headers for a signed delivery of `body`, stamped now unless told otherwise. */
export function signedHeaders(
  signingKey: string,
  webhookId: string,
  body: string,
  timestampSeconds = Math.floor(Date.now() / 1000),
): Record<string, string> {
  return {
    'content-type': 'application/json',
    'webhook-id': webhookId,
    'webhook-timestamp': String(timestampSeconds),
    'webhook-signature': signDelivery(signingKey, webhookId, timestampSeconds, body),
  };
}
