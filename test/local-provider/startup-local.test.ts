import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { planRetry, SandboxUnavailableError } from '@cma-fleet/spawner';
import { describe, expect, it } from 'vitest';
import { ENTRIES, spawnApp } from '../../scripts/lib/processes.js';

describe('a spawner in local mode on a host that cannot sandbox', () => {
  it('refuses to start, naming what to install, and never prints the key', async () => {
    const realKey = `sk-ant-oat01-${randomBytes(24).toString('base64url')}`;
    const child = spawnApp(ENTRIES.spawner, {
      REDIS_URL: 'redis://127.0.0.1:1',
      ANTHROPIC_ENVIRONMENT_ID: 'env_x',
      SANDBOX_PROVIDER: 'local',
      ANTHROPIC_ENVIRONMENT_KEY: realKey,
      // No bwrap, socat or rg anywhere on this PATH.
      PATH: '/nonexistent',
    });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
    });
    const [code] = (await once(child, 'exit')) as [number | null];

    expect(code).not.toBe(0);
    expect(stderr).toContain('SANDBOX_PROVIDER=local needs bwrap, socat, rg on PATH');
    expect(stderr).toContain('apt-get install bubblewrap socat ripgrep');
    expect(stderr).not.toContain(realKey);
  });
});

describe('the retry policy for local workers', () => {
  it('does not retry a provision whose sandbox is unavailable', () => {
    const plan = planRetry(new SandboxUnavailableError('no bwrap'), 'other', 1, {
      baseMs: 100,
      maxMs: 1000,
    });
    expect(plan).toMatchObject({ retry: false, cause: 'the local sandbox is unavailable' });
  });

  it('retries when the host is at its worker cap', () => {
    const atCap = new Error('this host already runs 4 local workers');
    expect(planRetry(atCap, 'create', 1, { baseMs: 100, maxMs: 1000 }).retry).toBe(true);
  });
});
