import autocannon from 'autocannon';
import type { Delivery } from './deliveries.js';
import { round, type Summary, summarize } from './stats.js';

export interface LoadSettings {
  url: string;
  deliveries: Delivery[];
  /** Open connections (closed loop: each sends its next request when the last one answered). */
  connections: number;
  /** Seconds to run; ignored when `amount` is set. */
  durationSeconds?: number;
  /** Requests to send in all (the run then ends when they are answered). */
  amount?: number;
}

export interface LoadResult {
  /** Closed loop: open connections (0 for a paced run, see paced.ts). */
  connections: number;
  /** Paced runs: deliveries sent per second; null for a closed loop. */
  overallRate: number | null;
  durationSeconds: number;
  sent: number;
  /** Answers per second, whatever their status. */
  answeredPerSecond: number;
  statuses: Record<string, number>;
  /** Connection errors and timeouts. */
  errors: number;
  timeouts: number;
  /** Deliveries sent more than once because the pre-signed list ran out (0 in a sound run). */
  reused: number;
  /** Response time in ms of every answer, sub-millisecond (autocannon's own is whole ms). */
  latencyMs: Summary;
  /**
   * Paced runs: how late each delivery left against its schedule, in ms. A stalled load
   * generator sends the deliveries that fell due meanwhile as one burst, which the target then
   * queues: large lags say a latency spike came from the sender's side.
   */
  sendLagMs?: Summary;
}

/**
 * Posts the pre-signed deliveries to `url` with autocannon in a closed loop, each at most once
 * while the list lasts, bounded by `durationSeconds` or `amount`. Open-loop runs use paced.ts.
 */
export async function postDeliveries(settings: LoadSettings): Promise<LoadResult> {
  const { deliveries } = settings;
  let cursor = 0;
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  const options: autocannon.Options = {
    url: settings.url,
    connections: settings.connections,
    duration: settings.durationSeconds ?? 60,
    amount: settings.amount,
    timeout: 10,
    requests: [
      {
        method: 'POST',
        setupRequest: (request) => {
          const next = deliveries[cursor % deliveries.length];
          cursor += 1;
          return { ...request, body: next?.body, headers: next?.headers };
        },
      },
    ],
  };
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(options, (error, done) => (error ? reject(error) : resolve(done)));
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      latencies.push(responseTime);
      statuses[statusCode] = (statuses[statusCode] ?? 0) + 1;
    });
  });
  return {
    connections: settings.connections,
    overallRate: null,
    durationSeconds: round(result.duration),
    sent: result.requests.sent,
    answeredPerSecond: Math.round(latencies.length / result.duration),
    statuses,
    errors: result.errors,
    timeouts: result.timeouts,
    reused: Math.max(0, cursor - deliveries.length),
    latencyMs: summarize(latencies),
  };
}
