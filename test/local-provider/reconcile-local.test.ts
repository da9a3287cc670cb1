import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { queuePrefix, WorkerStateStore } from '@cma-fleet/shared';
import {
  descendantsOf,
  isProcessAlive,
  LocalProvider,
  type LocalProviderSettings,
} from '@cma-fleet/spawner';
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { startTestFleet, type TestFleet } from '../helpers/fleet.js';
import { postRun } from '../helpers/runs.js';
import { fakeAntBin, sandboxSkipReason, waitForFile } from './helpers.js';

const skipReason = sandboxSkipReason();
if (skipReason) console.warn(`SKIPPED local reconciler tests: ${skipReason}`);

describe.skipIf(skipReason !== undefined)('the reconciler with local workers', () => {
  let fleet: TestFleet | undefined;
  let redis: Redis | undefined;
  const originalPath = process.env.PATH;
  const temporary: string[] = [];
  const bin = fakeAntBin();
  temporary.push(bin);

  async function start(extraEnv: Record<string, string>) {
    const runtimeDir = mkdtempSync(join(tmpdir(), 'cma-reconcile-workers-'));
    temporary.push(runtimeDir);
    process.env.PATH = `${bin}:${originalPath}`;
    fleet = await startTestFleet({
      LOG_LEVEL: 'silent',
      SANDBOX_PROVIDER: 'local',
      ANTHROPIC_ENVIRONMENT_KEY: `sk-ant-oat01-${randomBytes(24).toString('base64url')}`,
      LOCAL_RUNTIME_DIR: runtimeDir,
      RECONCILE_INTERVAL_MS: '200',
      ...extraEnv,
    });
    redis = new Redis(fleet.redis.url);
    return { runtimeDir, store: new WorkerStateStore(redis, queuePrefix('e2e')) };
  }

  /** A worker made outside the fleet's spawn path, as a crash before the state write leaves. */
  function sideProvider(runtimeDir: string, fleetName: string) {
    const settings: LocalProviderSettings = {
      fleet: fleetName,
      runtimeDir,
      lifetimeSeconds: 600,
      maxWorkers: 8,
      maxIdle: '30s',
      egressDomains: ['api.anthropic.com'],
      injectHosts: ['api.anthropic.com'],
      environmentKey: `sk-ant-oat01-${randomBytes(24).toString('base64url')}`,
      denyRead: [],
      path: `${bin}:${originalPath}`,
      killGraceMs: 2000,
    };
    return new LocalProvider(settings);
  }

  async function sleeper(provider: LocalProvider, session: string) {
    const machine = await provider.create({
      sessionId: session,
      jobTag: session,
      env: { FAKE_ANT_SLEEP: '300' },
    });
    await provider.prepare(machine);
    await provider.applyEgress(machine);
    await provider.startWorker(machine);
    await waitForFile(join(provider.paths(machine.id).work, 'record.json'));
    const { pid } = JSON.parse(readFileSync(provider.paths(machine.id).state, 'utf8')) as {
      pid: number;
    };
    return { machine, tree: [pid, ...descendantsOf(pid)] };
  }

  afterAll(() => rmSync(bin, { recursive: true, force: true }));
  afterEach(async () => {
    redis?.disconnect();
    await fleet?.close();
    process.env.PATH = originalPath;
    for (const dir of temporary.splice(1)) rmSync(dir, { recursive: true, force: true });
  });

  it('marks a session exited once its local worker has ended by itself', async () => {
    const { store } = await start({});
    expect((await postRun(fleet!.ingress.url, fleet!.secrets.signingKey, 'sesn_idle')).status).toBe(
      200,
    );
    // The fake ant records what it got and exits at once, like a poller with nothing to do.
    await expect
      .poll(async () => (await store.get('sesn_idle'))?.status, { timeout: 20_000 })
      .toBe('exited');
    const history = await store.history('sesn_idle');
    expect(history.map((change) => change.status)).toContain('running');
  });

  it("kills an orphan local worker of this fleet after the grace, never another fleet's", async () => {
    // The grace outlasts a sandbox start, so the orphan is a running worker when it is killed.
    const { runtimeDir } = await start({ RECONCILE_ORPHAN_GRACE_MS: '4000' });
    const ours = sideProvider(runtimeDir, 'e2e');
    const theirs = sideProvider(runtimeDir, 'another-fleet');
    const orphan = await sleeper(ours, 'sesn_orphan');
    const spared = await sleeper(theirs, 'sesn_theirs');

    await expect
      .poll(async () => (await ours.get(orphan.machine.id))?.status, { timeout: 15_000 })
      .toBe('killed');
    expect(orphan.tree.filter((pid) => isProcessAlive(pid, undefined))).toEqual([]);
    expect(await theirs.get(spared.machine.id)).toMatchObject({ alive: true, status: 'running' });
    expect(spared.tree.every((pid) => isProcessAlive(pid, undefined))).toBe(true);
    await theirs.kill(spared.machine.id);
  });
});
