import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { InstaVmClient } from '@cma-fleet/instavm';
import { afterEach, describe, expect, it } from 'vitest';

// The standalone process, as scripts start it: ready line on stdout, env config, clean SIGTERM.

const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

let child: ChildProcess | undefined;

afterEach(() => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  child = undefined;
});

function startMain(env: Record<string, string>): ChildProcess {
  // tsx is a root devDependency, so it resolves from the repository root.
  child = spawn(process.execPath, ['--import', 'tsx', MAIN], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return child;
}

/** Resolves with the URL from the ready line, or rejects if the process ends first. */
function readyUrl(process: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    process.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const match = /^fake InstaVM listening on (http:\/\/\S+)$/m.exec(stdout);
      if (match?.[1]) resolve(match[1]);
    });
    process.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    process.once('exit', (code) => reject(new Error(`fake exited with ${code}: ${stderr}`)));
  });
}

describe('the standalone fake', () => {
  it('announces its URL, enforces the configured key, and exits cleanly on SIGTERM', async () => {
    const process = startMain({ FAKE_INSTAVM_PORT: '0', FAKE_INSTAVM_API_KEY: 'sk_main' });
    const url = await readyUrl(process);

    const client = new InstaVmClient({ baseUrl: url, apiKey: 'sk_main' });
    const vm = await client.createVm({
      vm_lifetime_seconds: 600,
      memory_mb: 512,
      vcpu_count: 2,
      metadata: { fleet: 'main' },
      env: {},
      egress_policy: {
        allow_package_managers: false,
        allow_http: false,
        allow_https: true,
        allowed_domains: [],
        allowed_cidrs: [],
      },
    });
    const keyless = await fetch(`${url}/v1/vms`);
    const recorded = (await fetch(`${url}/_fake/vms`).then((response) => response.json())) as {
      vms: { vm_id: string }[];
    };

    expect(keyless.status).toBe(401);
    expect(recorded.vms.map((item) => item.vm_id)).toEqual([vm.vm_id]);

    const exited = once(process, 'exit');
    process.kill('SIGTERM');
    const [code] = await exited;
    expect(code).toBe(0);
  });
});
