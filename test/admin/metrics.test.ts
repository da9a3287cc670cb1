import { createLogger, createSpawnerMetrics, queuePrefix } from '@cma-fleet/shared';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { startMetricsServer } from '../../apps/spawner/src/metrics-server.js';
import { adminFetch, deliverRun, POLL } from '../helpers/admin.js';
import { captureLines } from '../helpers/capture.js';
import { startTestFleet, type TestFleet } from '../helpers/fleet.js';
import { parseMetrics, sampleValue } from '../helpers/prometheus.js';
import { fleetQueue, waitUntilQuiet } from '../helpers/runs.js';
import { runStartedEvent } from '../helpers/sign.js';

async function ingressMetrics(fleet: TestFleet) {
  const response = await adminFetch(fleet, '/metrics');
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parseMetrics(await response.text());
}

async function spawnerMetrics(fleet: TestFleet, token = fleet.secrets.adminToken) {
  const server = await fleet.spawner.operator.metricsServer;
  if (!server) throw new Error('the spawner metrics endpoint is off');
  return fetch(server.url, { headers: { authorization: `Bearer ${token}` } });
}

describe('Prometheus metrics after an end-to-end run', () => {
  let fleet: TestFleet;
  afterEach(async () => {
    await fleet?.close();
  });

  it('count the delivery, the spawn latency and the provider calls with their labels', async () => {
    fleet = await startTestFleet({ SPAWNER_METRICS_PORT: '0' });
    await deliverRun(fleet, 'sesn_metrics');
    const queue = fleetQueue(fleet);
    await expect.poll(async () => (await queue.getJobs(['completed'])).length, POLL).toBe(1);
    await queue.close();
    // A forged delivery: a verification failure.
    const forged = await fetch(`${fleet.ingress.url}/webhook`, {
      method: 'POST',
      headers: {
        'webhook-id': 'whe_forged',
        'webhook-timestamp': String(Math.floor(Date.now() / 1000)),
        'webhook-signature': 'v1,AAAA',
      },
      body: runStartedEvent('whe_forged', 'sesn_forged'),
    });
    expect(forged.status).toBe(401);

    const ingress = await ingressMetrics(fleet);
    const delivered = { outcome: 'scheduled', reason: '' };
    expect(sampleValue(ingress, 'cma_deliveries_total', delivered)).toBe(1);
    const rejected = { outcome: 'rejected', reason: 'signature' };
    expect(sampleValue(ingress, 'cma_deliveries_total', rejected)).toBe(1);
    expect(sampleValue(ingress, 'cma_webhook_verification_failures_total')).toBe(1);
    expect(sampleValue(ingress, 'cma_enqueue_duration_seconds')).toBe(1);
    expect(sampleValue(ingress, 'cma_queue_jobs', { queue: 'cma-spawn', state: 'completed' })).toBe(
      1,
    );
    expect(sampleValue(ingress, 'cma_workers', { status: 'running' })).toBe(1);
    expect(sampleValue(ingress, 'cma_provider_breaker_state', { state: 'closed' })).toBe(1);

    const response = await spawnerMetrics(fleet);
    expect(response.status).toBe(200);
    const spawner = parseMetrics(await response.text());
    const latency = spawner.get('cma_spawn_latency_seconds')?.[0];
    expect(latency?.value).toBe(1);
    expect(latency?.sum).toBeGreaterThan(0);
    expect(latency?.sum).toBeLessThan(30);
    expect(sampleValue(spawner, 'cma_provisions_total', { outcome: 'spawned' })).toBe(1);
    const create = { endpoint: 'vms.create', method: 'POST' };
    expect(sampleValue(spawner, 'cma_provider_requests_total', create)).toBe(1);
    const start = { endpoint: 'execute_async', method: 'POST' };
    expect(sampleValue(spawner, 'cma_provider_requests_total', start)).toBe(1);
    const statuses = spawner.get('cma_provider_requests_total')?.map((s) => s.labels.status);
    expect(statuses?.every((status) => /^2\d\d$/.test(status ?? ''))).toBe(true);
    expect(spawner.has('cma_reconciler_actions_total')).toBe(true);
    expect(spawner.has('cma_provision_retries_total')).toBe(true);
  });

  it('count retries and the breaker state the spawners publish', async () => {
    fleet = await startTestFleet({ SPAWNER_METRICS_PORT: '0' });
    fleet.fake.injectFault({ method: 'POST', path: '/v1/vms', status: 500, times: 1 });
    await deliverRun(fleet, 'sesn_retry');
    const queue = fleetQueue(fleet);
    await waitUntilQuiet(queue);
    await queue.close();
    const spawner = parseMetrics(await (await spawnerMetrics(fleet)).text());
    expect(sampleValue(spawner, 'cma_provision_retries_total')).toBe(1);
    const failedCreate = { endpoint: 'vms.create', status: '500' };
    expect(sampleValue(spawner, 'cma_provider_requests_total', failedCreate)).toBe(1);

    const redis = new Redis(fleet.redis.url);
    await redis.hset(`${queuePrefix('e2e')}:breaker`, { state: 'open' });
    redis.disconnect();
    const ingress = await ingressMetrics(fleet);
    expect(sampleValue(ingress, 'cma_provider_breaker_state', { state: 'open' })).toBe(1);
    expect(sampleValue(ingress, 'cma_provider_breaker_state', { state: 'closed' })).toBe(0);
  });

  it('serves no spawner metrics when ADMIN_TOKEN is unset, and says why', async () => {
    const logs = captureLines();
    const logger = createLogger({ name: 'test', level: 'warn', destination: logs });
    const settings = { port: 0, host: '127.0.0.1', token: undefined };
    expect(await startMetricsServer(settings, createSpawnerMetrics(), logger)).toBeUndefined();
    expect(logs.lines.join('')).toContain('SPAWNER_METRICS_PORT is set but ADMIN_TOKEN is not');
  });

  it('refuses the spawner metrics without the token', async () => {
    fleet = await startTestFleet({ SPAWNER_METRICS_PORT: '0' });
    const response = await spawnerMetrics(fleet, 'not-the-token-at-all-000000');
    expect(response.status).toBe(401);
    expect(await response.text()).not.toContain('cma_');
  });
});
