import { afterEach, describe, expect, it } from 'vitest';
import { adminFetch } from '../helpers/admin.js';
import { startTestFleet, type TestFleet } from '../helpers/fleet.js';
import { dumpRedis } from '../helpers/redis-dump.js';
import { runStartedEvent, signedHeaders } from '../helpers/sign.js';

interface WorkersAnswer {
  workers: Array<{
    session_id: string;
    status: string;
    vm_id: string | null;
    error: string | null;
  }>;
}

async function postRunStarted(fleet: TestFleet, webhookId: string, sessionId: string) {
  const body = runStartedEvent(webhookId, sessionId);
  return fetch(`${fleet.ingress.url}/webhook`, {
    method: 'POST',
    headers: signedHeaders(fleet.secrets.signingKey, webhookId, body),
    body,
  });
}

async function workerOf(fleet: TestFleet, sessionId: string) {
  const answer = (await (await adminFetch(fleet, '/workers')).json()) as WorkersAnswer;
  return answer.workers.find((w) => w.session_id === sessionId);
}

describe('a signed run-started delivery, end to end', () => {
  let fleet: TestFleet;
  afterEach(async () => {
    await fleet?.close();
  });

  it('brings up exactly one worker VM with placeholders, a lifetime, egress and the poller', async () => {
    fleet = await startTestFleet();
    const sessionId = 'sesn_01e2eWholePath';

    const response = await postRunStarted(fleet, 'whe_e2e_whole_path', sessionId);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ ok: true, scheduled: sessionId });

    await expect.poll(async () => (await workerOf(fleet, sessionId))?.status).toBe('running');
    const vms = fleet.fake.vms();
    expect(vms).toHaveLength(1);
    const vm = vms[0]!;
    expect(await workerOf(fleet, sessionId)).toMatchObject({ vm_id: vm.vm_id, error: null });

    expect(vm.env).toEqual({
      ANTHROPIC_ENVIRONMENT_ID: 'env_01e2etest',
      ANTHROPIC_ENVIRONMENT_KEY: 'ANTHROPIC_ENV_KEY',
      ANTHROPIC_SESSION_ID: sessionId,
      ANTHROPIC_BASE_URL: 'https://api.anthropic.com',
    });
    expect(vm.metadata).toMatchObject({ role: 'cma-worker', session_id: sessionId, fleet: 'e2e' });
    expect(vm.metadata.job).toMatch(/^\d+$/);
    expect(vm).toMatchObject({ vm_lifetime_seconds: 7200, memory_mb: 2048, vcpu_count: 2 });

    // Egress is deny-by-default from creation, and narrowed to the allowlist before the poller.
    const finalPolicy = {
      allow_package_managers: false,
      allow_http: false,
      allow_https: true,
      allowed_domains: ['api.anthropic.com', 'pypi.org', 'files.pythonhosted.org'],
      allowed_cidrs: [],
    };
    expect(vm.egress_history.map((change) => change.via)).toEqual(['create', 'egress']);
    expect(vm.egress_history[1]?.policy).toEqual(finalPolicy);
    const install = vm.executions.find((e) => e.command.includes('command -v ant'));
    const start = vm.executions.find((e) => e.command.includes('beta:worker'));
    expect(install).toMatchObject({ mode: 'sync', language: 'bash' });
    expect(start).toMatchObject({ mode: 'async', language: 'bash' });
    expect(start?.command).toContain('nohup setsid sh -c \'ant beta:worker poll --workdir "$1"');
    expect(start?.command).toContain('--max-idle "$2"');
    expect(start?.command).toContain(`cma-worker '/workspace' '30s'`);
    const egressAt = vm.egress_history[1]?.at ?? Number.POSITIVE_INFINITY;
    expect(install?.at).toBeLessThanOrEqual(egressAt);
    expect(start?.at).toBeGreaterThanOrEqual(egressAt);
  });

  it('leaves no secret in what the provider received, in Redis or in the logs', async () => {
    fleet = await startTestFleet();
    const response = await postRunStarted(fleet, 'whe_e2e_secrets', 'sesn_01e2eSecrets');
    expect(response.status).toBe(200);
    await expect
      .poll(async () => (await workerOf(fleet, 'sesn_01e2eSecrets'))?.status)
      .toBe('running');

    const requests = fleet.fake.requests();
    const sentToProvider = JSON.stringify(
      requests.map(({ method, path, query, body }) => ({ method, path, query, body })),
    );
    const redisContents = await dumpRedis(fleet.redis.url);
    const logText = fleet.logs.join('');
    expect(logText).toContain('whe_e2e_secrets'); // the logs are really captured
    for (const secret of [
      fleet.secrets.signingKey,
      fleet.secrets.environmentKey,
      fleet.secrets.apiKey,
    ]) {
      expect(sentToProvider).not.toContain(secret);
    }
    // The InstaVM key is sent, but only in its auth header.
    expect(requests.every((r) => r.headers['x-api-key'] === fleet.secrets.instavmApiKey)).toBe(
      true,
    );
    expect(sentToProvider).not.toContain(fleet.secrets.instavmApiKey);
    for (const secret of Object.values(fleet.secrets)) {
      const base64Part = secret.replace(/^whsec_/, '');
      expect(redisContents).not.toContain(base64Part);
      expect(logText).not.toContain(base64Part);
      for (const vm of fleet.fake.vms()) expect(JSON.stringify(vm)).not.toContain(base64Part);
    }
  });

  it('boots from WORKER_SNAPSHOT_ID without a download and with final egress from the start', async () => {
    fleet = await startTestFleet({ WORKER_SNAPSHOT_ID: 'snap_with_ant' });
    expect((await postRunStarted(fleet, 'whe_e2e_snapshot', 'sesn_snap')).status).toBe(200);
    await expect.poll(async () => (await workerOf(fleet, 'sesn_snap'))?.status).toBe('running');

    const vm = fleet.fake.vms()[0]!;
    expect(vm.snapshot_id).toBe('snap_with_ant');
    expect(vm.executions.map((e) => e.mode)).toEqual(['async']);
    const firstPolicy = vm.egress_history[0]?.policy as { allowed_domains: string[] } | undefined;
    const domains = firstPolicy?.allowed_domains;
    expect(domains).not.toContain('github.com');
  });
});
