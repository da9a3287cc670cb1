import { mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { monotonicUs, printProfile, summarizeProfile } from '../lib/cpu-profile.js';
import { makeDeliveries, sessionOf } from '../lib/deliveries.js';
import { startFleet } from '../lib/fleet.js';
import { postPaced } from '../lib/paced.js';
import { RESULTS_DIR } from '../lib/processes.js';
import { writeResult } from '../lib/results.js';
import { waitForRunning } from './spawn-latency.js';

const PROFILES_DIR = join(RESULTS_DIR, 'spawner-profiles');

/**
 * `pnpm bench profile-spawner`: one spawner (default 10 slots) with V8's sampling profiler on,
 * under `rate` new sessions per second, evenly paced, against a 0 ms fake InstaVM; sums the
 * samples from the first delivery to the last worker running by package, function and call
 * tree. Not part of the suite: the profiler slows the spawner.
 */
export async function runSpawnerProfile(rate = 100, seconds = 4) {
  rmSync(PROFILES_DIR, { recursive: true, force: true });
  mkdirSync(PROFILES_DIR, { recursive: true });
  const fleet = await startFleet({
    name: 'profile-spawner',
    createDelayMs: 0,
    spawners: 1,
    concurrency: 10,
    ingress: true,
    spawnerNodeFlags: ['--cpu-prof', `--cpu-prof-dir=${PROFILES_DIR}`, '--cpu-prof-interval=250'],
  });
  let window = { from: 0, to: 0 };
  let running = 0;
  try {
    const warm = makeDeliveries(fleet.signingKey, 'accepted', 40, 'prof-warm');
    await postPaced({ url: fleet.webhookUrl, deliveries: warm, rate: 20, durationSeconds: 2 });
    await waitForRunning(fleet, warm.map(sessionOf), 30_000);
    const deliveries = makeDeliveries(fleet.signingKey, 'accepted', rate * seconds, 'prof');
    const from = monotonicUs();
    await postPaced({ url: fleet.webhookUrl, deliveries, rate, durationSeconds: seconds });
    running = (await waitForRunning(fleet, deliveries.map(sessionOf), 30_000)).size;
    window = { from, to: monotonicUs() };
  } finally {
    await fleet.close();
  }
  // The main thread's profile is the biggest; a loader thread writes a small one too.
  const [file] = readdirSync(PROFILES_DIR)
    .filter((name) => name.endsWith('.cpuprofile'))
    .map((name) => join(PROFILES_DIR, name))
    .sort((a, b) => statSync(b).size - statSync(a).size);
  if (!file) throw new Error(`the spawner wrote no profile into ${PROFILES_DIR}`);
  const summary = summarizeProfile(file, window.from, window.to);
  writeResult('profile-spawner', {
    scenario: 'profile-spawner',
    rate,
    seconds,
    running,
    profile: file,
    windowUs: window,
    summary,
  });
  printProfile('Spawner', `${running} workers`, summary);
  return summary;
}
