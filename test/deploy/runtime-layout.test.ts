import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import getPort from 'get-port';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, stopProcess, waitForLine } from '../../scripts/lib/processes.js';
import { realLookingSecrets } from '../helpers/fleet.js';
import { startTestRedis, type TestRedis } from '../helpers/redis.js';
import { runStartedEvent, signedHeaders } from '../helpers/sign.js';

// The runtime image's file layout, made without Docker by the Dockerfile's own build steps: the
// build context copied to a scratch folder (what `COPY . .` sees), `pnpm install
// --frozen-lockfile`, then scripts/build-runtime.sh per program. The programs are then started
// the way the image starts them: `node dist/main.js`, no tsx, no "source" condition, no
// devDependencies, no TypeScript sources.

const run = promisify(execFile);
const APPS = ['ingress', 'spawner', 'fake-instavm'] as const;
type App = (typeof APPS)[number];

const secrets = realLookingSecrets();
let scratch: string;
let out: string;
let redis: TestRedis;
const running: ChildProcess[] = [];

/**
 * Copies the build context: the files git tracks or would track (.gitignore already keeps out
 * what .dockerignore does: node_modules, dist, .env), as they are in the working tree.
 */
async function copyBuildContext(to: string): Promise<void> {
  const { stdout } = await run(
    'git',
    ['ls-files', '-z', '--cached', '--others', '--exclude-standard'],
    {
      cwd: ROOT,
      maxBuffer: 16 * 1024 * 1024,
    },
  );
  for (const path of stdout.split('\0').filter(Boolean)) {
    if (!existsSync(join(ROOT, path))) continue; // deleted in the working tree
    mkdirSync(dirname(join(to, path)), { recursive: true });
    cpSync(join(ROOT, path), join(to, path), { preserveTimestamps: true });
  }
}

/** Runs one build step in `cwd`; a failure carries the step's output. */
async function step(cwd: string, command: string, args: string[]): Promise<void> {
  try {
    await run(command, args, { cwd, maxBuffer: 64 * 1024 * 1024 });
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    throw new Error(`${command} ${args.join(' ')} failed:\n${stdout}\n${stderr}`);
  }
}

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'cma-runtime-'));
  const context = join(scratch, 'repo');
  out = join(scratch, 'out');
  redis = await startTestRedis();
  await copyBuildContext(context);
  // --offline: the store of this machine's own install has every package; CI has no other.
  await step(context, 'pnpm', ['install', '--frozen-lockfile', '--offline']);
  await step(context, 'sh', ['scripts/build-runtime.sh', out, ...APPS]);
}, 150_000);

afterAll(async () => {
  await Promise.all(running.map((child) => stopProcess(child)));
  await redis?.close();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

/** Starts an app from its layout as the image's CMD does, with only `env` and PATH. */
function startFromLayout(app: App, env: Record<string, string>): ChildProcess {
  const child = spawn('node', ['dist/main.js'], {
    cwd: join(out, app),
    env: { PATH: process.env.PATH, NODE_ENV: 'production', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.push(child);
  child.stderr?.resume();
  return child;
}

/** The image's HEALTHCHECK command, run in the layout; resolves with its exit code. */
async function healthcheck(app: App, env: Record<string, string>): Promise<number> {
  try {
    await run('node', ['healthcheck.mjs', app], {
      cwd: join(out, app),
      env: { PATH: process.env.PATH, ...env },
    });
    return 0;
  } catch (error) {
    return (error as { code?: number }).code ?? -1;
  }
}

describe('the runtime layout built by scripts/build-runtime.sh', () => {
  it('holds compiled code and production dependencies only', () => {
    for (const app of APPS) {
      const dir = join(out, app);
      expect(readdirSync(dir).sort()).toEqual([
        'dist',
        'healthcheck.mjs',
        'node_modules',
        'package.json',
      ]);
      expect(existsSync(join(dir, 'dist/main.js'))).toBe(true);
      for (const devOnly of ['typescript', 'tsx', 'vitest', '@biomejs/biome', 'yaml']) {
        expect(existsSync(join(dir, 'node_modules', devOnly))).toBe(false);
      }
    }
    const shared = join(out, 'ingress/node_modules/@cma-fleet/shared');
    expect(readdirSync(shared)).toContain('dist');
    expect(existsSync(join(shared, 'src'))).toBe(false);
  });

  it('runs the programs: a delivery becomes a VM, health checks pass, SIGTERM drains', async () => {
    const fake = startFromLayout('fake-instavm', {
      FAKE_INSTAVM_PORT: '0',
      FAKE_INSTAVM_API_KEY: secrets.instavmApiKey,
    });
    const fakeUrl = (await waitForLine(fake, /^fake InstaVM listening on /)).split(' ').pop()!;

    const port = await getPort();
    const common = { REDIS_URL: redis.url, REDIS_KEY_PREFIX: 'layout', LOG_LEVEL: 'info' };
    const ingressEnv = {
      ...common,
      PORT: String(port),
      HOST: '127.0.0.1',
      ANTHROPIC_WEBHOOK_SIGNING_KEY: secrets.signingKey,
    };
    const ingress = startFromLayout('ingress', ingressEnv);
    const spawnerHealthPort = String(await getPort());
    const spawner = startFromLayout('spawner', {
      ...common,
      ANTHROPIC_ENVIRONMENT_ID: 'env_layout',
      INSTAVM_API_KEY: secrets.instavmApiKey,
      INSTAVM_API_URL: fakeUrl,
      // As the image sets it.
      SPAWNER_HEALTH_PORT: spawnerHealthPort,
    });
    await waitForLine(ingress, /"msg":"ingress listening"/);
    await waitForLine(spawner, /"msg":"spawner consuming"/);
    ingress.stdout?.resume();
    spawner.stdout?.resume();

    const health = await fetch(`http://127.0.0.1:${port}/health`);
    expect(health.status).toBe(200);

    const body = runStartedEvent('whe_layout', 'sesn_layout');
    const delivery = await fetch(`http://127.0.0.1:${port}/webhook`, {
      method: 'POST',
      headers: signedHeaders(secrets.signingKey, 'whe_layout', body),
      body,
    });
    expect(delivery.status).toBe(200);
    await expect
      .poll(async () => {
        const answer = (await (await fetch(`${fakeUrl}/_fake/vms`)).json()) as {
          vms: Array<{ metadata: Record<string, string> }>;
        };
        return answer.vms.map((vm) => vm.metadata.session_id);
      })
      .toEqual(['sesn_layout']);

    // The images' HEALTHCHECK commands, against the programs they would watch.
    expect(await healthcheck('ingress', { PORT: String(port) })).toBe(0);
    expect(await healthcheck('spawner', { SPAWNER_HEALTH_PORT: spawnerHealthPort })).toBe(0);
    expect(await healthcheck('spawner', { REDIS_URL: redis.url })).toBe(0);
    expect(await healthcheck('fake-instavm', { FAKE_INSTAVM_PORT: new URL(fakeUrl).port })).toBe(0);

    // `docker stop` sends SIGTERM (tini passes it on): both drain and exit 0, not by the signal.
    const exits = [ingress, spawner].map(
      (child) =>
        new Promise<string>((resolve) => {
          child.once('exit', (code, signal) => resolve(`${code ?? signal}`));
        }),
    );
    ingress.kill('SIGTERM');
    spawner.kill('SIGTERM');
    expect(await Promise.all(exits)).toEqual(['0', '0']);
  });

  it('reports a spawner unhealthy when its liveness port, else Redis, is silent', async () => {
    const closedPort = String(await getPort());
    expect(await healthcheck('spawner', { SPAWNER_HEALTH_PORT: closedPort })).toBe(1);
    expect(await healthcheck('spawner', { REDIS_URL: `redis://127.0.0.1:${closedPort}` })).toBe(1);
  });
});
