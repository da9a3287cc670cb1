import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

/** The repository root, whatever directory a script is started from. */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Entry points of the processes that make up a fleet. */
export const ENTRIES = {
  ingress: 'apps/ingress/src/main.ts',
  spawner: 'apps/spawner/src/main.ts',
  fakeInstaVm: 'packages/fake-instavm/src/main.ts',
} as const;

/**
 * Starts one of the fleet's programs as a real Node process running its TypeScript sources
 * (through tsx), with exactly the environment given plus PATH and HOME.
 */
export function spawnApp(entry: string, env: Record<string, string | undefined>): ChildProcess {
  return spawn(process.execPath, ['--conditions=source', '--import', 'tsx', entry], {
    cwd: ROOT,
    // CMA_DOTENV='': the child takes exactly this environment, never the repository's .env.
    env: { PATH: process.env.PATH, HOME: process.env.HOME, CMA_DOTENV: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Sends SIGTERM and waits for the exit; SIGKILL after `graceMs`. */
export async function stopProcess(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** Resolves with the first stdout line matching `pattern`; rejects if the process exits first. */
export function waitForLine(
  child: ChildProcess,
  pattern: RegExp,
  timeoutMs = 20_000,
): Promise<string> {
  return new Promise((resolve, reject) => {
    let buffered = '';
    const timer = setTimeout(
      () => finish(new Error(`no line matching ${pattern} in ${timeoutMs} ms`)),
      timeoutMs,
    );
    const onData = (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      const line = buffered.split('\n').find((candidate) => pattern.test(candidate));
      if (line !== undefined) finish(undefined, line);
    };
    const onExit = (code: number | null) =>
      finish(new Error(`process exited (${code}) before ${pattern}`));
    function finish(error?: Error, line?: string) {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.off('exit', onExit);
      if (error) reject(error);
      else resolve(line ?? '');
    }
    child.stdout?.on('data', onData);
    child.once('exit', onExit);
  });
}
