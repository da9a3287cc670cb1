import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import getPort from 'get-port';

/** True when a `redis-server` binary is on the PATH. */
export function hasRedisServer(): boolean {
  return spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
}

/**
 * Starts a private `redis-server` for a local fleet: loopback only, a free port, the settings
 * BullMQ needs (`noeviction`), append-only persistence in `dir` so a restart keeps the queue.
 */
export async function startLocalRedis(
  dir: string,
): Promise<{ url: string; process: ChildProcess }> {
  mkdirSync(dir, { recursive: true });
  const port = await getPort({ port: 6380 });
  const child = spawn(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      dir,
      '--appendonly',
      'yes',
      '--save',
      '',
      '--maxmemory-policy',
      'noeviction',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  await new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      if (chunk.toString().includes('Ready to accept connections')) resolve();
    };
    child.stdout?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`redis-server exited with code ${code}`)));
  });
  return { url: `redis://127.0.0.1:${port}`, process: child };
}
