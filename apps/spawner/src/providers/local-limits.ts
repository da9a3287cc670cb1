import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
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

/** Removes a worker's (empty) cgroups; a cgroup still holding a process stays. */
export function removeWorkerCgroups(id: string): void {
  const dirs = [
    join(CGROUP_ROOT, PARENT, id),
    join(CGROUP_ROOT, 'memory', PARENT, id),
    join(CGROUP_ROOT, 'pids', PARENT, id),
  ];
  for (const dir of dirs) {
    try {
      rmdirSync(dir);
    } catch {
      // absent, or not empty yet
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
