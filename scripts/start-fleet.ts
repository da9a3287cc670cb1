/**
 * `pnpm start`: the whole fleet on one machine for a first run. Uses REDIS_URL or starts a
 * private redis-server; without INSTAVM_API_KEY it runs workers sandboxed on this machine
 * (SANDBOX_PROVIDER=local) when bubblewrap and `ant` are there, else it provisions against the
 * bundled fake InstaVM and says so. Then runs one ingress and one spawner, and prints where to look.
 */
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import pretty from 'pino-pretty';
import { devAdminToken, devSigningKey, FLEET_DIR, loadDotEnv } from './lib/dev-env.js';
import { chooseLocalProvider } from './lib/local-provider.js';
import { ENTRIES, spawnApp, stopProcess, waitForLine } from './lib/processes.js';
import { hasRedisServer, startLocalRedis } from './lib/redis-server.js';

const children: ChildProcess[] = [];
const say = (text: string) => process.stdout.write(`${text}\n`);

function banner(lines: string[]) {
  const width = Math.max(...lines.map((line) => line.length)) + 4;
  say(`\n${'!'.repeat(width)}`);
  for (const line of lines) say(`! ${line.padEnd(width - 4)} !`);
  say(`${'!'.repeat(width)}\n`);
}

async function redisUrl(): Promise<string> {
  if (process.env.REDIS_URL) return process.env.REDIS_URL;
  if (!hasRedisServer()) {
    throw new Error(
      'REDIS_URL is not set and no redis-server is installed. Install Redis ' +
        '(Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis) or set REDIS_URL.',
    );
  }
  const redis = await startLocalRedis(join(FLEET_DIR, 'redis'));
  children.push(redis.process);
  say(`started a private redis-server at ${redis.url} (data in .fleet/redis)`);
  return redis.url;
}

async function instaVm(): Promise<{ url: string; key: string }> {
  const key = process.env.INSTAVM_API_KEY;
  if (key) return { url: process.env.INSTAVM_API_URL || 'https://api.instavm.io', key };
  const fakeKey = 'fake-instavm-local-key';
  const fake = spawnApp(ENTRIES.fakeInstaVm, {
    FAKE_INSTAVM_PORT: '0',
    FAKE_INSTAVM_API_KEY: fakeKey,
  });
  children.push(fake);
  const line = await waitForLine(fake, /fake InstaVM listening on /);
  const url = line.replace(/^.*listening on /, '').trim();
  banner([
    'INSTAVM_API_KEY is not set: workers are provisioned on the BUNDLED FAKE InstaVM',
    `at ${url}. No real VM starts and no tool call will run.`,
    'Set INSTAVM_API_KEY (and the other variables in .env.example) for real workers.',
  ]);
  return { url, key: fakeKey };
}

function signingKey(): string {
  const configured = process.env.ANTHROPIC_WEBHOOK_SIGNING_KEY;
  if (configured) return configured;
  say('ANTHROPIC_WEBHOOK_SIGNING_KEY is not set: using a local development key (.fleet/dev.env).');
  return devSigningKey();
}

/** Runs a fleet program with its JSON logs made readable. */
function run(entry: string, env: Record<string, string | undefined>): ChildProcess {
  const child = spawnApp(entry, env);
  child.stdout?.pipe(pretty({ colorize: process.stdout.isTTY, destination: 1 }));
  child.stderr?.pipe(process.stderr);
  child.once('exit', (code) => {
    if (!stopping) {
      say(`${entry} exited with code ${code}; stopping the fleet`);
      void stop(1);
    }
  });
  children.push(child);
  return child;
}

let stopping = false;
async function stop(code: number) {
  stopping = true;
  for (const child of [...children].reverse()) await stopProcess(child);
  process.exit(code);
}

async function main() {
  loadDotEnv();
  const env: Record<string, string | undefined> = { ...process.env };
  env.REDIS_URL = await redisUrl();
  // Without an InstaVM key, real workers on this machine when it can sandbox them and has ant.
  const local = chooseLocalProvider(env);
  if (local.lines.length > 0) banner(local.lines);
  if (local.use) {
    Object.assign(env, local.env);
  } else {
    env.SANDBOX_PROVIDER = 'instavm';
    const provider = await instaVm();
    env.INSTAVM_API_URL = provider.url;
    env.INSTAVM_API_KEY = provider.key;
  }
  env.ANTHROPIC_WEBHOOK_SIGNING_KEY = signingKey();
  if (!env.ANTHROPIC_ENVIRONMENT_ID) {
    env.ANTHROPIC_ENVIRONMENT_ID = 'env_local_demo';
    say(
      'ANTHROPIC_ENVIRONMENT_ID is not set: using env_local_demo (workers could not poll for real).',
    );
  }
  env.PORT = env.PORT || '8000';
  env.ADMIN_TOKEN = env.ADMIN_TOKEN || devAdminToken();
  env.ADMIN_PORT = env.ADMIN_PORT || '8001';

  run(ENTRIES.ingress, env);
  run(ENTRIES.spawner, env);
  const base = `http://127.0.0.1:${env.PORT}`;
  await waitForHealth(base);
  say('');
  say(`Webhook:      ${base}/webhook   (point your CMA webhook here, through a public HTTPS URL)`);
  const admin = `http://127.0.0.1:${env.ADMIN_PORT}`;
  say(`Status page:  ${admin}/   (any user name; password: ADMIN_TOKEN, see .fleet/dev.env)`);
  say(`Dashboard:    ${admin}/admin/queues`);
  say('Workers:      pnpm fleet workers');
  say('Try it:       pnpm send-test        (in another terminal)');
  say('Stop:         Ctrl-C');
  say('');
}

async function waitForHealth(base: string) {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const ok = await fetch(`${base}/health`).then(
      (response) => response.ok,
      () => false,
    );
    if (ok) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`the ingress did not become healthy at ${base}/health within 30 s`);
}

process.on('SIGINT', () => void stop(0));
process.on('SIGTERM', () => void stop(0));
main().catch((error: Error) => {
  process.stderr.write(`pnpm start: ${error.message}\n`);
  void stop(1);
});
