import { spawnSync } from 'node:child_process';
import getPort from 'get-port';
import { type BenchProcess, pinned, startCommand, waitForLog } from './processes.js';

export interface BenchRedis {
  url: string;
  proc: BenchProcess;
  stop(): Promise<void>;
}

/**
 * A private redis-server for one scenario: loopback, a free port away from the shared 6379, no
 * persistence (so disk speed does not enter the numbers), `noeviction` as BullMQ requires.
 */
export async function startBenchRedis(name: string, cores?: string): Promise<BenchRedis> {
  const port = await getPort({ exclude: [6379] });
  const argv = pinned(cores, [
    'redis-server',
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
    '--maxmemory-policy',
    'noeviction',
  ]);
  const proc = startCommand(argv, {}, `redis-${name}`);
  await waitForLog(proc, /Ready to accept connections/, 10_000);
  return { url: `redis://127.0.0.1:${port}`, proc, stop: () => proc.stop() };
}

/** `redis-server --version`, e.g. "7.0.15". */
export function redisVersion(): string {
  const out = spawnSync('redis-server', ['--version'], { encoding: 'utf8' }).stdout ?? '';
  return out.match(/v=(\S+)/)?.[1] ?? 'unknown';
}
