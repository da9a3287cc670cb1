import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';

const CGROUP_ROOT = '/sys/fs/cgroup';
/** Our cgroups live under this name in each hierarchy, one child per worker. */
const PARENT = 'cma-fleet';

export interface WorkerLimits {
  memoryMb: number;
  maxProcesses: number;
}

/** The cgroups holding one worker: files to join, directories to remove when it is gone. */
export interface WorkerCgroups {
  /** `cgroup.procs` files the worker's first process writes itself into before it execs. */
  procsFiles: string[];
  dirs: string[];
}

/**
 * Puts a memory and a process-count cap on one worker with cgroups (v2, or v1's memory and
 * pids hierarchies). Returns undefined when this host gives us no writable cgroups (a non-root
 * spawner without delegation): the worker then runs with its lifetime cap only.
 */
export function createWorkerCgroups(id: string, limits: WorkerLimits): WorkerCgroups | undefined {
  try {
    return isCgroupV2() ? createV2(id, limits) : createV1(id, limits);
  } catch {
    return undefined;
  }
}

/** The parents of our cgroups in each hierarchy this module may use. */
const PARENTS = [
  join(CGROUP_ROOT, PARENT),
  join(CGROUP_ROOT, 'memory', PARENT),
  join(CGROUP_ROOT, 'pids', PARENT),
];

/**
 * Removes a worker's cgroups. True once none is left; a cgroup still holding a process (a
 * zombie not yet reaped, say) stays, and a later call removes it.
 */
export function removeWorkerCgroups(id: string): boolean {
  let gone = true;
  for (const parent of PARENTS) {
    try {
      rmdirSync(join(parent, id));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') gone = false;
    }
  }
  return gone;
}

/**
 * Removes empty worker cgroups older than a minute, whichever spawner made them: those of
 * workers that ended by themselves, or whose cleanup came before the last process was reaped.
 * (A fresh empty one may be a worker about to join it.)
 */
export function sweepCgroups(): void {
  const cutoff = Date.now() - 60_000;
  for (const parent of PARENTS) {
    let names: string[];
    try {
      names = readdirSync(parent).filter((name) => name.startsWith('lw-'));
    } catch {
      continue;
    }
    for (const name of names) {
      try {
        if (statSync(join(parent, name)).mtimeMs < cutoff) rmdirSync(join(parent, name));
      } catch {
        // still in use
      }
    }
  }
}

function isCgroupV2(): boolean {
  const controllers = join(CGROUP_ROOT, 'cgroup.controllers');
  if (!existsSync(controllers)) return false;
  const available = readFileSync(controllers, 'utf8').split(/\s+/);
  return available.includes('memory') && available.includes('pids');
}

function createV2(id: string, limits: WorkerLimits): WorkerCgroups {
  const parent = join(CGROUP_ROOT, PARENT);
  mkdirSync(parent, { recursive: true });
  // Controllers must be enabled on the way down before a child can use them.
  writeFileSync(join(CGROUP_ROOT, 'cgroup.subtree_control'), '+memory +pids');
  writeFileSync(join(parent, 'cgroup.subtree_control'), '+memory +pids');
  const dir = join(parent, id);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'memory.max'), String(limits.memoryMb * 1024 * 1024));
  writeFileSync(join(dir, 'memory.swap.max'), '0');
  writeFileSync(join(dir, 'pids.max'), String(limits.maxProcesses));
  return { procsFiles: [join(dir, 'cgroup.procs')], dirs: [dir] };
}

function createV1(id: string, limits: WorkerLimits): WorkerCgroups {
  const memory = join(CGROUP_ROOT, 'memory', PARENT, id);
  const pids = join(CGROUP_ROOT, 'pids', PARENT, id);
  mkdirSync(memory, { recursive: true });
  mkdirSync(pids, { recursive: true });
  const bytes = String(limits.memoryMb * 1024 * 1024);
  writeFileSync(join(memory, 'memory.limit_in_bytes'), bytes);
  try {
    // Memory plus swap, so the cap is not dodged by swapping (absent without swap accounting).
    writeFileSync(join(memory, 'memory.memsw.limit_in_bytes'), bytes);
  } catch {
    // no swap accounting on this kernel: memory.limit_in_bytes alone holds
  }
  writeFileSync(join(pids, 'pids.max'), String(limits.maxProcesses));
  return {
    procsFiles: [join(memory, 'cgroup.procs'), join(pids, 'cgroup.procs')],
    dirs: [memory, pids],
  };
}

/**
 * A shell prefix that moves itself into the given cgroups and then execs the command, so every
 * process of the worker is inside them from its first instant. Exits 97 if it cannot join.
 */
export function joinCgroupsPrefix(procsFiles: string[]): string[] {
  const script =
    'while [ "$1" != -- ]; do echo $$ > "$1" || exit 97; shift; done; shift; exec "$@"';
  return ['/bin/sh', '-c', script, 'cma-worker', ...procsFiles, '--'];
}
