/** The event that means a session needs a worker. It fires on every transition to running. */
export const RUN_STARTED = 'session.status_run_started';

export type EventAction =
  | { kind: 'schedule'; sessionId: string }
  | { kind: 'ignore'; type: string }
  | { kind: 'reject'; error: string };

/**
 * Decides what a verified event asks of us. Unknown event types are accepted and ignored, never
 * rejected: Anthropic adds types, and a 4xx would count against the endpoint.
 */
export function classifyEvent(event: Record<string, unknown>): EventAction {
  const data = event.data;
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    return { kind: 'reject', error: 'event has no "data" object' };
  }
  const { type, id } = data as Record<string, unknown>;
  if (typeof type !== 'string' || type === '') {
    return { kind: 'reject', error: 'event has no "data.type" string' };
  }
  if (type !== RUN_STARTED) return { kind: 'ignore', type };
  if (typeof id !== 'string' || id === '') {
    return { kind: 'reject', error: `${RUN_STARTED} needs "data.id", the session id, as a string` };
  }
  return { kind: 'schedule', sessionId: id };
}
