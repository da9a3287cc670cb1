import { queuePrefix, summariseLatencies } from '@cma-fleet/shared';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { adminFetch, deliverRun, POLL } from '../helpers/admin.js';
import { startTestFleet, type TestFleet } from '../helpers/fleet.js';
import { fleetQueue, waitUntilQuiet } from '../helpers/runs.js';

describe('summariseLatencies', () => {
  it('gives nearest-rank percentiles, and nothing without samples', () => {
    const samples = Array.from({ length: 100 }, (_, i) => (i + 1) * 10);
    expect(summariseLatencies(samples)).toEqual({
      count: 100,
      p50: 500,
      p90: 900,
      p99: 990,
      max: 1000,
    });
    expect(summariseLatencies([])).toBeUndefined();
  });
});

describe('the status page', () => {
  let fleet: TestFleet;
  afterAll(async () => {
    await fleet?.close();
  });

  it('shows queue depth, the breaker, latency, live workers and failures, and refreshes', async () => {
    fleet = await startTestFleet();
    await deliverRun(fleet, 'sesn_page_ok');
    const queue = fleetQueue(fleet);
    await waitUntilQuiet(queue);
    fleet.fake.injectFault({ method: 'POST', path: '/v1/vms', status: 403, times: 1 });
    await deliverRun(fleet, 'sesn_page_<b>refused</b>');
    await expect.poll(() => queue.getJobCountByTypes('failed'), POLL).toBe(1);
    await queue.close();
    const redis = new Redis(fleet.redis.url);
    await redis.hset(`${queuePrefix('e2e')}:breaker`, { state: 'half-open' });
    redis.disconnect();

    const response = await adminFetch(fleet, '/');
    expect(response.status).toBe(200);
    const page = await response.text();
    expect(page).toContain('<meta http-equiv="refresh" content="5">');
    expect(page).toMatch(
      /<b>cma-spawn<\/b>: .*completed: <b>1<\/b><\/span> · <span>failed: <b>1<\/b>/,
    );
    expect(page).toContain('<b>cma-control</b>');
    expect(page).toContain('Provider breaker: <b class="half-open">half-open</b>');
    expect(page).toMatch(/Spawn latency \(last 1\): p50 <b>\d+\.\d\d s<\/b>/);
    expect(page).toContain('Live workers (1)');
    expect(page).toContain('Recent failures (1)');
    // Session ids are escaped: an id is upstream data.
    expect(page).toContain('sesn_page_&#60;b&#62;refused&#60;/b&#62;');
    expect(page).not.toContain('<b>refused</b>');
    expect(page).toMatch(/the API key may not do this[^<]*answered 403/);
  });
});
