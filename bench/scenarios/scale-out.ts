import { randomBytes } from 'node:crypto';
import { SPAWN_JOB_NAME, spawnJobOptions } from '@cma-fleet/shared';
import { measureCpu } from '../lib/cpu.js';
import { type BenchFleet, startFleet } from '../lib/fleet.js';
import { printTable, writeResult } from '../lib/results.js';
import { round } from '../lib/stats.js';
import { waitForRunning } from './spawn-latency.js';

export interface ScaleOutSettings {
  spawnerCounts: number[];
  createDelayMs: number;
  /** SPAWNER_CONCURRENCY per process (the default). */
  concurrency: number;
  /** Jobs per spawner process in one measurement, so each lasts about as long. */
  jobsPerSpawner: number;
  drainTimeoutMs: number;
}

export const DEFAULT_SCALE_OUT: ScaleOutSettings = {
  spawnerCounts: [1, 2, 4],
  createDelayMs: 200,
  concurrency: 10,
  jobsPerSpawner: 250,
  drainTimeoutMs: 60_000,
};

export interface ScaleOutPoint {
  spawners: number;
  jobs: number;
  running: number;
  /** Workers running per second between the 10th and the 90th percent of them (no ramps). */
  spawnsPerSecond: number;
  ratioToOne: number;
  /** CPU of each kind of process, in percent of one core (spawners added up). */
  cpuPercent: Record<string, number>;
  othersCpuPercent: number;
  /** CPU the host took from this VM meanwhile (see cpu.ts). */
  stealPercent: number;
  /** Spawner CPU (all processes) per worker started. */
  spawnerCpuMsPerSpawn: number;
}

/**
 * Scenario 3: a backlog of spawn jobs put straight into the queue (the ingress is not what is
 * measured here), drained by 1, 2 and 4 spawner processes against a fake that takes 200 ms per
 * create.
 */
export async function runScaleOutScenario(settings: ScaleOutSettings = DEFAULT_SCALE_OUT) {
  const points: ScaleOutPoint[] = [];
  for (const spawners of settings.spawnerCounts) {
    const fleet = await startFleet({
      name: `scale-${spawners}`,
      createDelayMs: settings.createDelayMs,
      spawners,
      concurrency: settings.concurrency,
      ingress: false,
    });
    try {
      points.push(await measure(fleet, spawners, settings));
    } finally {
      await fleet.close();
    }
  }
  const one = points[0]?.spawnsPerSecond ?? 0;
  for (const point of points) point.ratioToOne = one > 0 ? round(point.spawnsPerSecond / one) : 0;
  const file = writeResult('scale-out', { scenario: 'scale-out', settings, points });
  report(points);
  return { file, points };
}

async function measure(
  fleet: BenchFleet,
  spawners: number,
  settings: ScaleOutSettings,
): Promise<ScaleOutPoint> {
  const jobs = spawners * settings.jobsPerSpawner;
  const run = randomBytes(4).toString('hex');
  const sessions = Array.from({ length: jobs }, (_, i) => `sesn_b3_${run}_${i}`);
  const pids: Record<string, number> = { redis: fleet.redis.proc.pid, fake: fleet.fake.pid };
  fleet.spawners.forEach((spawner, i) => {
    pids[`spawner${i + 1}`] = spawner.pid;
  });
  const started = performance.now();
  const { value: runningAt, cpu } = await measureCpu(pids, async () => {
    await fleet.queue.addBulk(
      sessions.map((sessionId) => ({
        name: SPAWN_JOB_NAME,
        data: { sessionId, receivedAt: Date.now(), reason: 'manual' },
        opts: spawnJobOptions(sessionId, { attempts: 6 }),
      })),
    );
    return waitForRunning(fleet, sessions, settings.drainTimeoutMs);
  });
  const elapsedSeconds = (performance.now() - started) / 1000;
  const times = [...runningAt.values()].sort((a, b) => a - b);
  const from = times[Math.floor(times.length * 0.1)] ?? 0;
  const to = times[Math.floor(times.length * 0.9)] ?? 0;
  const counted = Math.floor(times.length * 0.9) - Math.floor(times.length * 0.1);
  const spawnerCpu = Object.entries(cpu.percent)
    .filter(([name]) => name.startsWith('spawner'))
    .reduce((sum, [, percent]) => sum + percent, 0);
  return {
    spawners,
    jobs,
    running: runningAt.size,
    spawnsPerSecond: to > from ? round((counted / (to - from)) * 1000, 1) : 0,
    ratioToOne: 0,
    cpuPercent: {
      spawners: spawnerCpu,
      fake: cpu.percent.fake ?? 0,
      redis: cpu.percent.redis ?? 0,
    },
    othersCpuPercent: cpu.othersPercent,
    stealPercent: cpu.stealPercent,
    spawnerCpuMsPerSpawn:
      runningAt.size > 0 ? round((spawnerCpu * 10 * elapsedSeconds) / runningAt.size, 1) : 0,
  };
}

function report(points: ScaleOutPoint[]): void {
  printTable(
    'Scenario 3: scale-out, 200 ms per create, concurrency 10 per spawner',
    points.map((point) => ({
      spawners: point.spawners,
      running: `${point.running}/${point.jobs}`,
      'spawns/s': point.spawnsPerSecond,
      'ratio to 1': point.ratioToOne,
      'spawners cpu %': point.cpuPercent.spawners ?? 0,
      'spawner cpu ms/spawn': point.spawnerCpuMsPerSpawn,
      'fake cpu %': point.cpuPercent.fake ?? 0,
      'redis cpu %': point.cpuPercent.redis ?? 0,
      'others cpu %': point.othersCpuPercent,
      'steal %': point.stealPercent,
    })),
  );
}
