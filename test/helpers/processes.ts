import type { ChildProcess } from 'node:child_process';
import { ENTRIES, spawnApp, stopProcess, waitForLine } from '../../scripts/lib/processes.js';

export interface AppProcess {
  child: ChildProcess;
  /** Every stdout line so far (JSON log lines). */
  output: string[];
  stop(): Promise<void>;
}

/** Waits for a start-up line; a process that never gets there is killed, not leaked. */
async function awaitStart(child: ChildProcess, line: RegExp): Promise<string> {
  try {
    return await waitForLine(child, line);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
}

function track(child: ChildProcess): AppProcess {
  const output: string[] = [];
  child.stdout?.on('data', (chunk: Buffer) => output.push(chunk.toString('utf8')));
  child.stderr?.on('data', (chunk: Buffer) => output.push(chunk.toString('utf8')));
  return { child, output, stop: () => stopProcess(child) };
}

/** Starts an ingress process on a free port and resolves with its URL once it listens. */
export async function startIngressProcess(env: Record<string, string>) {
  const child = spawnApp(ENTRIES.ingress, { ...env, PORT: '0', HOST: '127.0.0.1' });
  const app = track(child);
  const line = await awaitStart(child, /"msg":"ingress listening"/);
  const url = (JSON.parse(line) as { url: string }).url;
  return { ...app, url };
}

/** Starts a spawner process and resolves once it consumes the queue. */
export async function startSpawnerProcess(env: Record<string, string>): Promise<AppProcess> {
  const child = spawnApp(ENTRIES.spawner, env);
  const app = track(child);
  await awaitStart(child, /"msg":"spawner consuming"/);
  return app;
}
