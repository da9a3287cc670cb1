import { join } from 'node:path';
import { findExecutable, missingSandboxTools, workerPollArgs } from '@cma-fleet/spawner';
import { FLEET_DIR } from './dev-env.js';

export interface LocalChoice {
  /** True when `pnpm start` should run workers sandboxed on this machine. */
  use: boolean;
  /** Variables to add to the fleet's environment when `use` is true. */
  env: Record<string, string>;
  /** What to tell the user, whichever way it went. */
  lines: string[];
}

/** What a local worker runs, for the message shown when it cannot run here. */
function wouldRun(env: Record<string, string | undefined>): string {
  const args = workerPollArgs({
    workdir: '<its own work dir>',
    maxIdle: env.WORKER_MAX_IDLE || '30s',
  });
  return `srt (bubblewrap sandbox) -- ant ${args.join(' ')}`;
}

/**
 * Whether `pnpm start` without INSTAVM_API_KEY can run real workers on this machine: the
 * sandbox tools and `ant` must be on PATH. An explicit SANDBOX_PROVIDER always wins.
 */
export function chooseLocalProvider(env: Record<string, string | undefined>): LocalChoice {
  const none = { use: false, env: {} };
  if (env.SANDBOX_PROVIDER === 'instavm') return { ...none, lines: [] };
  const explicit = env.SANDBOX_PROVIDER === 'local';
  if (env.INSTAVM_API_KEY && !explicit) return { ...none, lines: [] };
  const path = env.PATH ?? '';
  const missing = missingSandboxTools(path);
  if (process.platform !== 'linux' || missing.length > 0) {
    return {
      ...none,
      lines: [
        'Local sandboxed workers need Linux with bubblewrap, socat and ripgrep',
        `(missing: ${missing.join(', ') || process.platform}). Install: apt-get install bubblewrap socat ripgrep`,
      ],
    };
  }
  if (!findExecutable('ant', path)) {
    return {
      ...none,
      lines: [
        '`ant` is not on PATH, so no local worker can start. Install the Anthropic CLI from',
        'https://github.com/anthropics/anthropic-cli/releases and put `ant` on PATH.',
        `Each worker would run: ${wouldRun(env)}`,
      ],
    };
  }
  return localEnv(env);
}

function localEnv(env: Record<string, string | undefined>): LocalChoice {
  const runtimeDir = env.LOCAL_RUNTIME_DIR || join(FLEET_DIR, 'workers');
  const lines = [
    'SANDBOX_PROVIDER=local: workers run on THIS machine, each in a bubblewrap sandbox',
    `(work dirs and logs in ${runtimeDir}).`,
    `Each worker runs: ${wouldRun(env)}`,
  ];
  const added: Record<string, string> = {
    SANDBOX_PROVIDER: 'local',
    LOCAL_RUNTIME_DIR: runtimeDir,
  };
  const key = env.ANTHROPIC_ENVIRONMENT_KEY;
  if (!key || key === 'ANTHROPIC_ENV_KEY') {
    // Lets the fleet start; a worker with it is turned away by the API, which its log shows.
    added.ANTHROPIC_ENVIRONMENT_KEY = 'environment-key-not-set';
    lines.push(
      'ANTHROPIC_ENVIRONMENT_KEY is not set: set the REAL key in .env for workers that can poll',
      '(it stays with the spawner; each sandbox only sees a sentinel).',
    );
  }
  return { use: true, env: added, lines };
}
