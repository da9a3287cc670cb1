import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ROOT, stopProcess } from '../../scripts/lib/processes.js';

export { ROOT };

/** Where results and process logs go (ignored by git). */
export const RESULTS_DIR = join(ROOT, 'bench', 'results');
export const LOGS_DIR = join(RESULTS_DIR, 'logs');

/**
 * Where the measured apps run from: the work tree, or (BENCH_APP_ROOT) a snapshot of a commit.
 * The bench itself and its baseline server always run from the work tree.
 */
export function appRoot(): string {
  return process.env.BENCH_APP_ROOT ?? ROOT;
}

/** Entry points, as TypeScript sources (run through tsx) and as the compiled build. */
const ENTRIES = {
  ingress: { source: 'apps/ingress/src/main.ts', dist: 'apps/ingress/dist/main.js' },
  spawner: { source: 'apps/spawner/src/main.ts', dist: 'apps/spawner/dist/main.js' },
  fakeInstaVm: {
    source: 'packages/fake-instavm/src/main.ts',
    dist: 'packages/fake-instavm/dist/main.js',
  },
  baseline: { source: 'bench/baseline-server.ts', dist: 'bench/baseline-server.ts' },
} as const;

export type AppName = keyof typeof ENTRIES;

/**
 * `tsx` (the default) runs the sources as `pnpm start` does; `dist` runs the compiled build.
 * Both end up as the same V8 JIT-compiled JavaScript once loaded: tsx costs start-up time and a
 * little memory for the compiler, not per-request work.
 */
export type Runtime = 'tsx' | 'dist';

export function benchRuntime(): Runtime {
  return process.env.BENCH_RUNTIME === 'dist' ? 'dist' : 'tsx';
}

const hasTaskset = spawnSync('taskset', ['--version'], { stdio: 'ignore' }).status === 0;

/** Whether CPU pinning is in force (taskset exists and the machine has at least two cores). */
export function canPin(): boolean {
  return hasTaskset;
}

/** Every core of the machine, as a taskset CPU list. */
const ALL_CORES = `0-${availableParallelism() - 1}`;

/**
 * The command line that runs `argv` pinned to `cores` (e.g. "0" or "0-1"), or free to use every
 * core when `cores` is undefined. "Unpinned" has to be said explicitly: a child inherits the
 * CPU affinity of this process, which `pinSelf` keeps on core 1, and without the explicit list
 * every "unpinned" fleet would share that one core (as the spawn and scale-out scenarios did
 * before 2026-12-03).
 */
export function pinned(cores: string | undefined, argv: string[]): string[] {
  return hasTaskset ? ['taskset', '-c', cores ?? ALL_CORES, ...argv] : argv;
}

/** Pins this process (all its threads) to `cores`, so the load generator stays off the target. */
export function pinSelf(cores: string): void {
  if (!hasTaskset) return;
  spawnSync('taskset', ['-a', '-p', '-c', cores, String(process.pid)], { stdio: 'ignore' });
}

export interface StartOptions {
  env: Record<string, string>;
  /** CPU list for taskset; unpinned when undefined. */
  cores?: string;
  /** Log file name under bench/results/logs. */
  logName: string;
  /** Extra Node flags, e.g. --cpu-prof. */
  nodeFlags?: string[];
}

export interface BenchProcess {
  child: ChildProcess;
  pid: number;
  logFile: string;
  stop(graceMs?: number): Promise<void>;
}

/**
 * Starts an app as a real process. Its output goes to a file, not a pipe: a pipe would make
 * this process (the load generator) read every log line of the target under load.
 */
export function startApp(app: AppName, options: StartOptions): BenchProcess {
  const runtime = benchRuntime();
  const entry = ENTRIES[app][runtime === 'tsx' ? 'source' : 'dist'];
  const loader = entry.endsWith('.ts') ? ['--conditions=source', '--import', 'tsx'] : [];
  const cwd = app === 'baseline' ? ROOT : appRoot();
  const argv = pinned(options.cores, [
    process.execPath,
    ...(options.nodeFlags ?? []),
    ...loader,
    entry,
  ]);
  return startCommand(argv, options.env, options.logName, cwd);
}

/** Starts any command with its output in a log file; the process is stopped with SIGTERM. */
export function startCommand(
  argv: string[],
  env: Record<string, string>,
  logName: string,
  cwd = ROOT,
): BenchProcess {
  mkdirSync(LOGS_DIR, { recursive: true });
  const logFile = join(LOGS_DIR, `${logName}.log`);
  const fd = openSync(logFile, 'w');
  const [command, ...args] = argv;
  const child = spawn(command ?? 'false', args, {
    cwd,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  if (child.pid === undefined) throw new Error(`could not start ${argv.join(' ')}`);
  running.add(child);
  child.once('exit', () => running.delete(child));
  return { child, pid: child.pid, logFile, stop: (graceMs) => stopProcess(child, graceMs) };
}

/** Every process the bench started and that still runs. */
const running = new Set<ChildProcess>();

/** Kills whatever the bench started, so an interrupted run leaves nothing behind. */
export function killAllStarted(): void {
  for (const child of running) child.kill('SIGKILL');
}

/** Waits until the process's log has a line matching `pattern`; fails if it exits first. */
export async function waitForLog(
  proc: BenchProcess,
  pattern: RegExp,
  timeoutMs = 30_000,
): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const line = readFileSync(proc.logFile, 'utf8')
      .split('\n')
      .find((candidate) => pattern.test(candidate));
    if (line !== undefined) return line;
    if (proc.child.exitCode !== null) {
      throw new Error(`${proc.logFile}: process exited (${proc.child.exitCode}) before ${pattern}`);
    }
    await sleep(50);
  }
  throw new Error(`${proc.logFile}: no line matching ${pattern} in ${timeoutMs} ms`);
}

/** Waits until `url` answers 200 (whatever the process logs); fails if it exits first. */
export async function waitForHttp(proc: BenchProcess, url: string, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.child.exitCode !== null) {
      throw new Error(
        `${proc.logFile}: process exited (${proc.child.exitCode}) before ${url} answered`,
      );
    }
    const ok = await fetch(url).then(
      (response) => response.ok,
      () => false,
    );
    if (ok) return;
    await sleep(100);
  }
  throw new Error(`${proc.logFile}: ${url} did not answer 200 in ${timeoutMs} ms`);
}

/** Resident set size of a process in MiB, from /proc (undefined off Linux or once it is gone). */
export function rssMiB(pid: number): number | undefined {
  const file = `/proc/${pid}/status`;
  if (!existsSync(file)) return undefined;
  const match = readFileSync(file, 'utf8').match(/^VmRSS:\s+(\d+)\s+kB/m);
  return match?.[1] ? Math.round((Number(match[1]) / 1024) * 10) / 10 : undefined;
}

/** Samples RSS every `everyMs` until stopped; reports the peak seen. */
export function sampleRss(pids: Record<string, number>, everyMs = 200) {
  const peak: Record<string, number> = {};
  const take = () => {
    for (const [name, pid] of Object.entries(pids)) {
      const rss = rssMiB(pid);
      if (rss !== undefined) peak[name] = Math.max(peak[name] ?? 0, rss);
    }
  };
  take();
  const timer = setInterval(take, everyMs);
  return {
    stop(): Record<string, number> {
      clearInterval(timer);
      take();
      return peak;
    },
  };
}

export function ensureDir(file: string): void {
  mkdirSync(dirname(file), { recursive: true });
}
