import type { Redis } from 'ioredis';

/** How many recent samples the status page computes its percentiles from. */
const SAMPLE_LIMIT = 500;

function latencyKey(keyPrefix: string): string {
  return `${keyPrefix}:spawn-latency`;
}

/**
 * Records how long a spawn took from the delivery's arrival to a running worker, in a capped
 * list that every process can read (Prometheus histograms live per process; the status page
 * wants the fleet's view).
 */
export async function recordSpawnLatency(redis: Redis, keyPrefix: string, ms: number) {
  const key = latencyKey(keyPrefix);
  await redis
    .multi()
    .lpush(key, Math.max(0, Math.round(ms)))
    .ltrim(key, 0, SAMPLE_LIMIT - 1)
    .exec();
}

/** The recent samples, newest first, in ms. */
export async function readSpawnLatencies(redis: Redis, keyPrefix: string): Promise<number[]> {
  const raw = await redis.lrange(latencyKey(keyPrefix), 0, SAMPLE_LIMIT - 1);
  return raw.map(Number).filter((ms) => Number.isFinite(ms));
}

export interface LatencySummary {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

/** Nearest-rank percentiles; undefined when there is no sample yet. */
export function summariseLatencies(samples: number[]): LatencySummary | undefined {
  if (samples.length === 0) return undefined;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = (p: number) => sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)];
  return {
    count: sorted.length,
    p50: rank(0.5) ?? 0,
    p90: rank(0.9) ?? 0,
    p99: rank(0.99) ?? 0,
    max: sorted[sorted.length - 1] ?? 0,
  };
}
