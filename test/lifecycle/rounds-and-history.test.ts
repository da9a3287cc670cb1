import { type FakeInstaVm, startFakeInstaVm } from '@cma-fleet/fake-instavm';
import { afterAll, describe, expect, it } from 'vitest';
import { realLookingSecrets, startTestFleet } from '../helpers/fleet.js';
import { type AppProcess, startSpawnerProcess } from '../helpers/processes.js';
import { startTestRedis, type TestRedis } from '../helpers/redis.js';
import { postRun, vmsOf } from '../helpers/runs.js';

describe('reconcile rounds across two spawner processes', () => {
  let redis: TestRedis;
  let fake: FakeInstaVm;
  const spawners: AppProcess[] = [];
  afterAll(async () => {
    await Promise.all(spawners.map((s) => s.stop()));
    await fake?.close();
    await redis?.close();
  });

  it('runs each round once, whichever process takes it', async () => {
    const secrets = realLookingSecrets();
    redis = await startTestRedis();
    fake = await startFakeInstaVm({ apiKey: secrets.instavmApiKey });
    const env = {
      REDIS_URL: redis.url,
      REDIS_KEY_PREFIX: 'rounds',
      LOG_LEVEL: 'debug',
      ANTHROPIC_ENVIRONMENT_ID: 'env_rounds',
      INSTAVM_API_KEY: secrets.instavmApiKey,
      INSTAVM_API_URL: fake.url,
      RECONCILE_INTERVAL_MS: '200',
    };
    spawners.push(...(await Promise.all([1, 2].map(() => startSpawnerProcess(env)))));

    const roundsOf = (app: AppProcess) =>
      app.output
        .join('')
        .split('\n')
        .filter((line) => line.includes('"msg":"reconcile round"'))
        .map((line) => (JSON.parse(line) as { round: string }).round);
    await expect
      .poll(() => spawners.flatMap(roundsOf).length, { timeout: 40_000, interval: 200 })
      .toBeGreaterThanOrEqual(10);
    const all = spawners.flatMap(roundsOf);
    expect(new Set(all).size).toBe(all.length);
    // Each round is a scheduled slot: consecutive slots 200 ms apart, none taken twice.
    const slots = all.map((round) => Number(round.split(':').at(-1))).sort((a, b) => a - b);
    expect(slots.every((slot, i) => i === 0 || slot > (slots[i - 1] ?? 0))).toBe(true);
  }, 70_000);
});

describe('/workers', () => {
  it("shows each worker's transitions with when and why", async () => {
    const fleet = await startTestFleet({ LOG_LEVEL: 'silent', RECONCILE_INTERVAL_MS: '200' });
    try {
      expect(
        (await postRun(fleet.ingress.url, fleet.secrets.signingKey, 'sesn_history')).status,
      ).toBe(200);
      type Worker = {
        session_id: string;
        status: string;
        transitions: Array<Record<string, string>>;
      };
      const read = async () => {
        const response = await fetch(`${fleet.ingress.adminUrl}/workers`, {
          headers: { authorization: `Bearer ${fleet.secrets.adminToken}` },
        });
        const body = (await response.json()) as { workers: Worker[] };
        return body.workers.find((w) => w.session_id === 'sesn_history');
      };
      await expect.poll(async () => (await read())?.status).toBe('running');
      fleet.fake.exitVm(vmsOf(fleet.fake.vms(), 'sesn_history')[0]?.vm_id ?? '');
      await expect.poll(async () => (await read())?.status, { timeout: 3000 }).toBe('exited');
      const worker = await read();
      expect(worker?.transitions.map((t) => t.status)).toEqual([
        'provisioning',
        'provisioning',
        'running',
        'exited',
      ]);
      expect(worker?.transitions[0]?.reason).toBe('spawn requested (webhook)');
      expect(worker?.transitions[2]?.reason).toBe('worker started');
      for (const transition of worker?.transitions ?? []) {
        expect(Date.parse(transition.at ?? '')).toBeGreaterThan(0);
      }
    } finally {
      await fleet.close();
    }
  });
});
