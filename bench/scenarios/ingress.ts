import { setTimeout as sleep } from 'node:timers/promises';
import getPort from 'get-port';
import { Redis } from 'ioredis';
import { newSigningKey } from '../../test/helpers/sign.js';
import { type CpuUse, measureCpu } from '../lib/cpu.js';
import { type DeliveryKind, makeDeliveries } from '../lib/deliveries.js';
import { type LoadResult, postDeliveries } from '../lib/load.js';
import { postPaced } from '../lib/paced.js';
import {
  type BenchProcess,
  rssMiB,
  sampleRss,
  startApp,
  waitForHttp,
  waitForLog,
} from '../lib/processes.js';
import { type BenchRedis, startBenchRedis } from '../lib/redis.js';
import { printTable, writeResult } from '../lib/results.js';

/** The target under load runs on core 0; Redis and the load generator share core 1. */
const TARGET_CORE = '0';
const HELPER_CORE = '1';

export interface IngressSettings {
  /** Closed-loop concurrency levels of the latency-against-load sweep. */
  sweepConnections: number[];
  sweepSeconds: number;
  /**
   * Open loop, evenly paced: deliveries per second of each run. The target rate, 3,000, runs
   * three times: one 10 s run's p99 is the worst 300 answers, which a single stall of this
   * shared VM can fill, so one run alone does not say what is typical.
   */
  pacedRates: number[];
  pacedSeconds: number;
  /** Concurrency of the rejected and ignored runs. */
  otherConnections: number;
  otherSeconds: number;
  /** Extra Node flags for the ingress (profiling). */
  nodeFlags?: string[];
  /** Overrides of the ingress environment (e.g. LOG_LEVEL). */
  env?: Record<string, string>;
}

export const DEFAULT_INGRESS: IngressSettings = {
  sweepConnections: [1, 4, 16, 64, 256],
  sweepSeconds: 5,
  pacedRates: [1000, 2000, 3000, 3000, 3000],
  pacedSeconds: 10,
  otherConnections: 64,
  otherSeconds: 5,
};

export interface IngressRun extends LoadResult {
  target: 'ingress' | 'baseline';
  kind: DeliveryKind;
  mode: 'closed' | 'rate';
  cpu: CpuUse;
  /**
   * Answers per CPU second the target used: what one whole core would sustain. Robust against
   * other work on the machine, which the answers per second are not.
   */
  answersPerTargetCpuSecond: number;
}

type Target = IngressRun['target'];

/** The most deliveries one run can use: generously above what one core answers. */
const MAX_PER_SECOND = 15_000;

/**
 * Scenario 1 (and 4, 5): one ingress process on one core and the bare baseline server on the
 * same core, each under the same pre-signed deliveries. The two take turns row by row (the idle
 * one waits in epoll and costs nothing), so a change in how much CPU the host gives this machine
 * over the scenario's two and a half minutes lands on both sides of the ratio alike.
 */
export async function runIngressScenario(settings: IngressSettings = DEFAULT_INGRESS) {
  const signingKey = newSigningKey();
  const redis = await startBenchRedis('ingress', HELPER_CORE);
  const flusher = new Redis(redis.url);
  const runs: IngressRun[] = [];
  const memory: Record<string, number | undefined> = {};
  try {
    const ingress = await startIngress(redis, signingKey, settings);
    const baseline = await startBaseline(signingKey);
    memory.redisIdleMiB = rssMiB(redis.proc.pid);
    memory.ingressIdleMiB = rssMiB(ingress.proc.pid);
    memory.baselineIdleMiB = rssMiB(baseline.proc.pid);
    const peak = sampleRss({
      ingress: ingress.proc.pid,
      redis: redis.proc.pid,
      baseline: baseline.proc.pid,
    });
    const targets: LoadContext[] = [
      {
        target: 'ingress',
        url: ingress.url,
        signingKey,
        pids: { target: ingress.proc.pid, redis: redis.proc.pid },
        flusher,
      },
      { target: 'baseline', url: baseline.url, signingKey, pids: { target: baseline.proc.pid } },
    ];
    // Lets V8 compile the hot path before anything is recorded.
    for (const ctx of targets) await closedRun(ctx, 'accepted', 16, 2);
    for (const row of rowsOf(settings)) {
      for (const ctx of targets) runs.push(await runRow(ctx, row));
    }
    await flusher.flushall();
    const loaded = peak.stop();
    memory.ingressLoadedMiB = loaded.ingress;
    memory.redisLoadedMiB = loaded.redis;
    memory.baselineLoadedMiB = loaded.baseline;
    await ingress.proc.stop();
    await baseline.proc.stop();
  } finally {
    flusher.disconnect();
    await redis.stop();
  }
  // Grouped by target for the table and the JSON; measured in turns.
  runs.sort((a, b) => Number(a.target === 'baseline') - Number(b.target === 'baseline'));
  const file = writeResult('ingress', { scenario: 'ingress', settings, runs, memory });
  report(runs, memory);
  return { file, runs, memory };
}

interface Started {
  proc: BenchProcess;
  url: string;
}

export async function startIngress(
  redis: BenchRedis,
  signingKey: string,
  settings: IngressSettings,
): Promise<Started> {
  const port = await getPort({ exclude: [6379] });
  const proc = startApp('ingress', {
    cores: TARGET_CORE,
    logName: 'ingress',
    nodeFlags: settings.nodeFlags,
    env: {
      REDIS_URL: redis.url,
      REDIS_KEY_PREFIX: 'bench',
      PORT: String(port),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      ANTHROPIC_WEBHOOK_SIGNING_KEY: signingKey,
      ...settings.env,
    },
  });
  // Health, not the start-up log line: a profile run may turn info logging off.
  await waitForHttp(proc, `http://127.0.0.1:${port}/health`);
  return { proc, url: `http://127.0.0.1:${port}/webhook` };
}

async function startBaseline(signingKey: string): Promise<Started> {
  const port = await getPort({ exclude: [6379] });
  const proc = startApp('baseline', {
    cores: TARGET_CORE,
    logName: 'baseline',
    env: { PORT: String(port), SIGNING_KEY: signingKey },
  });
  await waitForLog(proc, /baseline listening/);
  return { proc, url: `http://127.0.0.1:${port}/webhook` };
}

/** Who is under load and which processes to account CPU to. */
interface LoadContext {
  target: Target;
  url: string;
  signingKey: string;
  pids: Record<string, number>;
  /** Empties the ingress's Redis before each accepted row, so every row starts alike. */
  flusher?: Redis;
}

/** One row of the scenario: what is sent, and how. */
type Row =
  | { kind: DeliveryKind; mode: 'closed'; connections: number; seconds: number }
  | { kind: 'accepted'; mode: 'rate'; rate: number; seconds: number };

/** The accepted sweep, the paced open-loop runs, then rejected and ignored. */
function rowsOf(settings: IngressSettings): Row[] {
  return [
    ...settings.sweepConnections.map((connections) => ({
      kind: 'accepted' as const,
      mode: 'closed' as const,
      connections,
      seconds: settings.sweepSeconds,
    })),
    ...settings.pacedRates.map((rate) => ({
      kind: 'accepted' as const,
      mode: 'rate' as const,
      rate,
      seconds: settings.pacedSeconds,
    })),
    ...(['rejected', 'ignored'] as const).map((kind) => ({
      kind,
      mode: 'closed' as const,
      connections: settings.otherConnections,
      seconds: settings.otherSeconds,
    })),
  ];
}

async function runRow(ctx: LoadContext, row: Row): Promise<IngressRun> {
  if (row.kind === 'accepted') await ctx.flusher?.flushall();
  return row.mode === 'rate'
    ? rateRun(ctx, row.rate, row.seconds)
    : closedRun(ctx, row.kind, row.connections, row.seconds);
}

async function closedRun(
  ctx: LoadContext,
  kind: DeliveryKind,
  connections: number,
  seconds: number,
): Promise<IngressRun> {
  const deliveries = makeDeliveries(ctx.signingKey, kind, seconds * MAX_PER_SECOND, 'b1');
  return measured(ctx, kind, 'closed', () =>
    postDeliveries({ url: ctx.url, deliveries, connections, durationSeconds: seconds }),
  );
}

/**
 * Open loop for a fixed time (not a fixed count, which a slow target would stretch), evenly
 * paced: autocannon's `overallRate` would send each second's quota as one burst.
 */
async function rateRun(ctx: LoadContext, rate: number, seconds: number): Promise<IngressRun> {
  const deliveries = makeDeliveries(ctx.signingKey, 'accepted', rate * seconds + 1000, 'b1r');
  return measured(ctx, 'accepted', 'rate', () =>
    postPaced({ url: ctx.url, deliveries, rate, durationSeconds: seconds }),
  );
}

/** Runs one load with CPU accounting: what the target used, and what the rest of the machine did. */
async function measured(
  ctx: LoadContext,
  kind: DeliveryKind,
  mode: IngressRun['mode'],
  load: () => Promise<LoadResult>,
): Promise<IngressRun> {
  // A short pause so the last run's stragglers (and GC of its deliveries) are over.
  await sleep(300);
  const { value, cpu } = await measureCpu({ ...ctx.pids, loadgen: process.pid }, load);
  const targetShare = (cpu.percent.target ?? 0) / 100;
  const perCpuSecond = targetShare > 0 ? value.answeredPerSecond / targetShare : 0;
  return {
    target: ctx.target,
    kind,
    mode,
    ...value,
    cpu,
    answersPerTargetCpuSecond: Math.round(perCpuSecond),
  };
}

function report(runs: IngressRun[], memory: Record<string, number | undefined>): void {
  printTable(
    'Scenario 1/5: ingress and bare baseline, one core',
    runs.map((run) => ({
      target: run.target,
      deliveries: run.kind,
      load: run.mode === 'rate' ? `${run.overallRate}/s paced` : `${run.connections} conn`,
      'answers/s': run.answeredPerSecond,
      'p50 ms': run.latencyMs.p50,
      'p99 ms': run.latencyMs.p99,
      'max ms': run.latencyMs.max,
      'send lag p99 ms': run.sendLagMs?.p99 ?? '',
      statuses: Object.entries(run.statuses)
        .map(([status, count]) => `${status}:${count}`)
        .join(' '),
      errors: run.errors + run.timeouts,
      'target cpu %': run.cpu.percent.target ?? 0,
      'answers/cpu-s': run.answersPerTargetCpuSecond,
      'others cpu %': run.cpu.othersPercent,
      'steal %': run.cpu.stealPercent,
    })),
  );
  printTable('Scenario 4: resident memory (MiB)', [
    Object.fromEntries(Object.entries(memory).map(([key, value]) => [key, value ?? 'n/a'])),
  ]);
}
