import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminCall, adminClientSettings, sessionPath } from '../../scripts/lib/admin-client.js';
import { ROOT } from '../../scripts/lib/processes.js';
import { sendTestDelivery } from '../../scripts/lib/send-test.js';
import { POLL } from '../helpers/admin.js';
import { startTestFleet, type TestFleet } from '../helpers/fleet.js';

const run = promisify(execFile);

interface Workers {
  workers: Array<{ session_id: string; status: string }>;
}

describe('the fleet CLI against a running fleet', () => {
  let fleet: TestFleet;
  let env: Record<string, string>;
  const statusOf = async (sessionId: string) => {
    const answer = (await adminCall(adminClientSettings(env), 'GET', '/workers')) as Workers;
    return answer.workers.find((w) => w.session_id === sessionId)?.status;
  };

  beforeAll(async () => {
    fleet = await startTestFleet();
    env = {
      ADMIN_URL: fleet.ingress.adminUrl ?? '',
      ADMIN_TOKEN: fleet.secrets.adminToken,
      INGRESS_URL: fleet.ingress.url,
    };
  });
  afterAll(async () => {
    await fleet?.close();
  });

  it('sends a signed test delivery, stops the worker and respawns it', async () => {
    const settings = { ingressUrl: fleet.ingress.url, signingKey: fleet.secrets.signingKey };
    const sent = await sendTestDelivery(settings, 'sesn_cli/one');
    expect(sent.status).toBe(200);
    await expect.poll(() => statusOf('sesn_cli/one'), POLL).toBe('running');

    const admin = adminClientSettings(env);
    await adminCall(admin, 'POST', sessionPath('sesn_cli/one', 'stop'));
    await expect.poll(() => statusOf('sesn_cli/one'), POLL).toBe('exited');
    await adminCall(admin, 'POST', sessionPath('sesn_cli/one', 'respawn'));
    await expect.poll(() => statusOf('sesn_cli/one'), POLL).toBe('running');
    expect(fleet.fake.vms().filter((vm) => vm.status === 'running')).toHaveLength(1);
  });

  it('reports a wrong token as the 401 it got', async () => {
    const wrong = { adminUrl: fleet.ingress.adminUrl ?? '', token: 'x'.repeat(30) };
    await expect(adminCall(wrong, 'GET', '/workers')).rejects.toThrow(/GET \/workers → 401/);
  });

  it('lists workers from the command line', async () => {
    // Asynchronously: the fleet answering the CLI runs in this process.
    const result = await run(
      process.execPath,
      ['--conditions=source', '--import', 'tsx', 'scripts/fleet.ts', 'workers'],
      {
        cwd: ROOT,
        env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
        encoding: 'utf8',
        timeout: 30_000,
      },
    );
    expect(result.stderr).toBe('');
    expect(result.stdout).toMatch(/^running +sesn_cli\/one {2}vm=vm_/m);
  });
});
