import { afterEach, describe, expect, it } from 'vitest';
import { type FakeInstaVm, type FakeInstaVmOptions, startFakeInstaVm } from './index.js';

// The fake's InstaVM endpoints over raw HTTP, where the client would hide a detail (it filters
// lists again, always sends a language, treats 404 on delete as success).

const started: FakeInstaVm[] = [];

async function fakeWith(options: FakeInstaVmOptions = {}): Promise<FakeInstaVm> {
  const fake = await startFakeInstaVm(options);
  started.push(fake);
  return fake;
}

afterEach(async () => {
  await Promise.all(started.splice(0).map((fake) => fake.close()));
});

interface Answer {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON answers.
  body: any;
}

async function call(
  fake: FakeInstaVm,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const response = await fetch(`${fake.url}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text === '' ? undefined : JSON.parse(text) };
}

const VALID_CREATE = {
  vm_lifetime_seconds: 600,
  memory_mb: 512,
  vcpu_count: 2,
  metadata: { fleet: 'cma' },
  env: { A: 'b' },
};

async function createVm(fake: FakeInstaVm, overrides: Record<string, unknown> = {}) {
  const answer = await call(fake, 'POST', '/v1/vms?wait=true', { ...VALID_CREATE, ...overrides });
  expect(answer.status).toBe(200);
  return answer.body as { vm_id: string; session_id: string };
}

describe('POST /v1/vms validation', () => {
  it.each([
    ['vm_lifetime_seconds', 19, 'greater_than_equal'],
    ['vm_lifetime_seconds', 86_401, 'less_than_equal'],
    ['vm_lifetime_seconds', '600', 'int_type'],
    ['memory_mb', 127, 'greater_than_equal'],
    ['memory_mb', 8193, 'less_than_equal'],
    ['memory_mb', 512.5, 'int_from_float'],
    ['vcpu_count', 3, 'literal_error'],
    ['vcpu_count', 16, 'literal_error'],
    ['env', 'A=b', 'dict_type'],
    ['metadata', ['fleet'], 'dict_type'],
  ])('refuses %s = %j with a FastAPI 422 of type %s', async (field, value, type) => {
    const fake = await fakeWith();

    const answer = await call(fake, 'POST', '/v1/vms', { ...VALID_CREATE, [field]: value });

    expect(answer.status).toBe(422);
    expect(answer.body.detail).toEqual([{ loc: ['body', field], msg: expect.any(String), type }]);
    expect(fake.vms()).toEqual([]);
  });

  it('reports a non-string env value at its own key', async () => {
    const fake = await fakeWith();

    const answer = await call(fake, 'POST', '/v1/vms', { ...VALID_CREATE, env: { PORT: 8080 } });

    expect(answer.status).toBe(422);
    expect(answer.body.detail[0]).toMatchObject({
      loc: ['body', 'env', 'PORT'],
      type: 'string_type',
    });
  });

  it('reports every invalid field at once', async () => {
    const fake = await fakeWith();

    const answer = await call(fake, 'POST', '/v1/vms', {
      vm_lifetime_seconds: 5,
      memory_mb: 99_999,
      vcpu_count: 5,
    });

    expect(answer.body.detail.map((issue: { loc: string[] }) => issue.loc[1])).toEqual([
      'vm_lifetime_seconds',
      'memory_mb',
      'vcpu_count',
    ]);
  });

  it('answers 422 json_invalid for a body that is not JSON, and records it as text', async () => {
    const fake = await fakeWith();

    const answer = await call(fake, 'POST', '/v1/vms', '{not json');

    expect(answer.status).toBe(422);
    expect(answer.body.detail[0].type).toBe('json_invalid');
    expect(fake.requests()[0]?.body).toBe('{not json');
  });

  it.each([
    { vm_lifetime_seconds: 20 },
    { vm_lifetime_seconds: 86_400 },
    { memory_mb: 128 },
    { memory_mb: 8192 },
    ...[1, 2, 4, 6, 8].map((vcpu_count) => ({ vcpu_count })),
  ])('accepts the boundary value %j', async (overrides) => {
    const fake = await fakeWith();

    await createVm(fake, overrides);

    expect(fake.vms()[0]).toMatchObject(overrides);
  });

  it('accepts a create without egress_policy and records that none was set', async () => {
    const fake = await fakeWith();

    await createVm(fake);

    expect(fake.vms()[0]?.egress_policy).toBeUndefined();
    expect(fake.vms()[0]?.egress_history).toEqual([]);
  });

  it('applies the published defaults to fields left out, keeping the body as sent', async () => {
    const fake = await fakeWith();

    await createVm(fake, { vm_lifetime_seconds: undefined, share: true });

    const vm = fake.vms()[0];
    expect(vm).toMatchObject({ vm_lifetime_seconds: 300, memory_mb: 512, vcpu_count: 2 });
    expect(vm?.create_request).toMatchObject({ share: true });
  });
});

describe('VM endpoints', () => {
  it('answers a create with the documented shape, expiring after the lifetime', async () => {
    const fake = await fakeWith();

    const vm = await call(fake, 'POST', '/v1/vms?wait=true', VALID_CREATE);

    expect(Object.keys(vm.body).sort()).toEqual(
      ['created_at', 'expires_at', 'metadata', 'session_id', 'status', 'vm_id'].sort(),
    );
    expect(vm.body.status).toBe('running');
    const lifetimeMs = Date.parse(vm.body.expires_at) - Date.parse(vm.body.created_at);
    expect(lifetimeMs).toBe(600_000);
  });

  it('filters the list by every metadata pair on the server side, and honours limit', async () => {
    const fake = await fakeWith();
    const a = await createVm(fake, { metadata: { fleet: 'cma', worker: 'a' } });
    const b = await createVm(fake, { metadata: { fleet: 'cma', worker: 'b' } });
    await createVm(fake, { metadata: { fleet: 'other', worker: 'a' } });
    const metadata = (pairs: object) => encodeURIComponent(JSON.stringify(pairs));

    const fleet = await call(
      fake,
      'GET',
      `/v1/vms?limit=1000&metadata=${metadata({ fleet: 'cma' })}`,
    );
    const one = await call(
      fake,
      'GET',
      `/v1/vms?metadata=${metadata({ fleet: 'cma', worker: 'b' })}`,
    );
    const limited = await call(fake, 'GET', '/v1/vms?limit=1');

    expect(fleet.body.vms.map((vm: { vm_id: string }) => vm.vm_id)).toEqual([a.vm_id, b.vm_id]);
    expect(one.body.vms.map((vm: { vm_id: string }) => vm.vm_id)).toEqual([b.vm_id]);
    expect(limited.body.vms).toHaveLength(1);
  });

  it('leaves deleted VMs out of the list', async () => {
    const fake = await fakeWith();
    const vm = await createVm(fake);

    await call(fake, 'DELETE', `/v1/vms/${vm.vm_id}`);

    expect((await call(fake, 'GET', '/v1/vms')).body.vms).toEqual([]);
  });

  it('refuses a metadata filter that is not a JSON object', async () => {
    const fake = await fakeWith();

    const answer = await call(fake, 'GET', '/v1/vms?metadata=fleet');

    expect(answer.status).toBe(422);
    expect(answer.body.detail[0].loc).toEqual(['query', 'metadata']);
  });

  it('kills a VM once: the second delete and later reads are 404 VM not found', async () => {
    const fake = await fakeWith();
    const vm = await createVm(fake);

    const first = await call(fake, 'DELETE', `/v1/vms/${vm.vm_id}`);
    const second = await call(fake, 'DELETE', `/v1/vms/${vm.vm_id}`);
    const read = await call(fake, 'GET', `/v1/vms/${vm.vm_id}`);

    expect(first).toEqual({ status: 200, body: { status: 'killed' } });
    expect(second).toEqual({ status: 404, body: { detail: 'VM not found' } });
    expect(read).toEqual({ status: 404, body: { detail: 'VM not found' } });
  });

  it('stores each egress policy whole and refuses one for a gone VM', async () => {
    const fake = await fakeWith();
    const vm = await createVm(fake, { egress_policy: { allow_https: false } });
    const policy = { allow_https: true, allowed_domains: ['api.anthropic.com'], extra: 1 };

    const set = await call(fake, 'POST', `/v1/egress/vm/${vm.vm_id}`, policy);
    fake.exitVm(vm.vm_id);
    const gone = await call(fake, 'POST', `/v1/egress/vm/${vm.vm_id}`, policy);

    expect(set.status).toBe(200);
    expect(gone.status).toBe(404);
    expect(fake.vms()[0]?.egress_history.map((change) => change.policy)).toEqual([
      { allow_https: false },
      policy,
    ]);
  });

  it('refuses an egress policy with a non-boolean flag', async () => {
    const fake = await fakeWith();
    const vm = await createVm(fake);

    const answer = await call(fake, 'POST', `/v1/egress/vm/${vm.vm_id}`, { allow_https: 'yes' });

    expect(answer.status).toBe(422);
    expect(answer.body.detail[0].loc).toEqual(['body', 'allow_https']);
  });

  it('answers 404 Not Found for a path InstaVM does not have', async () => {
    const fake = await fakeWith({ apiKey: 'k' });

    const answer = await call(fake, 'GET', '/v2/nothing');

    expect(answer).toEqual({ status: 404, body: { detail: 'Not Found' } });
  });
});

describe('execution endpoints', () => {
  it('records the language as sent, undefined when left out (InstaVM then runs python)', async () => {
    const fake = await fakeWith();
    const vm = await createVm(fake);

    const answer = await call(fake, 'POST', '/execute', {
      command: 'ls',
      session_id: vm.session_id,
    });

    expect(answer.body).toEqual({ stdout: '', stderr: '', exit_code: 0, execution_time: 0.01 });
    expect(fake.vms()[0]?.executions[0]).toMatchObject({
      command: 'ls',
      language: undefined,
      effective_language: 'python',
      mode: 'sync',
    });
  });

  it('answers an async execution with a task that polls as complete', async () => {
    const fake = await fakeWith();
    const vm = await createVm(fake);

    const started = await call(fake, 'POST', '/execute_async', {
      command: 'sleep 1',
      session_id: vm.session_id,
      language: 'bash',
      timeout: 600,
    });
    const polled = await call(fake, 'GET', `/v1/executions/${started.body.task_id}`);
    const unknown = await call(fake, 'GET', '/v1/executions/task_nope');

    expect(started.body.task_id).toMatch(/^task_[0-9a-f]+$/);
    expect(polled.body).toMatchObject({ task_id: started.body.task_id, is_complete: true });
    expect(unknown.status).toBe(404);
  });

  it('answers 404 for a session no live VM has', async () => {
    const fake = await fakeWith();
    const vm = await createVm(fake);
    await call(fake, 'DELETE', `/v1/vms/${vm.vm_id}`);

    const dead = await call(fake, 'POST', '/execute', { command: 'ls', session_id: vm.session_id });
    const unknown = await call(fake, 'POST', '/execute', { command: 'ls', session_id: 'sess_x' });

    expect([dead.status, unknown.status]).toEqual([404, 404]);
    expect(fake.vms()[0]?.executions).toEqual([]);
  });

  it('refuses an execution without a command or with a timeout over 600 s', async () => {
    const fake = await fakeWith();
    const vm = await createVm(fake);

    const answer = await call(fake, 'POST', '/execute', {
      session_id: vm.session_id,
      timeout: 601,
    });

    expect(answer.status).toBe(422);
    expect(answer.body.detail.map((issue: { loc: string[] }) => issue.loc)).toEqual([
      ['body', 'command'],
      ['body', 'timeout'],
    ]);
  });
});

describe('session endpoints', () => {
  it('kills through /kill, then reports the session as existing but dead', async () => {
    const fake = await fakeWith();
    const vm = await createVm(fake);

    const alive = await call(fake, 'GET', `/v1/sessions/status/${vm.session_id}`);
    const killed = await call(fake, 'POST', '/kill', { session_id: vm.session_id });
    const again = await call(fake, 'POST', '/kill', { session_id: vm.session_id });
    const dead = await call(fake, 'GET', `/v1/sessions/status/${vm.session_id}`);

    expect(alive.body).toMatchObject({ exists: true, vm_alive: true, vm_status: 'active' });
    expect(killed.status).toBe(200);
    expect(again.status).toBe(404);
    expect(dead.body).toMatchObject({ vm_id: vm.vm_id, vm_alive: false, vm_status: 'killed' });
    expect((await call(fake, 'GET', `/v1/vms/${vm.vm_id}`)).status).toBe(404);
  });

  it('answers 404 for a session it never had', async () => {
    const fake = await fakeWith();

    expect((await call(fake, 'GET', '/v1/sessions/status/sess_none')).status).toBe(404);
  });
});

describe('options', () => {
  it('refuses a request without the API key, and one with a wrong key, with 401', async () => {
    const fake = await fakeWith({ apiKey: 'right' });

    const without = await call(fake, 'GET', '/v1/vms');
    const wrong = await call(fake, 'GET', '/v1/vms', undefined, { 'x-api-key': 'wrong' });
    const right = await call(fake, 'GET', '/v1/vms', undefined, { 'x-api-key': 'right' });

    expect(without).toEqual({ status: 401, body: { detail: 'Invalid API key' } });
    expect(wrong.status).toBe(401);
    expect(right.status).toBe(200);
  });

  it('adds createDelayMs to every create', async () => {
    const fake = await fakeWith({ createDelayMs: 150 });

    const before = performance.now();
    await createVm(fake);

    expect(performance.now() - before).toBeGreaterThanOrEqual(140);
  });

  it('keeps a VM past its lifetime alive when lifetime enforcement is off', async () => {
    let now = Date.parse('2030-01-01T00:00:00Z');
    const fake = await fakeWith({ now: () => now, enforceLifetime: false });
    const vm = await createVm(fake, { vm_lifetime_seconds: 20 });

    now += 3_600_000;

    expect((await call(fake, 'GET', `/v1/vms/${vm.vm_id}`)).status).toBe(200);
  });

  it('reports an expired VM as stopped in vms() and gone from session status', async () => {
    let now = Date.parse('2030-01-01T00:00:00Z');
    const fake = await fakeWith({ now: () => now });
    const vm = await createVm(fake, { vm_lifetime_seconds: 20 });

    now += 20_000;

    expect(fake.vms()[0]).toMatchObject({ status: 'stopped', end_reason: 'expired' });
    const status = await call(fake, 'GET', `/v1/sessions/status/${vm.session_id}`);
    expect(status.body).toMatchObject({ vm_alive: false, uptime_seconds: 20 });
  });

  it('listens on the port it is given', async () => {
    const first = await fakeWith();
    const port = Number(new URL(first.url).port);
    await first.close();

    const second = await fakeWith({ port });

    expect(second.url).toBe(`http://127.0.0.1:${port}`);
  });
});
