import { inspect } from 'node:util';
import {
  type CreateVmRequest,
  type EgressPolicy,
  InstaVmClient,
  InstaVmHttpError,
  InstaVmTransportError,
} from '@cma-fleet/instavm';
import { afterEach, describe, expect, it } from 'vitest';
import { type FakeInstaVm, startFakeInstaVm } from './index.js';

// The real client against the fake over real HTTP: what the spawner will meet, failures included.

const API_KEY = 'instavm_sk_test_0123456789abcdef';

const POLICY: EgressPolicy = {
  allow_package_managers: false,
  allow_http: false,
  allow_https: true,
  allowed_domains: ['api.anthropic.com'],
  allowed_cidrs: [],
};

function createRequest(metadata: Record<string, string>): CreateVmRequest {
  return {
    vm_lifetime_seconds: 3600,
    memory_mb: 1024,
    vcpu_count: 2,
    metadata,
    env: { CMA_WORKER: 'w1', ANTHROPIC_BASE_URL: 'https://api.anthropic.com' },
    egress_policy: POLICY,
    snapshot_id: 'snap_ant',
    vault_ids: ['vault_1'],
  };
}

const started: FakeInstaVm[] = [];

async function fakeWith(options: Parameters<typeof startFakeInstaVm>[0] = {}) {
  const fake = await startFakeInstaVm({ apiKey: API_KEY, ...options });
  started.push(fake);
  return fake;
}

function clientFor(fake: FakeInstaVm, overrides: { apiKey?: string; timeoutMs?: number } = {}) {
  return new InstaVmClient({ baseUrl: fake.url, apiKey: API_KEY, ...overrides });
}

/** Awaits the promise's rejection and returns the error, failing if it resolved. */
async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to fail, but it succeeded');
}

afterEach(async () => {
  await Promise.all(started.splice(0).map((fake) => fake.close()));
});

describe('the InstaVM client against the fake', () => {
  it('drives a VM through create, read, list, egress, execute and delete', async () => {
    const fake = await fakeWith();
    const client = clientFor(fake);

    const vm = await client.createVm(createRequest({ fleet: 'cma', worker: 'w1' }));
    await client.createVm(createRequest({ fleet: 'other', worker: 'w2' }));
    expect(vm.vm_id).toMatch(/^vm_[0-9a-f]+$/);
    expect(vm.session_id).toMatch(/^sess_[0-9a-f]+$/);
    expect(vm.status).toBe('running');

    const created = fake.vms().find((candidate) => candidate.vm_id === vm.vm_id);
    expect(created).toMatchObject({
      env: { CMA_WORKER: 'w1', ANTHROPIC_BASE_URL: 'https://api.anthropic.com' },
      metadata: { fleet: 'cma', worker: 'w1' },
      egress_policy: POLICY,
      vm_lifetime_seconds: 3600,
      memory_mb: 1024,
      vcpu_count: 2,
      snapshot_id: 'snap_ant',
      vault_ids: ['vault_1'],
    });
    const createCall = fake.requests()[0];
    expect(createCall).toMatchObject({ method: 'POST', path: '/v1/vms', query: { wait: 'true' } });
    expect(createCall?.headers['x-api-key']).toBe(API_KEY);

    expect(await client.getVm(vm.vm_id)).toMatchObject({ vm_id: vm.vm_id, status: 'running' });
    const listed = await client.listVms({ fleet: 'cma' });
    expect(listed.map((item) => item.vm_id)).toEqual([vm.vm_id]);

    const tighter = { ...POLICY, allowed_domains: ['api.anthropic.com', 'github.com'] };
    await client.setVmEgress(vm.vm_id, tighter);
    const egress = fake.vms().find((candidate) => candidate.vm_id === vm.vm_id)?.egress_history;
    expect(egress?.map((change) => change.via)).toEqual(['create', 'egress']);
    expect(egress?.[1]?.policy).toEqual(tighter);

    const result = await client.execute({
      command: 'echo hi',
      session_id: vm.session_id,
      language: 'bash',
      timeout: 30,
    });
    expect(result.exit_code).toBe(0);
    const task = await client.executeAsync({
      command: 'nohup ant worker &',
      session_id: vm.session_id,
      language: 'bash',
      timeout: 60,
      vault_ids: ['vault_1'],
    });
    const executions = fake.vms().find((candidate) => candidate.vm_id === vm.vm_id)?.executions;
    expect(executions?.map((run) => [run.mode, run.language, run.command])).toEqual([
      ['sync', 'bash', 'echo hi'],
      ['async', 'bash', 'nohup ant worker &'],
    ]);
    expect(executions?.[1]?.task_id).toBe(task.task_id);
    expect(executions?.[1]?.vault_ids).toEqual(['vault_1']);

    await client.deleteVm(vm.vm_id);
    expect(await client.getVm(vm.vm_id)).toBeUndefined();
    expect(await client.listVms({ fleet: 'cma' })).toEqual([]);
    expect(fake.vms().find((candidate) => candidate.vm_id === vm.vm_id)?.status).toBe('killed');
    // Deleting a VM that is already gone is a success for the caller, but did reach the fake.
    await client.deleteVm(vm.vm_id);
    expect(fake.requests().filter((request) => request.method === 'DELETE')).toHaveLength(2);
  });

  it('surfaces a wrong API key as a 401 HTTP error carrying the detail', async () => {
    const fake = await fakeWith();
    const client = clientFor(fake, { apiKey: 'instavm_sk_wrong_key' });

    const error = await rejectionOf(client.createVm(createRequest({ fleet: 'cma' })));

    expect(error).toBeInstanceOf(InstaVmHttpError);
    expect((error as InstaVmHttpError).status).toBe(401);
    expect((error as InstaVmHttpError).message).toContain('Invalid API key');
    expect((error as InstaVmHttpError).message).not.toContain('instavm_sk_wrong_key');
    expect(fake.vms()).toEqual([]);
  });

  it('surfaces an out-of-range create as a 422 naming the field, and creates nothing', async () => {
    const fake = await fakeWith();
    const client = clientFor(fake);

    const error = await rejectionOf(
      client.createVm({ ...createRequest({ fleet: 'cma' }), memory_mb: 64 }),
    );

    expect(error).toBeInstanceOf(InstaVmHttpError);
    const httpError = error as InstaVmHttpError;
    expect(httpError.status).toBe(422);
    expect(JSON.parse(httpError.body).detail[0].loc).toEqual(['body', 'memory_mb']);
    expect(httpError.message).toContain('memory_mb');
    expect(fake.vms()).toEqual([]);
  });

  it('reads Retry-After on a 429 into retryAfterMs', async () => {
    const fake = await fakeWith();
    fake.injectFault({ path: '/v1/vms', status: 429, retryAfter: '2', times: 1 });

    const error = await rejectionOf(clientFor(fake).getVm('vm_any'));

    expect(error).toBeInstanceOf(InstaVmHttpError);
    expect((error as InstaVmHttpError).status).toBe(429);
    expect((error as InstaVmHttpError).retryAfterMs).toBe(2000);
  });

  it('reports an unanswered request as a timeout that was sent', async () => {
    const fake = await fakeWith();
    fake.injectFault({ hang: true });

    const error = await rejectionOf(clientFor(fake, { timeoutMs: 200 }).getVm('vm_any'));

    expect(error).toBeInstanceOf(InstaVmTransportError);
    expect(error).toMatchObject({ kind: 'timeout', requestSent: true });
    expect(fake.requests().map((request) => request.path)).toEqual(['/v1/vms/vm_any']);
  });

  it('reports a closed port as refused and not sent', async () => {
    // Closed before any request, so no pooled keep-alive socket can stand in for a connect.
    const gone = await startFakeInstaVm();
    await gone.close();

    const error = await rejectionOf(clientFor(gone).getVm('vm_any'));

    expect(error).toBeInstanceOf(InstaVmTransportError);
    expect(error).toMatchObject({ kind: 'refused', requestSent: false });
  });

  it('reports a reset connection as a reset that may have been acted on', async () => {
    const fake = await fakeWith();
    fake.injectFault({ resetConnection: true, times: 1 });

    const error = await rejectionOf(clientFor(fake).getVm('vm_any'));

    expect(error).toBeInstanceOf(InstaVmTransportError);
    expect(error).toMatchObject({ kind: 'reset', requestSent: true });
  });

  it.each([
    ['its answer never comes', { hang: true }, InstaVmTransportError],
    ['a gateway error replaces its answer', { status: 504 }, InstaVmHttpError],
    ['its connection is reset after the fact', { resetConnection: true }, InstaVmTransportError],
  ])('leaves a VM behind when a create succeeds but %s', async (_case, fault, errorType) => {
    const fake = await fakeWith();
    fake.injectFault({ method: 'POST', path: '/v1/vms', afterEffect: true, times: 1, ...fault });
    const client = clientFor(fake, { timeoutMs: 300 });

    const error = await rejectionOf(client.createVm(createRequest({ fleet: 'cma', worker: 'w9' })));

    expect(error).toBeInstanceOf(errorType);
    const orphans = await client.listVms({ fleet: 'cma', worker: 'w9' });
    expect(orphans).toHaveLength(1);
    expect(fake.vms().map((vm) => vm.status)).toEqual(['running']);
  });

  it('no longer finds a VM whose worker exited on idle', async () => {
    const fake = await fakeWith();
    const client = clientFor(fake);
    const vm = await client.createVm(createRequest({ fleet: 'cma' }));

    fake.exitVm(vm.vm_id);

    expect(await client.getVm(vm.vm_id)).toBeUndefined();
    expect(await client.listVms({ fleet: 'cma' })).toEqual([]);
    const execute = client.execute({
      command: 'true',
      session_id: vm.session_id,
      language: 'bash',
      timeout: 5,
    });
    expect(await rejectionOf(execute)).toMatchObject({ status: 404 });
    expect(fake.vms()[0]).toMatchObject({ status: 'stopped', end_reason: 'exited' });
  });

  it('no longer finds a VM past its lifetime', async () => {
    let now = Date.parse('2030-01-01T00:00:00Z');
    const fake = await fakeWith({ now: () => now });
    const client = clientFor(fake);
    const vm = await client.createVm({
      ...createRequest({ fleet: 'cma' }),
      vm_lifetime_seconds: 60,
    });

    now += 59_000;
    expect(await client.getVm(vm.vm_id)).toMatchObject({ status: 'running' });
    now += 1_000;
    expect(await client.getVm(vm.vm_id)).toBeUndefined();
    expect(fake.vms()[0]).toMatchObject({ status: 'stopped', end_reason: 'expired' });
  });

  it('never puts the API key in an error, whatever went wrong', async () => {
    const fake = await fakeWith();
    const client = clientFor(fake, { timeoutMs: 200 });
    const gone = await startFakeInstaVm();
    await gone.close();
    const failures: Promise<unknown>[] = [
      rejectionOf(clientFor(fake, { apiKey: `${API_KEY}x` }).getVm('vm_any')),
      rejectionOf(client.createVm({ ...createRequest({}), vcpu_count: 3 })),
      rejectionOf(clientFor(gone).getVm('vm_any')),
    ];
    const errors = await Promise.all(failures);
    fake.injectFault({ status: 500, times: 1 });
    errors.push(await rejectionOf(client.getVm('vm_any')));
    fake.injectFault({ resetConnection: true, times: 1 });
    errors.push(await rejectionOf(client.getVm('vm_any')));
    fake.injectFault({ hang: true, times: 1 });
    errors.push(await rejectionOf(client.getVm('vm_any')));

    expect(errors.map((error) => (error as Error).name)).toEqual([
      'InstaVmHttpError',
      'InstaVmHttpError',
      'InstaVmTransportError',
      'InstaVmHttpError',
      'InstaVmTransportError',
      'InstaVmTransportError',
    ]);
    for (const error of errors) {
      // Everything a logger could print: message, stack, fields and the cause chain.
      expect(inspect(error, { depth: 10 })).not.toContain(API_KEY);
    }
  });
});
