import { setTimeout as sleep } from 'node:timers/promises';
import { measureCpu } from '../lib/cpu.js';
import { makeDeliveries, sessionOf } from '../lib/deliveries.js';
import { type BenchFleet, createCallTimes, resetFake, startFleet } from '../lib/fleet.js';
import { postPaced } from '../lib/paced.js';
import { rssMiB, sampleRss } from '../lib/processes.js';
import { printTable, writeResult } from '../lib/results.js';
import { round, type Summary, summarize } from '../lib/stats.js';

export interface SpawnCase {
  createDelayMs: number;
  /** SPAWNER_CONCURRENCY of the one spawner. */
  concurrency: number;
}

export interface SpawnSettings {
  cases: SpawnCase[];
  /** New sessions per second, each held for `seconds`. */
  rates: number[];
  seconds: Record<number, number>;
  /** Longest wait for the last worker to run, so a stuck fleet cannot hold the bench. */
  drainTimeoutMs: number;
}

export const DEFAULT_SPAWN: SpawnSettings = {
  // The default concurrency (10) with 0 ms creates; with 200 ms creates 10 slots cap a process
  // at 50 spawns/s (scenario 3 shows it), so that case runs 100 slots to measure latency, not
  // queueing.
  cases: [
    { createDelayMs: 0, concurrency: 10 },
    { createDelayMs: 200, concurrency: 100 },
  ],
  rates: [10, 100, 500],
  seconds: { 10: 10, 100: 8, 500: 3 },
  drainTimeoutMs: 45_000,
};

export interface SpawnPoint extends SpawnCase {
  rate: number;
  sessions: number;
  /** Workers that reached `running` within the drain timeout. */
  running: number;
  /** Delivery received (job's receivedAt) → a spawner took the job. */
  toPickupMs: Summary;
  /** Delivery received → the fake InstaVM received the create call. */
  toCreateMs: Summary;
  /** Delivery received → the worker state says `running`. */
  toRunningMs: Summary;
  /** The ingress's answer time while this load ran. */
  ingressAnswerMs: Summary;
  /** CPU of each process from the first delivery to the last worker running, % of one core. */
  cpuPercent: Record<string, number>;
  /** CPU everything else on the machine used meanwhile: the noise. */
  othersCpuPercent: number;
  /** CPU the host took from this VM meanwhile (see cpu.ts). */
  stealPercent: number;
  /** The spawner's CPU per worker started: what bounds one process once I/O waits overlap. */
  spawnerCpuMsPerSpawn: number;
}

/** Scenario 2: one ingress, one spawner, the fake InstaVM, sessions arriving at fixed rates. */
export async function runSpawnScenario(settings: SpawnSettings = DEFAULT_SPAWN) {
  const points: SpawnPoint[] = [];
  const memory: Record<string, number> = {};
  for (const spawnCase of settings.cases) {
    const fleet = await startFleet({
      name: `spawn-${spawnCase.createDelayMs}ms`,
      createDelayMs: spawnCase.createDelayMs,
      spawners: 1,
      concurrency: spawnCase.concurrency,
      ingress: true,
    });
    try {
      for (const [name, pid] of Object.entries(fleetPids(fleet))) {
        memory[`${name}IdleMiB`] = Math.max(memory[`${name}IdleMiB`] ?? 0, rssMiB(pid) ?? 0);
      }
      const rss = sampleRss(fleetPids(fleet));
      await measurePoint(fleet, spawnCase, 20, 1, settings.drainTimeoutMs); // warm-up
      for (const rate of settings.rates) {
        const seconds = settings.seconds[rate] ?? 5;
        points.push(await measurePoint(fleet, spawnCase, rate, seconds, settings.drainTimeoutMs));
      }
      for (const [name, peak] of Object.entries(rss.stop())) {
        memory[`${name}LoadedMiB`] = Math.max(memory[`${name}LoadedMiB`] ?? 0, peak);
      }
    } finally {
      await fleet.close();
    }
  }
  const file = writeResult('spawn-latency', {
    scenario: 'spawn-latency',
    settings,
    points,
    memory,
  });
  report(points, memory);
  return { file, points, memory };
}

function fleetPids(fleet: BenchFleet): Record<string, number> {
  const pids: Record<string, number> = { redis: fleet.redis.proc.pid, fake: fleet.fake.pid };
  if (fleet.ingress) pids.ingress = fleet.ingress.pid;
  fleet.spawners.forEach((spawner, i) => {
    pids[i === 0 ? 'spawner' : `spawner${i + 1}`] = spawner.pid;
  });
  return pids;
}

async function measurePoint(
  fleet: BenchFleet,
  spawnCase: SpawnCase,
  rate: number,
  seconds: number,
  drainTimeoutMs: number,
): Promise<SpawnPoint> {
  await resetFake(fleet.fakeUrl);
  const deliveries = makeDeliveries(
    fleet.signingKey,
    'accepted',
    rate * seconds + 100,
    `b2r${rate}`,
  );
  const tagged = new Set(deliveries.map(sessionOf));
  const started = performance.now();
  const { value, cpu } = await measureCpu(fleetPids(fleet), async () => {
    // For a fixed time, not a fixed count: a slow machine must not stretch the run.
    const load = await postPaced({
      url: fleet.webhookUrl,
      deliveries,
      rate,
      durationSeconds: seconds,
    });
    // The sessions that were sent are the ones that got a job.
    const sent = [...(await jobTimes(fleet)).keys()].filter((id) => tagged.has(id));
    return { load, sent, runningAt: await waitForRunning(fleet, sent, drainTimeoutMs) };
  });
  const { load, sent: sessions, runningAt } = value;
  const elapsedSeconds = (performance.now() - started) / 1000;
  const spawnerCpuSeconds = ((cpu.percent.spawner ?? 0) / 100) * elapsedSeconds;
  const [jobs, createdAt] = await Promise.all([jobTimes(fleet), createCallTimes(fleet.fakeUrl)]);
  const since = (times: Map<string, number>) =>
    sessions.flatMap((id) => {
      const received = jobs.get(id)?.receivedAt;
      const at = times.get(id);
      return received !== undefined && at !== undefined ? [at - received] : [];
    });
  const pickedUp = new Map(
    [...jobs].flatMap(([id, job]) => (job.processedOn > 0 ? [[id, job.processedOn] as const] : [])),
  );
  return {
    ...spawnCase,
    rate,
    sessions: sessions.length,
    running: runningAt.size,
    toPickupMs: summarize(since(pickedUp)),
    toCreateMs: summarize(since(createdAt)),
    toRunningMs: summarize(since(runningAt)),
    ingressAnswerMs: load.latencyMs,
    cpuPercent: cpu.percent,
    othersCpuPercent: cpu.othersPercent,
    stealPercent: cpu.stealPercent,
    spawnerCpuMsPerSpawn:
      runningAt.size > 0 ? round((spawnerCpuSeconds * 1000) / runningAt.size, 1) : 0,
  };
}

/** Polls the worker states until every session runs (or failed), bounded by `timeoutMs`. */
export async function waitForRunning(
  fleet: BenchFleet,
  sessions: string[],
  timeoutMs: number,
): Promise<Map<string, number>> {
  const deadline = Date.now() + timeoutMs;
  const runningAt = new Map<string, number>();
  let pending = sessions;
  while (pending.length > 0 && Date.now() < deadline) {
    const histories = await fleet.store.histories(pending);
    const next: string[] = [];
    pending.forEach((id, i) => {
      const history = histories[i] ?? [];
      const running = history.find((change) => change.status === 'running');
      if (running) runningAt.set(id, running.at);
      else if (!history.some((change) => change.status === 'failed')) next.push(id);
    });
    pending = next;
    if (pending.length > 0) await sleep(250);
  }
  return runningAt;
}

/** The spawn jobs' timing fields by session id. */
async function jobTimes(fleet: BenchFleet) {
  const jobs = await fleet.queue.getJobs(
    ['completed', 'failed', 'active', 'wait', 'delayed', 'prioritized'],
    0,
    -1,
  );
  const times = new Map<string, { receivedAt: number; processedOn: number }>();
  for (const job of jobs) {
    const data = job.data as { sessionId?: string; receivedAt?: number };
    if (data.sessionId === undefined || data.receivedAt === undefined) continue;
    times.set(data.sessionId, { receivedAt: data.receivedAt, processedOn: job.processedOn ?? 0 });
  }
  return times;
}

function report(points: SpawnPoint[], memory: Record<string, number>): void {
  printTable('Scenario 4: resident memory of the fleet (MiB, peak over both cases)', [memory]);
  printTable(
    'Scenario 2: spawn latency (ms from the delivery reaching the ingress)',
    points.map((point) => ({
      'create delay': `${point.createDelayMs} ms`,
      concurrency: point.concurrency,
      'sessions/s': point.rate,
      running: `${point.running}/${point.sessions}`,
      'pickup p50': point.toPickupMs.p50,
      'create p50': point.toCreateMs.p50,
      'create p99': point.toCreateMs.p99,
      'running p50': point.toRunningMs.p50,
      'running p99': point.toRunningMs.p99,
      'ingress p99': point.ingressAnswerMs.p99,
      'spawner cpu ms/spawn': point.spawnerCpuMsPerSpawn,
      'others cpu %': point.othersCpuPercent,
      'steal %': point.stealPercent,
    })),
  );
}
