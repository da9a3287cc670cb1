import { createHash } from 'node:crypto';

/**
 * A fixed-length, queue-safe key for an upstream id. BullMQ rejects some custom ids (digits only,
 * one colon) and Redis keys should stay short, so no raw session or delivery id is ever used as a
 * job id, deduplication id or key part.
 */
export function safeKey(upstreamId: string): string {
  return createHash('sha256').update(upstreamId, 'utf8').digest('base64url').slice(0, 32);
}
