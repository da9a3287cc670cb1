import { createHmac, randomUUID } from 'node:crypto';
import { ingressUrlFrom } from './admin-client.js';
import { readDevEnv } from './dev-env.js';

export interface SendTestSettings {
  ingressUrl: string;
  signingKey: string;
}

/**
 * Where and with which key to send a test delivery: ANTHROPIC_WEBHOOK_SIGNING_KEY (or the
 * development key `pnpm start` made) and INGRESS_URL (default http://127.0.0.1:$PORT).
 * Throws, saying what to set, when there is no key.
 */
export function sendTestSettings(env: Record<string, string | undefined>): SendTestSettings {
  const signingKey =
    env.ANTHROPIC_WEBHOOK_SIGNING_KEY || readDevEnv().ANTHROPIC_WEBHOOK_SIGNING_KEY;
  if (!signingKey) {
    throw new Error('set ANTHROPIC_WEBHOOK_SIGNING_KEY (or run pnpm start once to make a dev key)');
  }
  const ingressUrl = ingressUrlFrom(env) ?? `http://127.0.0.1:${env.PORT || '8000'}`;
  return { ingressUrl: ingressUrl.replace(/\/+$/, ''), signingKey };
}

export interface SentDelivery {
  url: string;
  sessionId: string;
  webhookId: string;
  status: number;
  body: string;
}

/** Posts one correctly signed `session.status_run_started` delivery (Standard Webhooks). */
export async function sendTestDelivery(
  settings: SendTestSettings,
  sessionId = `sesn_test_${randomUUID().slice(0, 8)}`,
): Promise<SentDelivery> {
  const webhookId = `whe_test_${randomUUID()}`;
  const timestamp = Math.floor(Date.now() / 1000);
  const body = JSON.stringify({
    type: 'event',
    id: webhookId,
    created_at: new Date().toISOString(),
    data: {
      type: 'session.status_run_started',
      id: sessionId,
      organization_id: '00000000-0000-0000-0000-000000000000',
      workspace_id: 'wrkspc_test',
    },
  });
  const key = Buffer.from(settings.signingKey.replace(/^whsec_/, ''), 'base64');
  const signature = createHmac('sha256', key)
    .update(`${webhookId}.${timestamp}.${body}`)
    .digest('base64');
  const url = `${settings.ingressUrl}/webhook`;
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'webhook-id': webhookId,
      'webhook-timestamp': String(timestamp),
      'webhook-signature': `v1,${signature}`,
    },
    body,
  });
  return { url, sessionId, webhookId, status: response.status, body: await response.text() };
}
