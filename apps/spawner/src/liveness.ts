import { withTimeout } from '@cma-fleet/shared';
import type { Queue } from 'bullmq';

/** What a spawn processor reports of its own work, for the liveness check. */
export class ProcessorActivity {
  private running = 0;
  private lastPickupAt: number;

  constructor(private readonly now: () => number = Date.now) {
    this.lastPickupAt = now();
  }

  /** Wraps one job's processing. */
  async track<T>(work: () => Promise<T>): Promise<T> {
    this.running += 1;
    this.lastPickupAt = this.now();
    try {
      return await work();
    } finally {
      this.running -= 1;
    }
  }

  get inFlight(): number {
    return this.running;
  }

  get lastPickup(): number {
    return this.lastPickupAt;
  }
}

export interface LivenessReport {
  healthy: boolean;
  reason: string;
  waiting?: number;
  in_flight?: number;
}

export interface WatchdogSettings {
  queue: Queue;
  activity: ProcessorActivity;
  concurrency: number;
  /** The worker's rate ceiling (jobs per second), needed to read the queue's pause. */
  maxStartsPerSecond: number;
  /** Jobs waiting this long while this spawner takes none makes it unhealthy (ms). */
  stallMs: number;
  now?: () => number;
}

/**
 * Liveness judged by consumption, not by PING: BullMQ workers have been seen to stop taking
 * jobs after a Redis outage while their connection looked fine. Unhealthy when jobs wait, the
 * queue is not deliberately paused (rate limit, open breaker, fleet-wide cap), this spawner has
 * free slots, and it has taken no job for `stallMs`.
 */
export class ConsumptionWatchdog {
  private backlogSince: number | undefined;
  private readonly now: () => number;

  constructor(private readonly settings: WatchdogSettings) {
    this.now = settings.now ?? Date.now;
  }

  async check(): Promise<LivenessReport> {
    const { queue, activity } = this.settings;
    let counts: Record<string, number>;
    let pausedForMs: number;
    let fleetCap: number | null;
    try {
      [counts, pausedForMs, fleetCap] = await withTimeout(
        Promise.all([
          queue.getJobCounts('waiting', 'prioritized', 'active'),
          queue.getRateLimitTtl(this.settings.maxStartsPerSecond),
          queue.getGlobalConcurrency(),
        ]),
        2000,
        'reading the queue',
      );
    } catch {
      return { healthy: false, reason: 'Redis unreachable' };
    }
    const waiting = (counts.waiting ?? 0) + (counts.prioritized ?? 0);
    const inFlight = activity.inFlight;
    const resting =
      waiting === 0 ||
      pausedForMs > 0 ||
      inFlight >= this.settings.concurrency ||
      (fleetCap !== null && (counts.active ?? 0) >= fleetCap);
    if (resting) {
      this.backlogSince = undefined;
      return { healthy: true, reason: 'consuming', waiting, in_flight: inFlight };
    }
    this.backlogSince ??= this.now();
    const idleMs = this.now() - Math.max(activity.lastPickup, this.backlogSince);
    if (idleMs > this.settings.stallMs) {
      const reason = `${waiting} jobs wait but this spawner has taken none for ${idleMs} ms`;
      return { healthy: false, reason, waiting, in_flight: inFlight };
    }
    return { healthy: true, reason: 'consuming', waiting, in_flight: inFlight };
  }
}
