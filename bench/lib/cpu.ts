import { readFileSync } from 'node:fs';

/** Kernel clock ticks per second (USER_HZ), 100 on every Linux this runs on. */
const TICKS_PER_SECOND = 100;

/** CPU seconds (user + system, all threads) a process has used so far; 0 once it is gone. */
export function processCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which may hold spaces, start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

/**
 * CPU seconds of the whole machine (all cores) so far: busy in this VM, and stolen (time our
 * virtual CPUs were ready to run but the host ran something else; /proc/stat's 8th field).
 */
export function machineSeconds(): { busy: number; steal: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const ticks = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal guest guest_nice; guests are inside user.
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = ticks;
  return {
    busy: (user + nice + system + irq + softirq) / TICKS_PER_SECOND,
    steal: steal / TICKS_PER_SECOND,
  };
}

export interface CpuUse {
  /** Share of one core the watched processes used, in percent, by name. */
  percent: Record<string, number>;
  /** Busy CPU of every other process on the machine, in percent of one core: the noise. */
  othersPercent: number;
  /** CPU the host took from this VM meanwhile, in percent of one core: noise from outside. */
  stealPercent: number;
}

/** Measures CPU use of `pids` (and of everything else) across `work`. */
export async function measureCpu<T>(
  pids: Record<string, number>,
  work: () => Promise<T>,
): Promise<{ value: T; cpu: CpuUse }> {
  const read = () =>
    Object.fromEntries(Object.entries(pids).map(([k, p]) => [k, processCpuSeconds(p)]));
  const before = read();
  const machineBefore = machineSeconds();
  const started = performance.now();
  const value = await work();
  const seconds = (performance.now() - started) / 1000;
  const after = read();
  const percent: Record<string, number> = {};
  let watched = 0;
  for (const name of Object.keys(pids)) {
    const used = (after[name] ?? 0) - (before[name] ?? 0);
    watched += used;
    percent[name] = Math.round((used / seconds) * 100);
  }
  const machineAfter = machineSeconds();
  const others = machineAfter.busy - machineBefore.busy - watched;
  const steal = machineAfter.steal - machineBefore.steal;
  return {
    value,
    cpu: {
      percent,
      othersPercent: Math.max(0, Math.round((others / seconds) * 100)),
      stealPercent: Math.round((steal / seconds) * 100),
    },
  };
}
