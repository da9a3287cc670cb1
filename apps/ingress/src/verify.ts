import type { IncomingHttpHeaders } from 'node:http';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';

/** A delivery that passed verification, with the parts the ingress acts on. */
export interface VerifiedDelivery {
  webhookId: string;
  event: Record<string, unknown>;
}

export type VerifyResult =
  | { ok: true; delivery: VerifiedDelivery }
  | { ok: false; status: 400 | 401; error: string };

/** The three Standard Webhooks headers, as the library wants them: one string each. */
function signatureHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const pick = (name: string) => {
    const value = headers[name];
    return Array.isArray(value) ? value.join(' ') : (value ?? '');
  };
  return {
    'webhook-id': pick('webhook-id'),
    'webhook-timestamp': pick('webhook-timestamp'),
    'webhook-signature': pick('webhook-signature'),
  };
}

/**
 * Verifies deliveries signed with `signingKey` (`whsec_...`) per Standard Webhooks: HMAC-SHA256
 * over `id.timestamp.body` on the raw bytes as received, any of several signatures, timestamps
 * within 300 s. Verification failures are 401; a verified body that is not a JSON object is 400.
 */
export function createVerifier(
  signingKey: string,
): (body: Buffer, headers: IncomingHttpHeaders) => VerifyResult {
  const webhook = new Webhook(signingKey);
  return (body, headers) => {
    const signed = signatureHeaders(headers);
    let parsed: unknown;
    try {
      parsed = webhook.verify(body, signed);
    } catch (error) {
      // The library parses JSON only after the signature matched, so a SyntaxError means a
      // genuine delivery whose body is not JSON.
      if (error instanceof SyntaxError) {
        return { ok: false, status: 400, error: 'body is not valid JSON' };
      }
      if (error instanceof WebhookVerificationError) {
        return { ok: false, status: 401, error: `signature verification failed: ${error.message}` };
      }
      throw error;
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      return { ok: false, status: 400, error: 'body is not a JSON object' };
    }
    return {
      ok: true,
      delivery: { webhookId: signed['webhook-id'] ?? '', event: parsed as Record<string, unknown> },
    };
  };
}
