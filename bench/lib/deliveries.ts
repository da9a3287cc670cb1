import { randomBytes } from 'node:crypto';
import { signedHeaders } from '../../test/helpers/sign.js';

/** One delivery ready to send: exact body bytes and the headers that sign them. */
export interface Delivery {
  body: string;
  headers: Record<string, string>;
}

export type DeliveryKind = 'accepted' | 'rejected' | 'ignored';

/** The envelope Anthropic sends, for a run-started or another event type. */
function envelope(webhookId: string, type: string, sessionId: string): string {
  return JSON.stringify({
    type: 'event',
    id: webhookId,
    created_at: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    data: {
      type,
      id: sessionId,
      organization_id: '00000000-0000-4000-8000-000000000001',
      workspace_id: 'wrkspc_bench',
    },
  });
}

/**
 * `count` deliveries, each with its own webhook id and session id, signed with the independent
 * signer of the tests. Signed just before use: the ingress refuses timestamps 300 s off.
 * `rejected` ones carry a signature made with another key; `ignored` ones another event type.
 */
export function makeDeliveries(
  signingKey: string,
  kind: DeliveryKind,
  count: number,
  tag: string,
): Delivery[] {
  const wrongKey = `whsec_${randomBytes(32).toString('base64')}`;
  const type = kind === 'ignored' ? 'session.status_idled' : 'session.status_run_started';
  const run = randomBytes(4).toString('hex');
  const deliveries: Delivery[] = [];
  for (let i = 0; i < count; i += 1) {
    const webhookId = `msg_bench_${run}_${i}`;
    const body = envelope(webhookId, type, `sesn_${tag}_${run}_${i}`);
    const key = kind === 'rejected' ? wrongKey : signingKey;
    deliveries.push({ body, headers: signedHeaders(key, webhookId, body) });
  }
  return deliveries;
}

/** The session id a delivery carries (for matching a delivery with its job and its VM). */
export function sessionOf(delivery: Delivery): string {
  return (JSON.parse(delivery.body) as { data: { id: string } }).data.id;
}
