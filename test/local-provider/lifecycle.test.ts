import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  assertSandboxAvailable,
  createWorkerCgroups,
  descendantsOf,
  isProcessAlive,
  LocalProvider,
  type LocalProviderSettings,
  removeWorkerCgroups,
  SandboxUnavailableError,
  type WorkerMachine,
} from '@cma-fleet/spawner';
import { afterAll, describe, expect, it } from 'vitest';
import { fakeAntBin, sandboxSkipReason, waitForFile } from './helpers.js';

const skipReason = sandboxSkipReason();
if (skipReason) console.warn(`SKIPPED local worker lifecycle tests: ${skipReason}`);

const temporary: string[] = [];
const bin = fakeAntBin();
temporary.push(bin);

function provider(overrides: Partial<LocalProviderSettings> = {}): LocalProvider {
  const runtimeDir = mkdtempSync(join(tmpdir(), 'cma-workers-'));
  temporary.push(runtimeDir);
  return new LocalProvider({
    fleet: 'lifecycle',
    runtimeDir,
    lifetimeSeconds: 600,
    maxWorkers: 4,
    maxIdle: '30s',
    egressDomains: ['api.anthropic.com'],
    injectHosts: ['api.anthropic.com'],
    environmentKey: `sk-ant-oat01-${randomBytes(24).toString('base64url')}`,
    denyRead: [],
    path: `${bin}:${process.env.PATH}`,
    killGraceMs: 2_000,
    ...overrides,
  });
}

/** A worker whose fake `ant` sleeps (with a `sleep` child) until it is killed. */
async function sleepingWorker(p: LocalProvider, jobTag = '1', seconds = '300') {
  const machine = await p.create({
    sessionId: `sesn_${jobTag}`,
    jobTag,
    env: { FAKE_ANT_SLEEP: seconds },
  });
  await p.prepare(machine);
  await p.applyEgress(machine);
  await p.startWorker(machine);
  await waitForFile(join(p.paths(machine.id).work, 'record.json'));
  return machine;
}

function pidOf(p: LocalProvider, machine: WorkerMachine): number {
  const state = JSON.parse(readFileSync(p.paths(machine.id).state, 'utf8')) as { pid: number };
  return state.pid;
}

/** Running (a zombie awaiting its parent's wait() has already ended). */
function alive(pid: number): boolean {
  return isProcessAlive(pid, undefined);
}

afterAll(() => {
  for (const dir of temporary) rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(skipReason !== undefined)('local workers: start, adopt, kill, lifetime', () => {
  it('kills the whole process tree of a worker and then reports it gone', async () => {
    const p = provider();
    const machine = await sleepingWorker(p);
    const leader = pidOf(p, machine);
    const tree = [leader, ...descendantsOf(leader)];
    // timeout, the runtime (node), bubblewrap, the seccomp helper, node (fake ant), sleep...
    expect(tree.length).toBeGreaterThanOrEqual(5);

    await p.kill(machine.id);

    expect(tree.filter(alive)).toEqual([]);
    expect(await p.get(machine.id)).toMatchObject({ alive: false, status: 'killed' });
    expect(await p.listOurs()).toEqual([]);
    expect(await p.findByJob('1')).toBeUndefined();
  });

  it('ends a worker when its lifetime is over', async () => {
    const p = provider({ lifetimeSeconds: 5 });
    const machine = await p.create({
      sessionId: 'sesn_l',
      jobTag: 'l',
      env: { FAKE_ANT_SLEEP: '300' },
    });
    await p.prepare(machine);
    await p.applyEgress(machine);
    await p.startWorker(machine); // returns once the sandbox runs
    const leader = pidOf(p, machine);
    expect(await p.get(machine.id)).toMatchObject({ alive: true, status: 'running' });
    const tree = [leader, ...descendantsOf(leader)];

    // The fake ant would sleep 300 s; the lifetime (5 s, plus the kill grace) ends it first.
    await expect.poll(() => tree.filter(alive), { timeout: 25_000 }).toEqual([]);
    expect(await p.get(machine.id)).toMatchObject({ alive: false, status: 'exited' });
    expect(Date.now() - (machine.createdAt ?? 0)).toBeLessThan(25_000);

    // Nobody kills a worker that ended by itself: the next create cleans up after it.
    const next = await p.create({ sessionId: 'sesn_next', jobTag: 'n', env: {} });
    expect(existsSync(p.paths(machine.id).work)).toBe(false);
    expect(existsSync(p.paths(machine.id).log)).toBe(true);
    await p.kill(next.id);
  });

  it('lets a retried job find its live worker, and a repeated start is a no-op', async () => {
    const p = provider();
    const machine = await sleepingWorker(p, '42');
    const leader = pidOf(p, machine);

    const adopted = await p.findByJob('42');
    expect(adopted).toMatchObject({
      id: machine.id,
      alive: true,
      status: 'running',
      metadata: { role: 'cma-worker', fleet: 'lifecycle', session_id: 'sesn_42', job: '42' },
    });
    await p.applyEgress(adopted!);
    await p.startWorker(adopted!);
    expect(pidOf(p, machine)).toBe(leader);
    expect(await p.findByJob('43')).toBeUndefined();
    await p.kill(machine.id);
  });

  it('lists only live workers of its own fleet, read-only', async () => {
    const p = provider();
    const runtimeDir = p.paths('x').root.replace(/\/x$/, '');
    const otherFleet = provider({ runtimeDir, fleet: 'another' });
    const ours = await sleepingWorker(p, '7');
    const theirs = await otherFleet.create({ sessionId: 'sesn_other', jobTag: '7', env: {} });

    expect((await p.listOurs()).map((m) => m.id)).toEqual([ours.id]);
    expect((await otherFleet.listOurs()).map((m) => m.id)).toEqual([theirs.id]);
    expect(await p.get('lw-does-not-exist')).toBeUndefined();
    await p.kill(ours.id);
    await otherFleet.kill(theirs.id);
  });

  it('refuses a worker beyond the per-host cap', async () => {
    const p = provider({ maxWorkers: 1 });
    const first = await p.create({ sessionId: 'sesn_a', jobTag: 'a', env: {} });
    await expect(p.create({ sessionId: 'sesn_b', jobTag: 'b', env: {} })).rejects.toThrow(
      /already runs 1 local workers \(LOCAL_MAX_WORKERS is 1\)/,
    );
    await p.kill(first.id);
    await expect(p.create({ sessionId: 'sesn_b', jobTag: 'b', env: {} })).resolves.toMatchObject({
      alive: true,
    });
  });
});

/** Why per-worker cgroups cannot be made here (not root, no delegation), or undefined. */
function cgroupSkipReason(): string | undefined {
  const probe = `lw-probe-${randomBytes(3).toString('hex')}`;
  const made = createWorkerCgroups(probe, { memoryMb: 64, maxProcesses: 64 });
  removeWorkerCgroups(probe);
  return made ? undefined : 'no writable cgroups on this host';
}
const limitsSkipReason = skipReason ?? cgroupSkipReason();
if (limitsSkipReason) console.warn(`SKIPPED local worker limits test: ${limitsSkipReason}`);

describe.skipIf(limitsSkipReason !== undefined)('local worker limits', () => {
  it('caps the processes a worker can start and ends it when it outgrows its memory', async () => {
    const p = provider({ limits: { memoryMb: 256, maxProcesses: 64 } });
    const machine = await p.create({
      sessionId: 'sesn_limits',
      jobTag: 'l',
      env: { FAKE_ANT_FORKS: '100', FAKE_ANT_ALLOC_MB: '1024' },
    });
    await p.prepare(machine);
    await p.applyEgress(machine);
    try {
      await p.startWorker(machine);
      await expectCapped(p, machine);
    } finally {
      await p.kill(machine.id);
    }
    // Its cgroups go with it.
    for (const hierarchy of ['', 'memory', 'pids']) {
      expect(existsSync(join('/sys/fs/cgroup', hierarchy, 'cma-fleet', machine.id))).toBe(false);
    }
  });
});

async function expectCapped(p: LocalProvider, machine: WorkerMachine) {
  const work = p.paths(machine.id).work;
  await waitForFile(join(work, 'forks.json'));

  const forks = JSON.parse(readFileSync(join(work, 'forks.json'), 'utf8')) as string[];
  expect(forks.filter((result) => result === 'ok').length).toBeLessThan(64);
  expect(forks.filter((result) => result !== 'ok').length).toBeGreaterThan(0);
  await expect
    .poll(async () => (await p.get(machine.id))?.status, { timeout: 20_000 })
    .toBe('exited');
  expect(existsSync(join(work, 'allocated'))).toBe(false);
  expect(readFileSync(p.paths(machine.id).log, 'utf8')).toContain(
    'limits memory 256 MB, 64 processes',
  );
}

describe.skipIf(skipReason !== undefined)('local workers fail closed', () => {
  it('refuses to run at all without bubblewrap, naming what to install', () => {
    expect(() => assertSandboxAvailable(bin)).toThrow(SandboxUnavailableError);
    expect(() => assertSandboxAvailable(bin)).toThrow(
      /needs bwrap, socat, rg .*apt-get install bubblewrap socat ripgrep/,
    );
  });

  it('fails the provision, and never runs ant, when the sandbox cannot start', async () => {
    const broken = mkdtempSync(join(tmpdir(), 'cma-broken-bwrap-'));
    temporary.push(broken);
    writeFileSync(
      join(broken, 'bwrap'),
      // It lingers a moment, as a real one does before it fails: that must not pass for a sandbox.
      '#!/bin/sh\necho "bwrap: no namespaces for you" >&2\nsleep 1\nexit 1\n',
    );
    chmodSync(join(broken, 'bwrap'), 0o755);
    const p = provider({ path: `${broken}:${bin}:${process.env.PATH}` });
    const machine = await p.create({ sessionId: 'sesn_broken', jobTag: 'b', env: {} });
    await p.prepare(machine);
    await p.applyEgress(machine);

    await expect(p.startWorker(machine)).rejects.toThrow(SandboxUnavailableError);
    expect(existsSync(join(p.paths(machine.id).work, 'record.json'))).toBe(false);
  });

  it('names a missing ant and how to install it', async () => {
    const p = provider({ path: process.env.PATH ?? '' });
    const machine = await p.create({ sessionId: 'sesn_no_ant', jobTag: 'n', env: {} });
    await expect(p.prepare(machine)).rejects.toThrow(/`ant` is not on the PATH .*anthropic-cli/);
  });
});
