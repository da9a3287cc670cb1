import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { ENTRIES, spawnApp } from '../../scripts/lib/processes.js';

const FAKE_KEY_BODY = randomBytes(24).toString('hex');

/** Runs a program to its exit and returns the exit code and what it wrote to stderr. */
async function runToExit(entry: string, env: Record<string, string>) {
  const child = spawnApp(entry, env);
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stderr };
}

describe('start-up with a bad configuration', () => {
  it('the spawner refuses to hand a real Anthropic key to worker VMs', async () => {
    const { code, stderr } = await runToExit(ENTRIES.spawner, {
      REDIS_URL: 'redis://127.0.0.1:1',
      ANTHROPIC_ENVIRONMENT_ID: 'env_x',
      INSTAVM_API_KEY: 'instavm_sk_x',
      // Real-looking but made up here, so no committed line looks like a credential.
      ANTHROPIC_ENVIRONMENT_KEY: `sk-ant-oat01-${FAKE_KEY_BODY}`,
    });
    expect(code).toBe(78);
    expect(stderr).toContain('ANTHROPIC_ENVIRONMENT_KEY: holds a real Anthropic key');
    expect(stderr).not.toContain(FAKE_KEY_BODY);
  });

  it('the ingress stops on a malformed signing key, naming the variable', async () => {
    const { code, stderr } = await runToExit(ENTRIES.ingress, {
      REDIS_URL: 'redis://127.0.0.1:1',
      ANTHROPIC_WEBHOOK_SIGNING_KEY: 'v1,whsec_abc',
    });
    expect(code).toBe(78);
    expect(stderr).toContain('ANTHROPIC_WEBHOOK_SIGNING_KEY: must be "whsec_" followed by base64');
  });

  it('the ingress names REDIS_URL when it is missing', async () => {
    const { code, stderr } = await runToExit(ENTRIES.ingress, {});
    expect(code).toBe(78);
    expect(stderr).toContain('REDIS_URL: set REDIS_URL');
  });
});
