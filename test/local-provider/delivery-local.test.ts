import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { workerPollArgs } from '@cma-fleet/spawner';
import { afterEach, describe, expect, it } from 'vitest';
import { adminFetch } from '../helpers/admin.js';
import { startTestFleet, type TestFleet } from '../helpers/fleet.js';
import { dumpRedis } from '../helpers/redis-dump.js';
import { runStartedEvent, signedHeaders } from '../helpers/sign.js';
import { fakeAntBin, sandboxSkipReason, waitForFile } from './helpers.js';

const skipReason = sandboxSkipReason();
if (skipReason) console.warn(`SKIPPED local end-to-end test: ${skipReason}`);

interface WorkersAnswer {
  workers: Array<{ session_id: string; status: string; vm_id: string | null }>;
}

async function workerOf(fleet: TestFleet, sessionId: string) {
  const answer = (await (await adminFetch(fleet, '/workers')).json()) as WorkersAnswer;
  return answer.workers.find((w) => w.session_id === sessionId);
}

describe.skipIf(skipReason !== undefined)('a delivery with SANDBOX_PROVIDER=local', () => {
  let fleet: TestFleet | undefined;
  const originalPath = process.env.PATH;
  const temporary: string[] = [];
  afterEach(async () => {
    await fleet?.spawner.provider
      .listOurs()
      .then((live) => Promise.all(live.map((machine) => fleet?.spawner.provider.kill(machine.id))));
    await fleet?.close();
    process.env.PATH = originalPath;
    for (const dir of temporary) rmSync(dir, { recursive: true, force: true });
  });

  it('starts one sandboxed worker on this host with the poll bootstrap and a masked key', async () => {
    const bin = fakeAntBin();
    const runtimeDir = mkdtempSync(join(tmpdir(), 'cma-e2e-workers-'));
    temporary.push(bin, runtimeDir);
    // The spawner finds `ant` on its PATH, as it would on a user's machine.
    process.env.PATH = `${bin}:${originalPath}`;
    const realKey = `sk-ant-oat01-${Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64url')}`;
    fleet = await startTestFleet({
      SANDBOX_PROVIDER: 'local',
      ANTHROPIC_ENVIRONMENT_KEY: realKey,
      LOCAL_RUNTIME_DIR: runtimeDir,
    });
    const sessionId = 'sesn_01e2eLocal';
    const body = runStartedEvent('whe_e2e_local', sessionId);
    const response = await fetch(`${fleet.ingress.url}/webhook`, {
      method: 'POST',
      headers: signedHeaders(fleet.secrets.signingKey, 'whe_e2e_local', body),
      body,
    });
    expect(response.status).toBe(200);

    await expect
      .poll(async () => (await workerOf(fleet as TestFleet, sessionId))?.status, {
        timeout: 20_000,
      })
      .toBe('running');
    const vmId = (await workerOf(fleet, sessionId))?.vm_id ?? '';
    expect(vmId).toMatch(/^lw-/);
    expect(readdirSync(runtimeDir)).toEqual([vmId]);

    const workdir = join(runtimeDir, vmId, 'work');
    await waitForFile(join(workdir, 'record.json'));
    const record = JSON.parse(readFileSync(join(workdir, 'record.json'), 'utf8')) as {
      argv: string[];
      env: Record<string, string>;
    };
    expect(record.argv).toEqual(workerPollArgs({ workdir, maxIdle: '30s' }));
    expect(record.env).toMatchObject({
      ANTHROPIC_ENVIRONMENT_ID: 'env_01e2etest',
      ANTHROPIC_SESSION_ID: sessionId,
      ANTHROPIC_BASE_URL: 'https://api.anthropic.com',
    });
    expect(record.env.ANTHROPIC_ENVIRONMENT_KEY).toMatch(/\S/);
    expect(record.env.ANTHROPIC_ENVIRONMENT_KEY).not.toBe(realKey);

    // Neither the real key nor the control plane's other secrets reach the worker, Redis or logs.
    const seenByWorker = JSON.stringify(record);
    const redisContents = await dumpRedis(fleet.redis.url);
    const logText = fleet.logs.join('');
    expect(logText).toContain('whe_e2e_local');
    for (const secret of [realKey, fleet.secrets.apiKey, fleet.secrets.signingKey]) {
      expect(seenByWorker).not.toContain(secret);
      expect(redisContents).not.toContain(secret);
      expect(logText).not.toContain(secret);
    }
    expect(fleet.fake.vms()).toEqual([]);
  });
});
