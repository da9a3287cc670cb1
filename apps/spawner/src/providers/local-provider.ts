import { spawn } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { workerPollArgs } from '../bootstrap.js';
import {
  createWorkerCgroups,
  joinCgroupsPrefix,
  removeWorkerCgroups,
  sweepCgroups,
  type WorkerLimits,
} from './local-limits.js';
import {
  descendantsOf,
  isProcessAlive,
  pidNamespace,
  processName,
  processStartTicks,
  signalGroup,
  waitFor,
} from './local-process.js';
import {
  assertSandboxAvailable,
  findExecutable,
  SandboxUnavailableError,
  sandboxCliPath,
  sandboxSettings,
} from './local-sandbox.js';
import {
  type LocalWorkerState,
  listStates,
  newWorkerId,
  readState,
  type WorkerPaths,
  workerPaths,
  writeState,
} from './local-state.js';
import {
  WORKER_ROLE,
  type WorkerMachine,
  type WorkerProvider,
  type WorkerSpec,
} from './provider.js';

/** How long the log and state of an ended worker are kept. */
const RETAIN_MS = 7 * 24 * 3600 * 1000;

/** The variable that holds the environment key, masked inside every local sandbox. */
const ENVIRONMENT_KEY_VAR = 'ANTHROPIC_ENVIRONMENT_KEY';

export interface LocalProviderSettings {
  /** Tells this fleet's workers from another fleet's on the same host. */
  fleet: string;
  /** Where each worker gets its directory (state, log, work dir, home). */
  runtimeDir: string;
  lifetimeSeconds: number;
  /** At most this many live local workers on this host, all fleets together. */
  maxWorkers: number;
  maxIdle: string;
  /** Hosts the worker may reach: the Anthropic API host first, then WORKER_EGRESS_DOMAINS. */
  egressDomains: string[];
  /** The only hosts the real environment key is ever sent to (the Anthropic API host). */
  injectHosts: string[];
  /** The REAL environment key: given to the sandbox runtime, never to the sandbox. */
  environmentKey: string;
  /** More credentials masked like the key, each injected only towards its own hosts. */
  maskedEnv?: MaskedCredential[];
  /** Host paths the worker may not read: home (and so ~/.ssh), the project's .env, ... */
  denyRead: string[];
  /** PATH of the worker (where `ant` is found) and of the sandbox runtime. */
  path: string;
  /** Extra environment for the sandbox runtime itself, e.g. NODE_EXTRA_CA_CERTS for its proxy. */
  runtimeEnv?: Record<string, string>;
  /** Memory and process caps per worker (cgroups); none when the host lets us make none. */
  limits?: WorkerLimits;
  /** How long a killed worker gets to stop after SIGTERM before SIGKILL. Default 10 s. */
  killGraceMs?: number;
  /** How long the sandbox may take to come up. Default 15 s. */
  startTimeoutMs?: number;
}

/** A credential the sandbox sees only as a sentinel (a provider key, say). */
export interface MaskedCredential {
  name: string;
  /** The real value, held outside the sandbox. */
  value: string;
  injectHosts: string[];
}

/** Lifecycle of a local worker, as `WorkerMachine.status` reports it. */
type LocalStatus = 'created' | 'running' | 'exited' | 'expired' | 'killed';

/**
 * Workers as sandboxed process trees on this host (`@anthropic-ai/sandbox-runtime`, bubblewrap
 * on Linux). The sandbox sees a sentinel in place of the environment key; the runtime's
 * TLS-terminating proxy puts the real key back only on requests to the Anthropic API host.
 * State lives in files under the runtime dir, so every step can be repeated and adopted.
 */
export class LocalProvider implements WorkerProvider {
  readonly name = 'local';

  constructor(private readonly settings: LocalProviderSettings) {}

  async create(spec: WorkerSpec): Promise<WorkerMachine> {
    this.sweep();
    const live = listStates(this.settings.runtimeDir).filter((state) => this.isAlive(state));
    if (live.length >= this.settings.maxWorkers) {
      throw new Error(
        `this host already runs ${live.length} local workers (LOCAL_MAX_WORKERS is ` +
          `${this.settings.maxWorkers}); retrying once one exits`,
      );
    }
    const state: LocalWorkerState = {
      id: newWorkerId(),
      fleet: this.settings.fleet,
      sessionId: spec.sessionId,
      jobTag: spec.jobTag,
      createdAt: Date.now(),
      lifetimeSeconds: this.settings.lifetimeSeconds,
      env: { ...spec.env },
    };
    mkdirSync(this.settings.runtimeDir, { recursive: true, mode: 0o700 });
    writeState(this.settings.runtimeDir, state);
    const paths = this.paths(state.id);
    mkdirSync(paths.work, { recursive: true });
    mkdirSync(paths.home, { recursive: true });
    mkdirSync(paths.tmp, { recursive: true });
    return this.toMachine(state);
  }

  async findByJob(jobTag: string): Promise<WorkerMachine | undefined> {
    const found = this.ours().find((state) => state.jobTag === jobTag && this.isAlive(state));
    return found ? this.toMachine(found) : undefined;
  }

  async get(id: string): Promise<WorkerMachine | undefined> {
    const state = readState(this.settings.runtimeDir, id);
    return state ? this.toMachine(state) : undefined;
  }

  /** Checks the host can sandbox a worker and has `ant`; installs nothing. */
  async prepare(_machine: WorkerMachine): Promise<void> {
    assertSandboxAvailable(this.settings.path);
    if (!findExecutable('ant', this.settings.path)) {
      throw new SandboxUnavailableError(
        '`ant` is not on the PATH of local workers. Install the Anthropic CLI from ' +
          'https://github.com/anthropics/anthropic-cli/releases and put `ant` on PATH',
      );
    }
  }

  /** Writes the worker's sandbox policy; it is in force from the worker's first instant. */
  async applyEgress(machine: WorkerMachine): Promise<void> {
    const paths = this.paths(machine.id);
    const policy = sandboxSettings({
      writableDirs: [paths.work, paths.home, paths.tmp],
      denyRead: [...this.settings.denyRead, this.settings.runtimeDir],
      allowRead: [paths.work, paths.home, paths.tmp],
      allowedDomains: this.settings.egressDomains,
      masked: [
        { name: ENVIRONMENT_KEY_VAR, injectHosts: this.settings.injectHosts },
        ...(this.settings.maskedEnv ?? []).map(({ name, injectHosts }) => ({ name, injectHosts })),
      ],
    });
    writeFileSync(paths.sandboxSettings, `${JSON.stringify(policy, null, 2)}\n`, { mode: 0o600 });
  }

  async startWorker(machine: WorkerMachine): Promise<void> {
    const state = this.mustRead(machine.id);
    if (state.pid !== undefined) return; // one poller per worker: a repeated start is a no-op
    if (state.killedAt !== undefined) throw new Error(`local worker ${state.id} was killed`);
    const paths = this.paths(state.id);
    if (!existsSync(paths.sandboxSettings)) {
      throw new SandboxUnavailableError(`local worker ${state.id} has no sandbox policy yet`);
    }
    assertSandboxAvailable(this.settings.path);
    const remaining = Math.floor(
      state.createdAt / 1000 + state.lifetimeSeconds - Date.now() / 1000,
    );
    if (remaining <= 0) throw new Error(`local worker ${state.id} outlived its lifetime`);

    const { pid, exited } = this.launch(state, paths, remaining);
    writeState(this.settings.runtimeDir, {
      ...state,
      pid,
      pidStartTicks: processStartTicks(pid),
      startedAt: Date.now(),
    });
    await this.awaitSandbox(pid, exited, paths);
  }

  async kill(id: string): Promise<void> {
    const state = readState(this.settings.runtimeDir, id);
    if (!state) return;
    if (state.pid !== undefined && isProcessAlive(state.pid, state.pidStartTicks)) {
      await this.stopTree(state.pid);
    }
    if (state.killedAt === undefined) {
      writeState(this.settings.runtimeDir, { ...state, killedAt: Date.now() });
    }
    this.cleanUp(id);
    // The tree's first process is reaped a moment after it died; its cgroup empties then.
    await waitFor(() => removeWorkerCgroups(id), 2_000);
  }

  async listOurs(): Promise<WorkerMachine[]> {
    return this.ours()
      .filter((state) => this.isAlive(state))
      .map((state) => this.toMachine(state));
  }

  /** The directories and files of a worker, for tests and operators. */
  paths(id: string): WorkerPaths {
    return workerPaths(this.settings.runtimeDir, id);
  }

  /**
   * Starts `srt` under `timeout` (the lifetime cap) in a new session, so the whole tree is one
   * process group the spawner can signal, and it outlives a spawner restart.
   */
  private launch(state: LocalWorkerState, paths: WorkerPaths, remainingSeconds: number) {
    const log = openSync(paths.log, 'a', 0o600);
    const poll = workerPollArgs({ workdir: paths.work, maxIdle: this.settings.maxIdle });
    const [command, ...args] = [
      ...this.limitsPrefix(state.id, log),
      'timeout',
      '--kill-after=10s',
      `${remainingSeconds}s`,
      process.execPath,
      sandboxCliPath(),
      '--settings',
      paths.sandboxSettings,
      '--',
      // The runtime points TMPDIR at a directory of its own; the worker gets a private one.
      'env',
      `TMPDIR=${paths.tmp}`,
      'ant',
      ...poll,
    ] as [string, ...string[]];
    const child = spawn(command, args, {
      cwd: paths.work,
      detached: true,
      stdio: ['ignore', log, log],
      env: this.runtimeEnv(state, paths),
    });
    closeSync(log);
    const exited = new Promise<number | null>((resolve) => {
      child.once('exit', (code) => resolve(code));
      child.once('error', () => resolve(-1));
    });
    child.unref();
    if (child.pid === undefined) throw new SandboxUnavailableError('could not start `timeout`');
    return { pid: child.pid, exited };
  }

  /**
   * Puts the worker in its own cgroups, capped in memory and processes, from its first instant.
   * Says in the worker's log which limits hold.
   */
  private limitsPrefix(id: string, log: number): string[] {
    const limits = this.settings.limits;
    if (!limits) return [];
    const cgroups = createWorkerCgroups(id, limits);
    // TEMPORARY: without writable cgroups (a non-root spawner, no systemd delegation) only the
    // lifetime cap holds, until the provider learns `systemd-run --user --scope`.
    writeSync(
      log,
      cgroups
        ? `cma-fleet: limits memory ${limits.memoryMb} MB, ${limits.maxProcesses} processes\n`
        : 'cma-fleet: no writable cgroups here: memory and process limits NOT enforced\n',
    );
    return cgroups ? joinCgroupsPrefix(cgroups.procsFiles) : [];
  }

  /**
   * The environment of the sandbox runtime. bubblewrap passes it into the sandbox, so it is
   * built from nothing (never the spawner's own environment) and the key in it is masked.
   */
  private runtimeEnv(state: LocalWorkerState, paths: WorkerPaths): Record<string, string> {
    return {
      ...this.settings.runtimeEnv,
      PATH: this.settings.path,
      HOME: paths.home,
      LANG: 'C.UTF-8',
      ...state.env,
      ...Object.fromEntries((this.settings.maskedEnv ?? []).map((c) => [c.name, c.value])),
      [ENVIRONMENT_KEY_VAR]: this.settings.environmentKey,
    };
  }

  /**
   * Waits until the command runs inside the sandbox (a process under the worker in a PID
   * namespace of its own, other than bubblewrap itself), so a sandbox that cannot start is a
   * failed provision (with the runtime's own words), not a silent worker that never polls.
   */
  private async awaitSandbox(pid: number, exited: Promise<number | null>, paths: WorkerPaths) {
    let exitCode: number | null | undefined;
    void exited.then((code) => {
      exitCode = code;
    });
    const host = pidNamespace('self');
    const sandboxed = () =>
      descendantsOf(pid).some((child) => {
        const namespace = pidNamespace(child);
        return namespace !== undefined && namespace !== host && processName(child) !== 'bwrap';
      });
    const timeoutMs = this.settings.startTimeoutMs ?? 15_000;
    const up = await waitFor(() => exitCode !== undefined || sandboxed(), timeoutMs);
    if (up && exitCode === undefined) return;
    if (exitCode === 0) return; // the poller ran and already finished (nothing to do)
    if (!up) await this.stopTree(pid);
    throw new SandboxUnavailableError(
      `the sandbox of local worker ${paths.root} did not start${
        up ? ` (exit ${exitCode})` : ` within ${timeoutMs} ms`
      }: ${logTail(paths.log)}`,
    );
  }

  /** SIGTERM to the group, SIGKILL after the grace, then any straggler of the tree by pid. */
  private async stopTree(pid: number): Promise<void> {
    const tree = [pid, ...descendantsOf(pid)];
    signalGroup(pid, 'SIGTERM');
    const gone = () => tree.every((member) => !isProcessAlive(member, undefined));
    if (await waitFor(gone, this.settings.killGraceMs ?? 10_000)) return;
    signalGroup(pid, 'SIGKILL');
    for (const member of tree) {
      try {
        process.kill(member, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await waitFor(gone, 5_000);
  }

  /**
   * What a worker wrote goes with it; its log and state stay for inspection, for a while.
   * Also frees its cgroups.
   */
  private cleanUp(id: string): void {
    const paths = this.paths(id);
    rmSync(paths.work, { recursive: true, force: true });
    rmSync(paths.home, { recursive: true, force: true });
    rmSync(paths.tmp, { recursive: true, force: true });
    removeWorkerCgroups(id);
  }

  /**
   * Cleans up after workers that ended by themselves (idle, lifetime, crash), which nobody
   * kills, and forgets those that ended over RETAIN_MS ago. Runs on create, never on reads.
   */
  private sweep(): void {
    sweepCgroups();
    const now = Date.now();
    for (const state of listStates(this.settings.runtimeDir)) {
      if (this.isAlive(state)) continue;
      const paths = this.paths(state.id);
      if (now - state.createdAt > RETAIN_MS) {
        removeWorkerCgroups(state.id);
        rmSync(paths.root, { recursive: true, force: true });
      } else if (existsSync(paths.work)) {
        this.cleanUp(state.id);
      }
    }
  }

  private ours(): LocalWorkerState[] {
    return listStates(this.settings.runtimeDir).filter(
      (state) => state.fleet === this.settings.fleet,
    );
  }

  private mustRead(id: string): LocalWorkerState {
    const state = readState(this.settings.runtimeDir, id);
    if (!state) throw new Error(`no local worker ${id}`);
    return state;
  }

  private status(state: LocalWorkerState): LocalStatus {
    if (state.killedAt !== undefined) return 'killed';
    if (state.pid !== undefined) {
      return isProcessAlive(state.pid, state.pidStartTicks) ? 'running' : 'exited';
    }
    const expired = Date.now() > state.createdAt + state.lifetimeSeconds * 1000;
    return expired ? 'expired' : 'created';
  }

  private isAlive(state: LocalWorkerState): boolean {
    const status = this.status(state);
    return status === 'created' || status === 'running';
  }

  private toMachine(state: LocalWorkerState): WorkerMachine {
    const status = this.status(state);
    return {
      id: state.id,
      status,
      alive: status === 'created' || status === 'running',
      metadata: {
        role: WORKER_ROLE,
        fleet: state.fleet,
        session_id: state.sessionId,
        job: state.jobTag,
      },
      createdAt: state.createdAt,
    };
  }
}

function logTail(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').slice(-5).join('\n').slice(-800);
  } catch {
    return '(no log)';
  }
}
