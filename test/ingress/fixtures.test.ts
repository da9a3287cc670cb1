import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type RunningIngress, startIngress } from '@cma-fleet/ingress';
import { createLogger, SPAWN_QUEUE } from '@cma-fleet/shared';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startTestRedis, type TestRedis } from '../helpers/redis.js';

interface FixtureCase {
  name: string;
  expect: { status: number; outcome: 'scheduled' | 'ignored' | 'rejected'; session?: string };
  headers: Record<string, string>;
  body: string;
}

interface Fixtures {
  signing_key: string;
  now: number;
  cases: FixtureCase[];
}

const fixtures = JSON.parse(
  readFileSync(
    fileURLToPath(new URL('../../../shared/fixtures/webhooks/deliveries.json', import.meta.url)),
    'utf8',
  ),
) as Fixtures;

describe('the shared webhook fixtures, at the fixture clock', () => {
  let redis: TestRedis;
  let ingress: RunningIngress;
  let queue: Queue;

  beforeAll(async () => {
    // Only Date is faked: timers stay real, so Redis and HTTP behave normally.
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(fixtures.now * 1000);
    redis = await startTestRedis();
    ingress = await startIngress(
      {
        REDIS_URL: redis.url,
        REDIS_KEY_PREFIX: 'fixtures',
        LOG_LEVEL: 'silent',
        PORT: 0,
        HOST: '127.0.0.1',
        ANTHROPIC_WEBHOOK_SIGNING_KEY: fixtures.signing_key,
        SPAWN_ATTEMPTS: 3,
        ADMIN_PORT: 0,
        ADMIN_HOST: '127.0.0.1',
        ADMIN_DASHBOARD_WRITE: false,
      },
      createLogger({ name: 'test', level: 'silent' }),
    );
    queue = new Queue(SPAWN_QUEUE, { connection: { url: redis.url }, prefix: '{fixtures}' });
  });

  afterAll(async () => {
    vi.useRealTimers();
    await queue?.close();
    await ingress?.close();
    await redis?.close();
  });

  it.each(fixtures.cases.map((c) => [c.name, c] as const))('%s', async (_name, fixture) => {
    const before = await queue.getJobs(['waiting', 'delayed', 'active']);
    const response = await fetch(`${ingress.url}/webhook`, {
      method: 'POST',
      headers: fixture.headers,
      body: Buffer.from(fixture.body, 'utf8'),
    });
    const answer = (await response.json()) as Record<string, unknown>;
    expect(response.status).toBe(fixture.expect.status);

    const after = await queue.getJobs(['waiting', 'delayed', 'active']);
    const added = after.filter((job) => !before.some((b) => b.id === job.id));
    if (fixture.expect.outcome === 'scheduled') {
      expect(answer).toEqual({ ok: true, scheduled: fixture.expect.session });
      expect(added.map((job) => job.data.sessionId)).toEqual([fixture.expect.session]);
    } else if (fixture.expect.outcome === 'ignored') {
      expect(answer).toMatchObject({ ok: true, ignored: expect.any(String) });
      expect(added).toEqual([]);
    } else {
      expect(answer).toEqual({ error: expect.any(String) });
      expect(added).toEqual([]);
    }
  });
});
