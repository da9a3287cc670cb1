import { mkdirSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import type { SpawnerConfig } from './config.js';
import { LocalProvider, type MaskedCredential } from './providers/local-provider.js';
import { assertSandboxAvailable } from './providers/local-sandbox.js';

/**
 * The local provider as configured. Fails at start-up (fail closed) when this host cannot
 * sandbox a worker, naming what to install, so no worker could ever run unsandboxed.
 * `env` supplies PATH (where `ant` is found), the working directory's secrets to hide, and
 * NODE_EXTRA_CA_CERTS, which the sandbox runtime's proxy uses to verify upstream hosts.
 */
export function createLocalProvider(
  config: SpawnerConfig,
  env: Record<string, string | undefined> = process.env,
  cwd: string = process.cwd(),
): LocalProvider {
  const path = env.PATH ?? '/usr/local/bin:/usr/bin:/bin';
  assertPrivateDir(config.LOCAL_RUNTIME_DIR);
  assertSandboxAvailable(path);
  const apiHost = new URL(config.ANTHROPIC_BASE_URL).hostname;
  return new LocalProvider({
    fleet: config.REDIS_KEY_PREFIX,
    runtimeDir: config.LOCAL_RUNTIME_DIR,
    lifetimeSeconds: config.WORKER_LIFETIME_SECONDS,
    maxWorkers: config.LOCAL_MAX_WORKERS,
    maxIdle: config.WORKER_MAX_IDLE,
    egressDomains: [apiHost, ...config.WORKER_EGRESS_DOMAINS],
    injectHosts: [apiHost],
    environmentKey: config.ANTHROPIC_ENVIRONMENT_KEY,
    maskedEnv: maskedCredentials(config, env),
    denyRead: [
      homedir(),
      join(homedir(), '.ssh'),
      resolve(cwd, '.env'),
      resolve(cwd, '.fleet'),
      ...config.LOCAL_DENY_READ,
    ],
    path,
    limits: { memoryMb: config.WORKER_MEMORY_MB, maxProcesses: config.LOCAL_MAX_PROCESSES },
    runtimeEnv: env.NODE_EXTRA_CA_CERTS ? { NODE_EXTRA_CA_CERTS: env.NODE_EXTRA_CA_CERTS } : {},
  });
}

/**
 * The runtime dir holds every worker's policy and state: it must be ours and closed to others
 * (a default under /tmp could have been made by another user first).
 */
function assertPrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const stat = statSync(dir);
  const mine = process.getuid === undefined || stat.uid === process.getuid();
  if (!mine || (stat.mode & 0o022) !== 0) {
    throw new Error(
      `LOCAL_RUNTIME_DIR ${dir} must belong to this user and not be writable by others ` +
        '(chmod 700 it, or set LOCAL_RUNTIME_DIR to a directory of your own)',
    );
  }
}

/**
 * LOCAL_MASKED_ENV's NAME@host entries, with the spawner's value of each NAME. Refuses a name
 * the spawner does not have, or a host the worker may not reach (the value could never be used).
 */
export function maskedCredentials(
  config: SpawnerConfig,
  env: Record<string, string | undefined>,
): MaskedCredential[] {
  const reachable = [new URL(config.ANTHROPIC_BASE_URL).hostname, ...config.WORKER_EGRESS_DOMAINS];
  const byName = new Map<string, MaskedCredential>();
  for (const entry of config.LOCAL_MASKED_ENV) {
    const [name = '', host = ''] = entry.split('@');
    const value = env[name];
    if (!value) throw new Error(`LOCAL_MASKED_ENV names ${name}, which the spawner does not have`);
    if (!reachable.includes(host)) {
      throw new Error(`LOCAL_MASKED_ENV: ${host} (for ${name}) must be in WORKER_EGRESS_DOMAINS`);
    }
    const credential = byName.get(name) ?? { name, value, injectHosts: [] };
    credential.injectHosts.push(host);
    byName.set(name, credential);
  }
  return [...byName.values()];
}
