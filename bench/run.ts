/**
 * `pnpm bench`: every scenario in turn, each writing bench/results/<scenario>.json and printing
 * its table. `pnpm bench ingress spawn` runs only the named ones.
 */
import { killAllStarted, pinSelf } from './lib/processes.js';
import { snapshotOfHead } from './lib/snapshot.js';
import { runIngressScenario } from './scenarios/ingress.js';
import { runScaleOutScenario } from './scenarios/scale-out.js';
import { runSpawnScenario } from './scenarios/spawn-latency.js';

const SCENARIOS = {
  ingress: () => runIngressScenario(),
  spawn: () => runSpawnScenario(),
  'scale-out': () => runScaleOutScenario(),
} as const;

type ScenarioName = keyof typeof SCENARIOS;

/** `--head` measures the committed code (a snapshot of HEAD), not the work tree. */
if (process.argv.includes('--head') && !process.env.BENCH_APP_ROOT) {
  const { dir, commit } = snapshotOfHead();
  process.env.BENCH_APP_ROOT = dir;
  process.stdout.write(`measuring commit ${commit} from ${dir}\n`);
}

function chosen(): ScenarioName[] {
  const names = process.argv.slice(2).filter((arg) => arg in SCENARIOS) as ScenarioName[];
  return names.length > 0 ? names : (Object.keys(SCENARIOS) as ScenarioName[]);
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
  await SCENARIOS[name]();
  process.stdout.write(`\n${name}: ${Math.round((Date.now() - t0) / 1000)} s\n`);
}
process.stdout.write(`\nall scenarios: ${Math.round((Date.now() - started) / 1000)} s\n`);
