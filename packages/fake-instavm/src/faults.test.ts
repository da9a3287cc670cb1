import { afterEach, describe, expect, it } from 'vitest';
import { type FakeInstaVm, startFakeInstaVm } from './index.js';

const started: FakeInstaVm[] = [];

async function fakeWith(apiKey?: string): Promise<FakeInstaVm> {
  const fake = await startFakeInstaVm({ apiKey });
  started.push(fake);
  return fake;
}

afterEach(async () => {
  await Promise.all(started.splice(0).map((fake) => fake.close()));
});

async function statusOf(fake: FakeInstaVm, method: string, path: string): Promise<number> {
  const response = await fetch(`${fake.url}${path}`, { method });
  await response.arrayBuffer();
  return response.status;
}

describe('fault rules', () => {
  it('applies only `times` times, then lets requests through', async () => {
    const fake = await fakeWith();
    fake.injectFault({ status: 503, times: 2 });

    const statuses = [];
    for (let i = 0; i < 3; i += 1) statuses.push(await statusOf(fake, 'GET', '/v1/vms'));

    expect(statuses).toEqual([503, 503, 200]);
  });

  it('matches on method and on path prefix without the query', async () => {
    const fake = await fakeWith();
    fake.injectFault({ method: 'delete', path: '/v1/vms', status: 500 });

    expect(await statusOf(fake, 'DELETE', '/v1/vms/vm_x?force=1')).toBe(500);
    expect(await statusOf(fake, 'GET', '/v1/vms/vm_x')).toBe(404);
    expect(await statusOf(fake, 'DELETE', '/kill')).toBe(404);
  });

  it('applies the first matching rule that has uses left', async () => {
    const fake = await fakeWith();
    fake.injectFault({ path: '/v1/vms', status: 502, times: 1 });
    fake.injectFault({ path: '/v1', status: 503 });

    expect(await statusOf(fake, 'GET', '/v1/vms')).toBe(502);
    expect(await statusOf(fake, 'GET', '/v1/vms')).toBe(503);
  });

  it('answers with the given body, a default detail, or plain text for a string', async () => {
    const fake = await fakeWith();
    fake.injectFault({ status: 409, body: { detail: 'busy' }, times: 1 });
    fake.injectFault({ status: 500, times: 1 });
    fake.injectFault({ status: 502, body: '<html>Bad Gateway</html>', times: 1 });

    const custom = await fetch(`${fake.url}/v1/vms`);
    const plain = await fetch(`${fake.url}/v1/vms`);
    const html = await fetch(`${fake.url}/v1/vms`);

    expect(await custom.json()).toEqual({ detail: 'busy' });
    expect(await plain.json()).toEqual({ detail: 'Injected fault' });
    expect(html.headers.get('content-type')).toContain('text/plain');
    expect(await html.text()).toBe('<html>Bad Gateway</html>');
  });

  it('sets Retry-After when asked', async () => {
    const fake = await fakeWith();
    fake.injectFault({ status: 429, retryAfter: '7' });

    const response = await fetch(`${fake.url}/v1/vms`);

    expect(response.headers.get('retry-after')).toBe('7');
  });

  it('with only delayMs, slows the real answer', async () => {
    const fake = await fakeWith();
    fake.injectFault({ delayMs: 150 });

    const before = performance.now();
    const response = await fetch(`${fake.url}/v1/vms`);

    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ vms: [] });
    expect(performance.now() - before).toBeGreaterThanOrEqual(140);
  });

  it('acts before the key check, and records faulted requests', async () => {
    const fake = await fakeWith('secret');
    fake.injectFault({ status: 503, times: 1 });

    expect(await statusOf(fake, 'GET', '/v1/vms')).toBe(503);
    expect(await statusOf(fake, 'GET', '/v1/vms')).toBe(401);
    expect(fake.requests().map((request) => request.path)).toEqual(['/v1/vms', '/v1/vms']);
  });

  it('with afterEffect, performs the create and then answers with the fault', async () => {
    const fake = await fakeWith();
    fake.injectFault({ path: '/v1/vms', afterEffect: true, status: 500, times: 1 });

    const status = await fetch(`${fake.url}/v1/vms`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ vm_lifetime_seconds: 600, metadata: { job: 'lost' } }),
    }).then((response) => response.status);

    expect(status).toBe(500);
    expect(fake.vms().map((vm) => [vm.status, vm.metadata])).toEqual([
      ['running', { job: 'lost' }],
    ]);
  });

  it('without afterEffect, does not perform the operation', async () => {
    const fake = await fakeWith();
    fake.injectFault({ path: '/v1/vms', status: 500, times: 1 });

    await fetch(`${fake.url}/v1/vms`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ vm_lifetime_seconds: 600 }),
    });

    expect(fake.vms()).toEqual([]);
  });

  it('refuses a malformed rule in process', async () => {
    const fake = await fakeWith();

    expect(() => fake.injectFault({ times: 0 })).toThrow(/times/);
    expect(() => fake.injectFault({ status: 42 })).toThrow(/status/);
  });

  it('stops applying after clearFaults', async () => {
    const fake = await fakeWith();
    fake.injectFault({ status: 503 });

    fake.clearFaults();

    expect(await statusOf(fake, 'GET', '/v1/vms')).toBe(200);
  });
});

describe('close', () => {
  it('ends a hanging request instead of waiting for it', async () => {
    const fake = await startFakeInstaVm();
    fake.injectFault({ hang: true });
    const hanging = fetch(`${fake.url}/v1/vms`).then(
      () => 'answered',
      () => 'failed',
    );
    await expect.poll(() => fake.requests().length).toBe(1);

    await fake.close();

    expect(await hanging).toBe('failed');
  });

  it('does not wait for a create in its delay, nor create the VM after closing', async () => {
    const fake = await startFakeInstaVm({ createDelayMs: 200 });
    const pending = fetch(`${fake.url}/v1/vms`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    }).catch(() => 'failed');
    await expect.poll(() => fake.requests().length).toBe(1);

    await fake.close();

    expect(await pending).toBe('failed');
    // Absence cannot be awaited: wait past the delay, when a create would have happened.
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(fake.vms()).toEqual([]);
  });
});
