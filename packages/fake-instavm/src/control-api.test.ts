import { afterEach, describe, expect, it } from 'vitest';
import { type FakeInstaVm, startFakeInstaVm } from './index.js';

// The /_fake/ control API, as a test would use it against a fake running in another process.

const API_KEY = 'instavm_sk_control';
let fake: FakeInstaVm | undefined;

async function startFake(): Promise<FakeInstaVm> {
  fake = await startFakeInstaVm({ apiKey: API_KEY });
  return fake;
}

afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

interface ControlAnswer {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON answers.
  body: any;
}

async function control(
  target: FakeInstaVm,
  method: string,
  path: string,
  body?: unknown,
): Promise<ControlAnswer> {
  const response = await fetch(`${target.url}/_fake${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

async function createVm(target: FakeInstaVm): Promise<{ vm_id: string }> {
  const response = await fetch(`${target.url}/v1/vms?wait=true`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': API_KEY },
    body: JSON.stringify({ vm_lifetime_seconds: 600, metadata: { fleet: 'cma' } }),
  });
  return (await response.json()) as { vm_id: string };
}

describe('the /_fake/ control API', () => {
  it('needs no API key and is left out of the request log', async () => {
    const target = await startFake();
    await createVm(target);

    const requests = await control(target, 'GET', '/requests');
    const vms = await control(target, 'GET', '/vms');

    expect(requests.status).toBe(200);
    expect(requests.body.requests.map((request: { path: string }) => request.path)).toEqual([
      '/v1/vms',
    ]);
    expect(vms.body.vms).toHaveLength(1);
    expect(target.requests()).toHaveLength(1);
  });

  it('clears the request log on DELETE /_fake/requests', async () => {
    const target = await startFake();
    await createVm(target);

    await control(target, 'DELETE', '/requests');

    expect(target.requests()).toEqual([]);
    expect(target.vms()).toHaveLength(1);
  });

  it('makes a VM exit through POST /_fake/vms/:id/exit, and 404s an unknown one', async () => {
    const target = await startFake();
    const vm = await createVm(target);

    const exited = await control(target, 'POST', `/vms/${vm.vm_id}/exit`);
    const unknown = await control(target, 'POST', '/vms/vm_nope/exit');
    const read = await fetch(`${target.url}/v1/vms/${vm.vm_id}`, {
      headers: { 'x-api-key': API_KEY },
    });

    expect(exited.body.vm).toMatchObject({ vm_id: vm.vm_id, status: 'stopped' });
    expect(unknown.status).toBe(404);
    expect(read.status).toBe(404);
  });

  it('installs a fault from POST /_fake/faults and removes them on DELETE', async () => {
    const target = await startFake();

    const added = await control(target, 'POST', '/faults', { path: '/v1/vms', status: 429 });
    const faulted = await fetch(`${target.url}/v1/vms`, { headers: { 'x-api-key': API_KEY } });
    await control(target, 'DELETE', '/faults');
    const cleared = await fetch(`${target.url}/v1/vms`, { headers: { 'x-api-key': API_KEY } });

    expect(added.status).toBe(200);
    expect(faulted.status).toBe(429);
    expect(cleared.status).toBe(200);
  });

  it('refuses a fault rule with a wrong field type, installing nothing', async () => {
    const target = await startFake();

    const refused = await control(target, 'POST', '/faults', { status: '429' });
    const unknownField = await control(target, 'POST', '/faults', { stauts: 429 });
    const answer = await fetch(`${target.url}/v1/vms`, { headers: { 'x-api-key': API_KEY } });

    expect(refused).toEqual({ status: 422, body: { detail: 'status must be a number' } });
    expect(unknownField.status).toBe(422);
    expect(answer.status).toBe(200);
  });

  it('forgets VMs, requests and faults on POST /_fake/reset', async () => {
    const target = await startFake();
    await createVm(target);
    target.injectFault({ status: 500 });

    await control(target, 'POST', '/reset');

    expect(target.vms()).toEqual([]);
    expect(target.requests()).toEqual([]);
    const answer = await fetch(`${target.url}/v1/vms`, { headers: { 'x-api-key': API_KEY } });
    expect(answer.status).toBe(200);
  });

  it('is not affected by a fault that matches every path', async () => {
    const target = await startFake();
    target.injectFault({ hang: true });

    const vms = await control(target, 'GET', '/vms');

    expect(vms).toEqual({ status: 200, body: { vms: [] } });
  });
});
