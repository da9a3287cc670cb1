import { Agent, request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Delivery } from './deliveries.js';
import type { LoadResult } from './load.js';
import { round, summarize } from './stats.js';

export interface PacedSettings {
  url: string;
  deliveries: Delivery[];
  /** Deliveries per second, spaced evenly: the i-th leaves at start + i / rate. */
  rate: number;
  durationSeconds: number;
}

/**
 * Open loop at an even pace: one delivery every 1 / rate seconds, whatever the answers do.
 * autocannon's `overallRate` sends each second's quota in a burst at the start of the second
 * (see docs/benchmarks.md): a burst of `rate` deliveries, not a steady `rate` per second, and
 * the spawn scenario and the ingress's rate row are about the steady case. Deliveries whose
 * time came while the timer slept leave together: a late timer makes a small burst, never a
 * lower rate.
 */
export async function postPaced(settings: PacedSettings): Promise<LoadResult> {
  const url = new URL(settings.url);
  // Idle sockets close before the server's 5 s keep-alive ends, so none is reused as it closes.
  const agent = new Agent({ keepAlive: true, maxSockets: 256, timeout: 4000 });
  const total = Math.min(
    settings.deliveries.length,
    Math.round(settings.rate * settings.durationSeconds),
  );
  const latencies: number[] = [];
  const lags: number[] = [];
  const statuses: Record<string, number> = {};
  let errors = 0;
  const answers: Promise<void>[] = [];
  const started = performance.now();
  let sent = 0;
  while (sent < total) {
    const due = Math.min(
      total,
      Math.floor(((performance.now() - started) * settings.rate) / 1000) + 1,
    );
    const now = performance.now();
    for (; sent < due; sent += 1) {
      lags.push(now - (started + (sent * 1000) / settings.rate));
      const delivery = settings.deliveries[sent] as Delivery;
      answers.push(
        postOne(url, agent, delivery).then(
          ({ status, ms }) => {
            latencies.push(ms);
            statuses[status] = (statuses[status] ?? 0) + 1;
          },
          () => {
            errors += 1;
          },
        ),
      );
    }
    const nextAt = started + (sent * 1000) / settings.rate;
    await sleep(Math.max(0, nextAt - performance.now()));
  }
  await Promise.all(answers);
  const durationSeconds = (performance.now() - started) / 1000;
  agent.destroy();
  return {
    connections: 0,
    overallRate: settings.rate,
    durationSeconds: round(durationSeconds),
    sent,
    answeredPerSecond: Math.round(latencies.length / durationSeconds),
    statuses,
    errors,
    timeouts: 0,
    reused: 0,
    latencyMs: summarize(latencies),
    sendLagMs: summarize(lags),
  };
}

function postOne(
  url: URL,
  agent: Agent,
  delivery: Delivery,
): Promise<{ status: number; ms: number }> {
  const began = performance.now();
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: 'POST', agent, headers: delivery.headers, timeout: 10_000 },
      (res) => {
        res.resume();
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, ms: performance.now() - began }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end(delivery.body);
  });
}
