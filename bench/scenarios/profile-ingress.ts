import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { newSigningKey } from '../../test/helpers/sign.js';
import { monotonicUs, printProfile, summarizeProfile } from '../lib/cpu-profile.js';
import { makeDeliveries } from '../lib/deliveries.js';
import { type LoadResult, postDeliveries } from '../lib/load.js';
import { postPaced } from '../lib/paced.js';
import { RESULTS_DIR } from '../lib/processes.js';
import { startBenchRedis } from '../lib/redis.js';
import { writeResult } from '../lib/results.js';
import { DEFAULT_INGRESS, startIngress } from './ingress.js';

const PROFILES_DIR = join(RESULTS_DIR, 'profiles');

/**
 * `pnpm bench profile`: the ingress under accepted deliveries (16 connections, one core) with
 * V8's sampling profiler on; sums the samples of the loaded window by package, function and
 * call tree. PROFILE_RATE=3000 sends that many deliveries per second evenly paced instead (the
 * open-loop case, where deliveries batch less). PROFILE_ENV_<NAME>=value sets NAME in the
 * ingress's environment (LOG_LEVEL=warn...).
 */
export async function runIngressProfile(seconds = 8, connections = 16) {
  const rate = process.env.PROFILE_RATE ? Number(process.env.PROFILE_RATE) : undefined;
  rmSync(PROFILES_DIR, { recursive: true, force: true });
  mkdirSync(PROFILES_DIR, { recursive: true });
  const signingKey = newSigningKey();
  const redis = await startBenchRedis('profile', '1');
  let window = { from: 0, to: 0 };
  let answersPerSecond = 0;
  try {
    const ingress = await startIngress(redis, signingKey, {
      ...DEFAULT_INGRESS,
      nodeFlags: ['--cpu-prof', `--cpu-prof-dir=${PROFILES_DIR}`, '--cpu-prof-interval=250'],
      env: profileEnv(),
    });
    const warm = makeDeliveries(signingKey, 'accepted', 30_000, 'prof-warm');
    await postDeliveries({ url: ingress.url, deliveries: warm, connections, durationSeconds: 2 });
    const deliveries = makeDeliveries(signingKey, 'accepted', seconds * 15_000, 'prof');
    const from = monotonicUs();
    const load: LoadResult = rate
      ? await postPaced({ url: ingress.url, deliveries, rate, durationSeconds: seconds })
      : await postDeliveries({
          url: ingress.url,
          deliveries,
          connections,
          durationSeconds: seconds,
        });
    window = { from, to: monotonicUs() };
    answersPerSecond = load.answeredPerSecond;
    await ingress.proc.stop();
  } finally {
    await redis.stop();
  }
  const file = readdirSync(PROFILES_DIR).find((name) => name.endsWith('.cpuprofile'));
  if (!file) throw new Error(`the ingress wrote no profile into ${PROFILES_DIR}`);
  const summary = summarizeProfile(join(PROFILES_DIR, file), window.from, window.to);
  const env = profileEnv();
  writeResult('profile-ingress', {
    scenario: 'profile-ingress',
    env,
    load: rate ? `${rate}/s evenly paced` : `${connections} connections, closed loop`,
    answersPerSecond,
    profile: join(PROFILES_DIR, file),
    windowUs: window,
    summary,
  });
  printProfile('Ingress', `${answersPerSecond}/s`, summary);
  return summary;
}

function profileEnv(): Record<string, string> {
  const prefix = 'PROFILE_ENV_';
  return Object.fromEntries(
    Object.entries(process.env)
      .filter(([name, value]) => name.startsWith(prefix) && value !== undefined)
      .map(([name, value]) => [name.slice(prefix.length), value ?? '']),
  );
}
