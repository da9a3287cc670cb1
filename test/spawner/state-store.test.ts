import { WorkerStateStore } from '@cma-fleet/shared';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startTestRedis, type TestRedis } from '../helpers/redis.js';

// The worker record's writes are one Lua script; these pin down what each of them leaves.

describe('WorkerStateStore writes', () => {
  let server: TestRedis;
  let redis: Redis;
  let now = 1_000;
  let store: WorkerStateStore;

  beforeAll(async () => {
    server = await startTestRedis();
    redis = new Redis(server.url);
  });
  afterAll(async () => {
    redis?.disconnect();
    await server?.close();
  });
  beforeEach(async () => {
    await redis.flushall();
    now = 1_000;
    store = new WorkerStateStore(redis, '{t}', () => now);
  });

  const requested = {
    status: 'provisioning',
    jobId: 'j1',
    attempts: 1,
    reason: 'requested',
  } as const;

  it('begins a record for a session that has none, in its index and history', async () => {
    expect(await store.beginIfAbsent('sesn_a', requested)).toEqual({ began: true });

    expect(await store.get('sesn_a')).toEqual({
      sessionId: 'sesn_a',
      status: 'provisioning',
      jobId: 'j1',
      attempts: 1,
      vmId: undefined,
      error: undefined,
      createdAt: 1_000,
      updatedAt: 1_000,
    });
    expect(await store.history('sesn_a')).toEqual([
      { status: 'provisioning', at: 1_000, reason: 'requested' },
    ]);
    expect((await store.list()).map((state) => state.sessionId)).toEqual(['sesn_a']);
  });

  it('answers the record it finds and writes nothing over it', async () => {
    await store.beginIfAbsent('sesn_a', requested);
    now = 2_000;
    await store.transition('sesn_a', { status: 'running', vmId: 'vm_1', reason: 'started' });
    now = 3_000;

    const opening = await store.beginIfAbsent('sesn_a', { ...requested, jobId: 'j2' });

    expect(opening).toMatchObject({
      began: false,
      current: { status: 'running', vmId: 'vm_1', jobId: 'j1', updatedAt: 2_000 },
    });
    expect(await store.get('sesn_a')).toMatchObject({ jobId: 'j1', updatedAt: 2_000 });
    expect((await store.history('sesn_a')).map((change) => change.status)).toEqual([
      'provisioning',
      'running',
    ]);
  });

  it('keeps an error only on a failed record, and the first created_at', async () => {
    await store.beginIfAbsent('sesn_a', requested);
    now = 2_000;
    await store.transition('sesn_a', { status: 'failed', error: 'boom', reason: 'gave up' });
    expect(await store.get('sesn_a')).toMatchObject({ status: 'failed', error: 'boom' });

    now = 3_000;
    await store.transition('sesn_a', { status: 'provisioning', reason: 'retry' });

    expect(await store.get('sesn_a')).toMatchObject({
      status: 'provisioning',
      error: undefined,
      createdAt: 1_000,
      updatedAt: 3_000,
    });
  });

  it('gives a transition without a record a created_at', async () => {
    now = 5_000;
    await store.transition('sesn_new', { status: 'provisioning', jobId: 'j9', reason: 'waiting' });

    expect(await store.get('sesn_new')).toMatchObject({ createdAt: 5_000, jobId: 'j9' });
  });

  it('begin replaces the fields of the previous worker but keeps its history', async () => {
    await store.beginIfAbsent('sesn_a', requested);
    await store.transition('sesn_a', { status: 'exited', vmId: 'vm_1', reason: 'idle' });
    now = 9_000;

    await store.begin('sesn_a', { ...requested, jobId: 'j2' });

    expect(await store.get('sesn_a')).toMatchObject({
      jobId: 'j2',
      vmId: undefined,
      createdAt: 9_000,
    });
    expect(await store.history('sesn_a')).toHaveLength(3);
  });

  it('keeps the newest 50 transitions', async () => {
    await store.beginIfAbsent('sesn_a', requested);
    for (let i = 1; i <= 60; i += 1) {
      now = 1_000 + i;
      await store.transition('sesn_a', { status: 'provisioning', reason: `step ${i}` });
    }

    const history = await store.history('sesn_a');
    expect(history).toHaveLength(50);
    expect(history.at(-1)?.reason).toBe('step 60');
    expect(history[0]?.reason).toBe('step 11');
  });
});
