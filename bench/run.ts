/**
 * `pnpm bench`: every scenario in turn, each writing bench/results/<scenario>.json and printing
 * its table, then the plots in docs/benchmarks/. `pnpm bench ingress spawn` runs only the named
 * ones; `pnpm bench profile` profiles the ingress, `pnpm bench profile-spawner` the spawner,
 * and `pnpm bench instructions` counts the ingress's instructions per delivery under valgrind
 * (none of them is part of the suite); `--head` measures a snapshot of the last commit instead
 * of the work tree, `BENCH_AT=<commit>` one of any commit.
 */
import { killAllStarted, pinSelf } from './lib/processes.js';
import { snapshotOf, snapshotOfHead } from './lib/snapshot.js';
import { writePlots } from './plot.js';
import { runIngressScenario } from './scenarios/ingress.js';
import { runInstructionCount } from './scenarios/instructions.js';
import { runIngressProfile } from './scenarios/profile-ingress.js';
import { runSpawnerProfile } from './scenarios/profile-spawner.js';
import { runScaleOutScenario } from './scenarios/scale-out.js';
import { runSpawnScenario } from './scenarios/spawn-latency.js';

const SCENARIOS = {
  ingress: () => runIngressScenario(),
  spawn: () => runSpawnScenario(),
  'scale-out': () => runScaleOutScenario(),
} as const;

/** Run only when named: not part of the measured suite. */
const EXTRAS = {
  profile: () => runIngressProfile(),
  'profile-spawner': () => runSpawnerProfile(),
  instructions: () => runInstructionCount(),
} as const;

const ALL = { ...SCENARIOS, ...EXTRAS };
type ScenarioName = keyof typeof ALL;

function chosen(): ScenarioName[] {
  const names = process.argv.slice(2).filter((arg) => arg in ALL) as ScenarioName[];
  return names.length > 0 ? names : (Object.keys(SCENARIOS) as ScenarioName[]);
}

if (process.env.BENCH_AT && !process.env.BENCH_APP_ROOT) {
  const { dir, commit } = snapshotOf(process.env.BENCH_AT);
  process.env.BENCH_APP_ROOT = dir;
  process.stdout.write(`measuring commit ${commit} from ${dir}\n`);
} else if (process.argv.includes('--head') && !process.env.BENCH_APP_ROOT) {
  const { dir, commit } = snapshotOfHead();
  process.env.BENCH_APP_ROOT = dir;
  process.stdout.write(`measuring commit ${commit} from ${dir}\n`);
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    killAllStarted();
    process.exit(130);
  });
}

// The load generator (this process) stays on core 1, away from the target on core 0.
pinSelf('1');
const started = Date.now();
for (const name of chosen()) {
  const t0 = Date.now();
  await ALL[name]();
  process.stdout.write(`\n${name}: ${Math.round((Date.now() - t0) / 1000)} s\n`);
}
// Only a suite run redraws the plots: the extras measure something else.
if (chosen().some((name) => name in SCENARIOS)) {
  for (const file of writePlots()) process.stdout.write(`plot: ${file}\n`);
}
process.stdout.write(`\nall: ${Math.round((Date.now() - started) / 1000)} s\n`);
