import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import getPort from 'get-port';
import { Redis } from 'ioredis';

/** A real Redis for one test file: its own server on a free port, never the shared 6379. */
export interface TestRedis {
  url: string;
  port: number;
  /** Where it came from, printed once so a reader of the test log knows. */
  source: 'redis-server' | 'testcontainers';
  /** Stops the server (the port stays reserved for `start`). Only for `redis-server`. */
  stop(): Promise<void>;
  /** Starts it again on the same port, empty. */
  start(): Promise<void>;
  close(): Promise<void>;
}

/** True when a Docker-compatible engine answers on its socket within half a second. */
async function containerRuntimeAnswers(): Promise<boolean> {
  const socket = process.env.DOCKER_HOST?.startsWith('unix://')
    ? process.env.DOCKER_HOST.slice('unix://'.length)
    : '/var/run/docker.sock';
  if (!existsSync(socket)) return false;
  return new Promise((resolve) => {
    const req = request({ socketPath: socket, path: '/_ping', timeout: 500 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
    req.end();
  });
}

/**
 * Starts a Redis for the calling test file. Order: testcontainers where a container runtime
 * answers; otherwise a `redis-server` binary on a free port (these CI machines have one and no
 * Docker engine). Never a mock.
 */
export async function startTestRedis(): Promise<TestRedis> {
  if (await containerRuntimeAnswers()) return startContainerRedis();
  return startRedisServer();
}

async function startContainerRedis(): Promise<TestRedis> {
  const { GenericContainer, Wait } = await import('testcontainers');
  const container = await new GenericContainer('redis:7-alpine')
    .withCommand(['redis-server', '--maxmemory-policy', 'noeviction', '--save', ''])
    .withExposedPorts(6379)
    .withWaitStrategy(Wait.forLogMessage('Ready to accept connections'))
    .start();
  const port = container.getMappedPort(6379);
  const unsupported = async () => {
    throw new Error('stop/start needs the redis-server source; restart tests use it directly');
  };
  return {
    url: `redis://${container.getHost()}:${port}`,
    port,
    source: 'testcontainers',
    stop: unsupported,
    start: unsupported,
    close: async () => {
      await container.stop();
    },
  };
}

export interface RedisServerOptions {
  /** Keep every write on disk (append-only, fsync always), so a restart keeps the data. */
  persist?: boolean;
}

/**
 * Starts `redis-server` on a free port in a scratch directory. By default it persists nothing;
 * with `persist` it behaves like a production Redis across `stop` and `start`.
 */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<TestRedis> {
  const port = await getPort();
  const dir = mkdtempSync(join(tmpdir(), 'cma-test-redis-'));
  let child: ChildProcess | undefined;

  const start = async () => {
    child = spawn(
      'redis-server',
      [
        ...['--port', String(port), '--bind', '127.0.0.1', '--save', ''],
        ...(options.persist
          ? ['--appendonly', 'yes', '--appendfsync', 'always']
          : ['--appendonly', 'no']),
      ],
      { cwd: dir, stdio: 'ignore' },
    );
    child.on('error', (error) => {
      throw new Error(`could not start redis-server (is it installed?): ${error.message}`);
    });
    await waitForPing(port);
  };
  const stop = async () => {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      running.once('exit', () => resolve());
      running.kill('SIGKILL');
    });
  };

  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    source: 'redis-server',
    stop,
    start,
    close: async () => {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function waitForPing(port: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const probe = new Redis({
      port,
      host: '127.0.0.1',
      lazyConnect: true,
      retryStrategy: () => null,
    });
    probe.on('error', () => {});
    try {
      await probe.connect();
      await probe.ping();
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 25));
    } finally {
      probe.disconnect();
    }
  }
  throw new Error(`redis-server on port ${port} did not answer PING within 10 s`);
}
