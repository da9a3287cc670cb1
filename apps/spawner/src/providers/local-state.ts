import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * What the spawner remembers of one local worker, in `<runtime dir>/<id>/state.json`. It lives
 * on disk (not in memory) so a retried job in another spawner process on the same host can
 * find and adopt the worker, and a restarted spawner still sees it. Holds no secret.
 */
export interface LocalWorkerState {
  id: string;
  fleet: string;
  sessionId: string;
  /** The spawn job that made it, so a retry of the job adopts it. */
  jobTag: string;
  /** ms since epoch. */
  createdAt: number;
  lifetimeSeconds: number;
  /** The worker's environment: ids and placeholders only. */
  env: Record<string, string>;
  /** The process group leader of the sandboxed worker, once started. */
  pid?: number;
  /** The kernel's start time of `pid` (/proc/<pid>/stat field 22), guarding against pid reuse. */
  pidStartTicks?: string;
  startedAt?: number;
  killedAt?: number;
}

/** The files and directories of one worker. */
export interface WorkerPaths {
  root: string;
  state: string;
  /** stdout and stderr of the sandbox and the poller. */
  log: string;
  /** The `srt` settings: the worker's filesystem and network policy. */
  sandboxSettings: string;
  /** The poller's --workdir, writable inside the sandbox. */
  work: string;
  /** HOME inside the sandbox, writable, so the host's home never is. */
  home: string;
  /** TMPDIR inside the sandbox: the worker's own, never a directory shared with others. */
  tmp: string;
}

export function workerPaths(runtimeDir: string, id: string): WorkerPaths {
  const root = join(runtimeDir, id);
  return {
    root,
    state: join(root, 'state.json'),
    log: join(root, 'worker.log'),
    sandboxSettings: join(root, 'sandbox.json'),
    work: join(root, 'work'),
    home: join(root, 'home'),
    tmp: join(root, 'tmp'),
  };
}

export function newWorkerId(): string {
  return `lw-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
}

/** Writes atomically (temporary file, then rename), so a reader never sees half a state. */
export function writeState(runtimeDir: string, state: LocalWorkerState): void {
  const paths = workerPaths(runtimeDir, state.id);
  mkdirSync(paths.root, { recursive: true, mode: 0o700 });
  const temporary = `${paths.state}.${process.pid}.${randomBytes(4).toString('hex')}`;
  writeFileSync(temporary, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  renameSync(temporary, paths.state);
}

/** The state of one worker; undefined when there is none (or it is unreadable). */
export function readState(runtimeDir: string, id: string): LocalWorkerState | undefined {
  if (!/^lw-[a-z0-9-]+$/.test(id)) return undefined;
  try {
    return JSON.parse(readFileSync(workerPaths(runtimeDir, id).state, 'utf8')) as LocalWorkerState;
  } catch {
    return undefined;
  }
}

/** Every worker this host knows of, whichever fleet made it. */
export function listStates(runtimeDir: string): LocalWorkerState[] {
  let names: string[];
  try {
    names = readdirSync(runtimeDir);
  } catch {
    return [];
  }
  return names
    .map((name) => readState(runtimeDir, name))
    .filter((state): state is LocalWorkerState => state !== undefined);
}
