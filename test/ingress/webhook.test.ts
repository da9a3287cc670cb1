import {
  createIngressLogger,
  loadIngressConfig,
  type RunningIngress,
  startIngress,
} from '@cma-fleet/ingress';
import { ConfigError, queuePrefix, SPAWN_QUEUE } from '@cma-fleet/shared';
import { Queue } from 'bullmq';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { captureLines } from '../helpers/capture.js';
import { startTestRedis, type TestRedis } from '../helpers/redis.js';
import { newSigningKey, runStartedEvent, signedHeaders } from '../helpers/sign.js';

const signingKey = newSigningKey();

async function startWith(redis: TestRedis, overrides: Record<string, string | undefined> = {}) {
  const config = loadIngressConfig({
    REDIS_URL: redis.url,
    REDIS_KEY_PREFIX: 'webhook',
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'info',
    ANTHROPIC_WEBHOOK_SIGNING_KEY: signingKey,
    ...overrides,
  });
  const logs = captureLines();
  const ingress = await startIngress(config, createIngressLogger(config, logs));
  return { ingress, logs: logs.lines };
}

function post(ingress: RunningIngress, body: string | Buffer, headers: Record<string, string>) {
  return fetch(`${ingress.url}/webhook`, { method: 'POST', headers, body, redirect: 'manual' });
}

describe('POST /webhook', () => {
  let redis: TestRedis;
  let ingress: RunningIngress;
  let queue: Queue;

  beforeAll(async () => {
    redis = await startTestRedis();
    ({ ingress } = await startWith(redis));
    queue = new Queue(SPAWN_QUEUE, {
      connection: { url: redis.url },
      prefix: queuePrefix('webhook'),
    });
  });
  afterAll(async () => {
    await queue.close();
    await ingress.close();
    await redis.close();
  });

  it('accepts a signed delivery sent with any content type', async () => {
    const body = runStartedEvent('whe_text_plain', 'sesn_text_plain');
    const headers = {
      ...signedHeaders(signingKey, 'whe_text_plain', body),
      'content-type': 'text/plain',
    };
    const response = await post(ingress, body, headers);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ ok: true, scheduled: 'sesn_text_plain' });
  });

  it('accepts a signed delivery sent with no content type at all', async () => {
    const body = runStartedEvent('whe_no_type', 'sesn_no_type');
    const { 'content-type': _, ...headers } = signedHeaders(signingKey, 'whe_no_type', body);
    const response = await post(ingress, Buffer.from(body), headers);
    expect(response.status).toBe(200);
  });

  it('answers 413 to a body over 1 MiB and enqueues nothing', async () => {
    const before = await queue.count();
    const body = JSON.stringify({ type: 'event', pad: 'x'.repeat(1024 * 1024) });
    const response = await post(ingress, body, signedHeaders(signingKey, 'whe_big', body));
    expect(response.status).toBe(413);
    expect(await response.json()).toEqual({ error: expect.stringContaining('1 MiB') });
    expect(await queue.count()).toBe(before);
  });

  it.each([
    ['a JSON array', '[1,2]'],
    ['a JSON string', '"session.status_run_started"'],
    ['null', 'null'],
    ['an empty body', ''],
    ['an event without data', '{"type":"event","id":"x"}'],
  ])('answers 400 to a verified body that is %s', async (_what, body) => {
    const before = await queue.count();
    const response = await post(ingress, body, signedHeaders(signingKey, 'whe_400', body));
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ error: expect.any(String) });
    expect(await queue.count()).toBe(before);
  });

  it('answers 400 when data.id of a run-started event is not a string', async () => {
    const body = JSON.stringify({
      type: 'event',
      data: { type: 'session.status_run_started', id: 42 },
    });
    const response = await post(ingress, body, signedHeaders(signingKey, 'whe_numeric', body));
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: string }).error).toMatch(/data\.id/);
  });

  it('answers a retried delivery with duplicate and enqueues nothing more', async () => {
    const body = runStartedEvent('whe_retried', 'sesn_retried');
    const first = await post(ingress, body, signedHeaders(signingKey, 'whe_retried', body));
    expect(await first.json()).toEqual({ ok: true, scheduled: 'sesn_retried' });
    const count = await queue.count();
    // Anthropic re-stamps the timestamp on a retry; the webhook-id stays.
    const retryHeaders = signedHeaders(
      signingKey,
      'whe_retried',
      body,
      Math.floor(Date.now() / 1000) + 5,
    );
    const retry = await post(ingress, body, retryHeaders);
    expect(retry.status).toBe(200);
    expect(await retry.json()).toEqual({ ok: true, duplicate: true });
    expect(await queue.count()).toBe(count);
  });

  it('never redirects, even for a trailing slash', async () => {
    const body = runStartedEvent('whe_slash', 'sesn_slash');
    const response = await fetch(`${ingress.url}/webhook/`, {
      method: 'POST',
      headers: signedHeaders(signingKey, 'whe_slash', body),
      body,
      redirect: 'manual',
    });
    expect(response.status).toBe(200);
  });

  it('answers 404 with JSON, not a redirect, to unknown paths', async () => {
    const response = await fetch(`${ingress.url}/nope`, { redirect: 'manual' });
    expect(response.status).toBe(404);
  });
});

describe('the signing key', () => {
  let redis: TestRedis;
  let ingress: RunningIngress | undefined;
  beforeAll(async () => {
    redis = await startTestRedis();
  });
  afterEach(async () => {
    await ingress?.close();
    ingress = undefined;
  });
  afterAll(async () => {
    await redis.close();
  });

  it.each([
    ['unset', undefined],
    ['empty', ''],
    ['the ANTHROPIC_WHSEC placeholder', 'ANTHROPIC_WHSEC'],
  ])('when %s, every delivery gets 503 (fail closed)', async (_what, key) => {
    ({ ingress } = await startWith(redis, { ANTHROPIC_WEBHOOK_SIGNING_KEY: key }));
    const body = runStartedEvent('whe_closed', 'sesn_closed');
    const response = await post(ingress, body, signedHeaders(signingKey, 'whe_closed', body));
    expect(response.status).toBe(503);
    expect(((await response.json()) as { error: string }).error).toMatch(
      /ANTHROPIC_WEBHOOK_SIGNING_KEY/,
    );
  });

  it.each([
    ['without the whsec_ prefix', 'c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0'],
    ['with a v1, prefix pasted in', 'v1,whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0'],
    ['with characters outside base64', 'whsec_not*base64*at*all*not*base64'],
    ['too short to be a real key', 'whsec_c2VjcmV0'],
  ])('stops start-up with a message naming the variable when the key is %s', (_what, key) => {
    const load = () =>
      loadIngressConfig({ REDIS_URL: redis.url, ANTHROPIC_WEBHOOK_SIGNING_KEY: key });
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(/ANTHROPIC_WEBHOOK_SIGNING_KEY: must be "whsec_" followed by base64/);
  });
});

describe('when Redis is down', () => {
  it('answers 503 within a second and acknowledges nothing that Redis does not hold', async () => {
    const redis = await startTestRedis();
    const { ingress, logs } = await startWith(redis);
    try {
      await redis.stop();
      const body = runStartedEvent('whe_redis_down', 'sesn_redis_down');
      const started = performance.now();
      const response = await post(ingress, body, signedHeaders(signingKey, 'whe_redis_down', body));
      const elapsed = performance.now() - started;
      expect(response.status).toBe(503);
      expect(elapsed).toBeLessThan(1000);
      const health = await fetch(`${ingress.url}/health`);
      expect(health.status).toBe(503);

      // Redis comes back empty: the refused delivery left no job, and the retry is accepted.
      await redis.start();
      await expect
        .poll(async () => (await fetch(`${ingress.url}/health`)).status, { timeout: 10_000 })
        .toBe(200);
      const queue = new Queue(SPAWN_QUEUE, {
        connection: { url: redis.url },
        prefix: queuePrefix('webhook'),
      });
      expect(await queue.count()).toBe(0);
      const retry = await post(ingress, body, signedHeaders(signingKey, 'whe_redis_down', body));
      expect(retry.status).toBe(200);
      expect(await queue.count()).toBe(1);
      await queue.close();
      expect(logs.join('')).toContain('"outcome":"unavailable"');
    } finally {
      await ingress.close();
      await redis.close();
    }
  });
});
