import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { queuePrefix, WorkerStateStore } from '@cma-fleet/shared';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { startTestFleet, type TestFleet } from '../helpers/fleet.js';
import { runStartedEvent, signedHeaders } from '../helpers/sign.js';
import { fakeAntBin, sandboxSkipReason } from './helpers.js';

const skipReason = sandboxSkipReason();
if (skipReason) console.warn(`SKIPPED local sandbox failure test: ${skipReason}`);

describe.skipIf(skipReason !== undefined)('a delivery when the local sandbox cannot start', () => {
  let fleet: TestFleet | undefined;
  let redis: Redis | undefined;
  const originalPath = process.env.PATH;
  const temporary: string[] = [];
  afterEach(async () => {
    redis?.disconnect();
    await fleet?.close();
    process.env.PATH = originalPath;
    for (const dir of temporary) rmSync(dir, { recursive: true, force: true });
  });

  it("fails the run at once with the sandbox runtime's words, and ant never runs", async () => {
    const bin = fakeAntBin();
    // A bubblewrap that cannot make namespaces, as in a locked-down container.
    writeFileSync(
      join(bin, 'bwrap'),
      '#!/bin/sh\necho "bwrap: creating new namespace failed" >&2\nsleep 1\nexit 1\n',
    );
    chmodSync(join(bin, 'bwrap'), 0o755);
    const runtimeDir = mkdtempSync(join(tmpdir(), 'cma-e2e-broken-'));
    temporary.push(bin, runtimeDir);
    process.env.PATH = `${bin}:${originalPath}`;
    fleet = await startTestFleet({
      SANDBOX_PROVIDER: 'local',
      ANTHROPIC_ENVIRONMENT_KEY: `sk-ant-oat01-${randomBytes(24).toString('base64url')}`,
      LOCAL_RUNTIME_DIR: runtimeDir,
    });
    const sessionId = 'sesn_01e2eBrokenSandbox';
    const body = runStartedEvent('whe_e2e_broken', sessionId);
    const response = await fetch(`${fleet.ingress.url}/webhook`, {
      method: 'POST',
      headers: signedHeaders(fleet.secrets.signingKey, 'whe_e2e_broken', body),
      body,
    });
    expect(response.status).toBe(200);

    redis = new Redis(fleet.redis.url);
    const store = new WorkerStateStore(redis, queuePrefix(fleet.env.REDIS_KEY_PREFIX ?? 'e2e'));
    await expect
      .poll(async () => (await store.get(sessionId))?.status, { timeout: 20_000 })
      .toBe('failed');
    const state = await store.get(sessionId);
    expect(state?.error).toContain('the local sandbox is unavailable');
    expect(state?.error).toContain('bwrap: creating new namespace failed');
    // One attempt only: retrying cannot make a sandbox, and nothing ran without one.
    expect(state?.attempts).toBe(1);
    for (const id of readdirSync(runtimeDir)) {
      expect(existsSync(join(runtimeDir, id, 'work', 'record.json'))).toBe(false);
    }
  });
});
