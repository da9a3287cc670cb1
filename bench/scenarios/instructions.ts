import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import getPort from 'get-port';
import { newSigningKey } from '../../test/helpers/sign.js';
import { type DeliveryKind, makeDeliveries } from '../lib/deliveries.js';
import { postDeliveries } from '../lib/load.js';
import {
  appRoot,
  type BenchProcess,
  RESULTS_DIR,
  ROOT,
  startCommand,
  waitForHttp,
  waitForLog,
} from '../lib/processes.js';
import { type BenchRedis, startBenchRedis } from '../lib/redis.js';
import { printTable, writeResult } from '../lib/results.js';

/**
 * `pnpm bench instructions`: machine instructions per delivery, counted by valgrind's callgrind
 * in the target process. A count, not a time: other work on the machine cannot change it, so it
 * compares the ingress with the baseline (and one build of the ingress with another) where
 * timings on a shared machine cannot. Needs valgrind (apt-get install valgrind). Slow: the
 * target runs about fifty times slower under valgrind.
 */

type Target = 'ingress' | 'baseline';

export interface InstructionCount {
  target: Target;
  kind: DeliveryKind;
  deliveries: number;
  statuses: Record<string, number>;
  instructionsPerDelivery: number;
}

/** The cases counted: the ingress's three outcomes and the baseline's accepted path. */
const CASES: Array<{ target: Target; kind: DeliveryKind }> = [
  { target: 'baseline', kind: 'accepted' },
  { target: 'ingress', kind: 'accepted' },
  { target: 'ingress', kind: 'ignored' },
  { target: 'ingress', kind: 'rejected' },
];

export async function runInstructionCount(deliveries = 500) {
  if (spawnSync('valgrind', ['--version'], { stdio: 'ignore' }).status !== 0) {
    throw new Error('valgrind is not installed: apt-get install valgrind');
  }
  const redis = await startBenchRedis('instructions', '1');
  const counts: InstructionCount[] = [];
  try {
    for (const { target, kind } of CASES) counts.push(await count(redis, target, kind, deliveries));
  } finally {
    await redis.stop();
  }
  const baseline = counts.find((c) => c.target === 'baseline')?.instructionsPerDelivery ?? 0;
  const file = writeResult('instructions', { scenario: 'instructions', counts });
  printTable(
    'Instructions per delivery (callgrind, after warm-up)',
    counts.map((c) => ({
      target: c.target,
      deliveries: c.kind,
      statuses: Object.entries(c.statuses)
        .map(([status, n]) => `${status}:${n}`)
        .join(' '),
      'instructions/delivery': c.instructionsPerDelivery,
      'x baseline': baseline > 0 ? (c.instructionsPerDelivery / baseline).toFixed(2) : 'n/a',
    })),
  );
  return { file, counts };
}

async function count(
  redis: BenchRedis,
  target: Target,
  kind: DeliveryKind,
  deliveries: number,
): Promise<InstructionCount> {
  const signingKey = newSigningKey();
  const port = await getPort({ exclude: [6379] });
  const out = join(RESULTS_DIR, `callgrind-${target}-${kind}.out`);
  const vgdb = join(RESULTS_DIR, `vgdb-${port}`);
  rmSync(`${out}.1`, { force: true });
  const proc = startUnderCallgrind(target, { port, out, vgdb, signingKey, redis });
  // vgdb names its pipes after HOST; our processes get HOST for their own configuration.
  const control = (...args: string[]) =>
    execFileSync('callgrind_control', [`--vgdb-prefix=${vgdb}`, ...args, String(proc.pid)], {
      env: { ...process.env, HOST: '127.0.0.1' },
      stdio: 'ignore',
    });
  try {
    await waitUntilReady(proc, target, port);
    const url = `http://127.0.0.1:${port}/webhook`;
    // Warm-up, so what is counted is the compiled hot path, not the JIT compiling it.
    await post(url, makeDeliveries(signingKey, kind, 3000, 'ir-warm'));
    control('--instr=on');
    control('--zero');
    const load = await post(url, makeDeliveries(signingKey, kind, deliveries, 'ir'));
    control('--dump=measured');
    control('--instr=off');
    const summary = existsSync(`${out}.1`)
      ? readFileSync(`${out}.1`, 'utf8').match(/^summary:\s+(\d+)/m)?.[1]
      : undefined;
    return {
      target,
      kind,
      deliveries,
      statuses: load.statuses,
      instructionsPerDelivery: Math.round(Number(summary ?? Number.NaN) / deliveries),
    };
  } finally {
    await proc.stop(60_000);
  }
}

interface CallgrindRun {
  port: number;
  out: string;
  vgdb: string;
  signingKey: string;
  redis: BenchRedis;
}

function startUnderCallgrind(target: Target, run: CallgrindRun): BenchProcess {
  const entry = target === 'baseline' ? 'bench/baseline-server.ts' : 'apps/ingress/src/main.ts';
  const argv = [
    'valgrind',
    '--tool=callgrind',
    '--instr-atstart=no',
    `--vgdb-prefix=${run.vgdb}`,
    `--callgrind-out-file=${run.out}`,
    process.execPath,
    '--conditions=source',
    '--import',
    'tsx',
    entry,
  ];
  const env = {
    PORT: String(run.port),
    HOST: '127.0.0.1',
    SIGNING_KEY: run.signingKey,
    ANTHROPIC_WEBHOOK_SIGNING_KEY: run.signingKey,
    REDIS_URL: run.redis.url,
    REDIS_KEY_PREFIX: `ir${run.port}`,
    LOG_LEVEL: 'info',
  };
  const cwd = target === 'baseline' ? ROOT : appRoot();
  return startCommand(argv, env, `callgrind-${target}`, cwd);
}

/** Two connections: under valgrind more would queue past the ingress's 800 ms Redis deadline. */
function post(url: string, deliveries: ReturnType<typeof makeDeliveries>) {
  return postDeliveries({
    url,
    deliveries,
    connections: 2,
    amount: deliveries.length,
    durationSeconds: 600,
  });
}

/** Resolves when the target under valgrind is ready (slow: minutes on a busy machine). */
async function waitUntilReady(proc: BenchProcess, target: Target, port: number) {
  if (target === 'baseline') await waitForLog(proc, /baseline listening/, 300_000);
  else await waitForHttp(proc, `http://127.0.0.1:${port}/health`, 300_000);
}
