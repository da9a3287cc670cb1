import Anthropic from '@anthropic-ai/sdk';

/** Statuses of a session that is in a run and so needs a worker. */
const NEEDS_WORKER = ['running', 'rescheduling'] as const;

/**
 * What Anthropic knows about work waiting in our environment: used to recover runs whose webhook
 * was lost (Anthropic drops a delivery after 3 failed attempts and never replays it).
 */
export interface LostWorkSource {
  /** Session ids of this environment that are in a run while work waits unclaimed. */
  sessionsWithWaitingWork(now: number): Promise<string[]>;
}

export interface AnthropicLostWorkSettings {
  /** The organisation API key: control plane only, never given to a worker. */
  apiKey: string;
  baseUrl: string;
  environmentId: string;
  /** Work queued for less than this is left to the webhook path (ms). */
  minQueuedMs: number;
}

/** Reads the environment's work queue stats and running sessions through the real SDK. */
export function anthropicLostWorkSource(settings: AnthropicLostWorkSettings): LostWorkSource {
  const client = new Anthropic({
    apiKey: settings.apiKey,
    baseURL: settings.baseUrl,
    maxRetries: 1,
  });
  return {
    async sessionsWithWaitingWork(now) {
      const stats = await client.beta.environments.work.stats(settings.environmentId);
      if (stats.depth === 0 || stats.oldest_queued_at === null) return [];
      const queuedFor = now - Date.parse(stats.oldest_queued_at);
      if (!(queuedFor >= settings.minQueuedMs)) return [];
      const ids: string[] = [];
      for await (const session of client.beta.sessions.list({ statuses: [...NEEDS_WORKER] })) {
        if (session.environment_id === settings.environmentId) ids.push(session.id);
      }
      return ids;
    },
  };
}
