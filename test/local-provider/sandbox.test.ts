import { randomBytes } from 'node:crypto';
import {
  accessSync,
  constants,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import {
  createLocalProvider,
  type LocalProvider,
  loadSpawnerConfig,
  startWorkerScript,
  type WorkerMachine,
  workerPollArgs,
} from '@cma-fleet/spawner';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  fakeAntBin,
  mapHostsToLoopback,
  type StandIn,
  sandboxSkipReason,
  startStandIn,
  testCertificates,
  uniqueName,
  waitForFile,
} from './helpers.js';

interface Attempt {
  ok: boolean;
  code?: string;
  result?: string;
}

/** What the fake `ant` wrote from inside the sandbox (see fixtures/fake-ant.mjs). */
interface Record {
  argv: string[];
  cwd: string;
  env: { [name: string]: string };
  procEnviron: string[];
  reads: { [path: string]: Attempt };
  listings: { [path: string]: Attempt };
  writes: { [path: string]: Attempt };
  tmpWrite: Attempt;
  requests: { [url: string]: { status?: number; connectStatus?: number; error?: string } };
  direct: { [target: string]: Attempt };
}

/** The HTTPS stand-ins need two made-up names on 127.0.0.1, which only /etc/hosts gives. */
function hostsSkipReason(): string | undefined {
  try {
    accessSync('/etc/hosts', constants.W_OK);
    return undefined;
  } catch {
    return '/etc/hosts is not writable (the HTTPS stand-ins need names on 127.0.0.1)';
  }
}

const skipReason = sandboxSkipReason() ?? hostsSkipReason();
if (skipReason) console.warn(`SKIPPED local sandbox tests: ${skipReason}`);

describe.skipIf(skipReason !== undefined)('a local worker inside its sandbox', () => {
  const realKey = `sk-ant-oat01-${randomBytes(32).toString('base64url')}`;
  // A third-party provider key, masked too, and only ever injected towards the other host.
  const providerKey = `pk-${randomBytes(24).toString('hex')}`;
  const apiHost = uniqueName('anthropic-standin');
  const otherHost = uniqueName('other-standin');
  const project = mkdtempSync(join(tmpdir(), 'cma-project-'));
  const outside = mkdtempSync(join(tmpdir(), 'cma-outside-'));
  const runtimeDir = mkdtempSync(join(tmpdir(), 'cma-workers-'));
  const temporary = [project, outside, runtimeDir];
  const homeSecret = join(homedir(), `cma-fleet-test-${randomBytes(4).toString('hex')}`);
  const sshKey = join(homedir(), '.ssh', `cma-fleet-test-${randomBytes(4).toString('hex')}`);
  let unmapHosts: (() => void) | undefined;
  let api: StandIn;
  let other: StandIn;
  let provider: LocalProvider;
  let machine: WorkerMachine;
  let record: Record;

  beforeAll(async () => {
    unmapHosts = mapHostsToLoopback([apiHost, otherHost]);
    if (!unmapHosts) throw new Error('/etc/hosts is not writable; the stand-ins need it');
    const tls = testCertificates([apiHost, otherHost]);
    api = await startStandIn(tls);
    other = await startStandIn(tls);
    writeFileSync(join(project, '.env'), `ANTHROPIC_ENVIRONMENT_KEY=${realKey}\n`);
    writeFileSync(homeSecret, 'home secret');
    mkdirSync(join(homedir(), '.ssh'), { recursive: true, mode: 0o700 });
    writeFileSync(sshKey, 'ssh private key', { mode: 0o600 });

    const config = loadSpawnerConfig({
      REDIS_URL: 'redis://127.0.0.1:1',
      REDIS_KEY_PREFIX: 'sandbox-test',
      ANTHROPIC_ENVIRONMENT_ID: 'env_01sandbox',
      SANDBOX_PROVIDER: 'local',
      ANTHROPIC_ENVIRONMENT_KEY: realKey,
      ANTHROPIC_BASE_URL: `https://${apiHost}:${api.port}`,
      // The stand-ins live on loopback, which the runtime refuses unless allowed by address.
      WORKER_EGRESS_DOMAINS: `${otherHost},127.0.0.1`,
      LOCAL_RUNTIME_DIR: runtimeDir,
      LOCAL_MASKED_ENV: `STANDIN_PROVIDER_KEY@${otherHost}`,
    });
    const bin = fakeAntBin();
    temporary.push(bin, dirname(tls.caPath));
    provider = createLocalProvider(
      config,
      {
        PATH: `${bin}:${process.env.PATH}`,
        NODE_EXTRA_CA_CERTS: tls.caPath,
        STANDIN_PROVIDER_KEY: providerKey,
      },
      project,
    );
    const probes = {
      FAKE_ANT_GET: [
        `https://${apiHost}:${api.port}/v1/probe`,
        `https://${otherHost}:${other.port}/v1/probe`,
        'https://example.com/',
      ].join(','),
      FAKE_ANT_DIRECT: '1.1.1.1:443,127.0.0.1:6379',
      FAKE_ANT_API_KEY_VAR: 'STANDIN_PROVIDER_KEY',
      FAKE_ANT_READ: [join(project, '.env'), homeSecret, sshKey].join(','),
      FAKE_ANT_LIST: [homedir(), join(homedir(), '.ssh')].join(','),
      FAKE_ANT_WRITE: [join(outside, 'escaped'), join(project, 'escaped'), 'inside'].join(','),
    };
    machine = await provider.create({
      sessionId: 'sesn_sandbox',
      jobTag: '1',
      env: {
        ANTHROPIC_ENVIRONMENT_ID: config.ANTHROPIC_ENVIRONMENT_ID,
        ANTHROPIC_ENVIRONMENT_KEY: 'ANTHROPIC_ENV_KEY',
        ANTHROPIC_SESSION_ID: 'sesn_sandbox',
        ANTHROPIC_BASE_URL: config.ANTHROPIC_BASE_URL,
        ...probes,
      },
    });
    await provider.prepare(machine);
    await provider.applyEgress(machine);
    await provider.startWorker(machine);
    const recordFile = join(provider.paths(machine.id).work, 'record.json');
    await waitForFile(recordFile, 30_000);
    record = JSON.parse(readFileSync(recordFile, 'utf8')) as Record;
  }, 60_000);

  afterAll(async () => {
    if (machine) await provider.kill(machine.id);
    await api?.close();
    await other?.close();
    unmapHosts?.();
    rmSync(homeSecret, { force: true });
    rmSync(sshKey, { force: true });
    for (const dir of temporary) rmSync(dir, { recursive: true, force: true });
  });

  it('sees a sentinel, never the real key, in its environment and /proc/self/environ', () => {
    const sentinel = record.env.ANTHROPIC_ENVIRONMENT_KEY;
    expect(sentinel).toBeTruthy();
    expect(sentinel).not.toBe(realKey);
    expect(sentinel).not.toBe('ANTHROPIC_ENV_KEY');
    expect(record.procEnviron).toContain(`ANTHROPIC_ENVIRONMENT_KEY=${sentinel}`);
    expect(JSON.stringify(record)).not.toContain(realKey);
  });

  it('has the real key put in only on the way to the Anthropic API host', () => {
    expect(record.requests[`https://${apiHost}:${api.port}/v1/probe`]).toEqual({ status: 200 });
    expect(api.authorizations).toEqual([`Bearer ${realKey}`]);
  });

  it('sends only the sentinel to an allowed host that is not an inject host', () => {
    const sentinel = record.env.ANTHROPIC_ENVIRONMENT_KEY;
    expect(other.authorizations).toEqual([`Bearer ${sentinel}`]);
    expect(other.authorizations.join()).not.toContain(realKey);
  });

  it('masks a configured provider key too, injecting it only towards its own host', () => {
    const sentinel = record.env.STANDIN_PROVIDER_KEY;
    expect(sentinel).toBeTruthy();
    expect(sentinel).not.toBe(providerKey);
    expect(other.apiKeys).toEqual([providerKey]);
    expect(api.apiKeys).toEqual([sentinel]);
    expect(JSON.stringify(record)).not.toContain(providerKey);
  });

  it('cannot reach a host outside the allowlist, by proxy or directly', () => {
    expect(record.requests['https://example.com/']).toEqual({ connectStatus: 403 });
    expect(record.direct['1.1.1.1:443']?.ok).toBe(false);
    expect(record.direct['127.0.0.1:6379']?.ok).toBe(false);
  });

  it("cannot read the spawner's .env, the home directory or SSH keys", () => {
    for (const path of [join(project, '.env'), homeSecret, sshKey]) {
      expect(record.reads[path]?.ok, path).toBe(false);
    }
    const home = record.listings[homedir()];
    expect(home?.ok === false || !home?.result?.includes('cma-fleet-test-')).toBe(true);
    expect(record.listings[join(homedir(), '.ssh')]?.ok).toBe(false);
  });

  it('can write in its work directory and its own TMPDIR, and nowhere else', () => {
    expect(record.writes.inside).toEqual({ ok: true, result: 'undefined' });
    expect(record.env.TMPDIR).toBe(provider.paths(machine.id).tmp);
    expect(record.env.HOME).toBe(provider.paths(machine.id).home);
    expect(record.tmpWrite).toEqual({ ok: true, result: 'undefined' });
    expect(record.writes[join(outside, 'escaped')]?.ok).toBe(false);
    expect(record.writes[join(project, 'escaped')]?.ok).toBe(false);
    expect(readdirSync(outside)).toEqual([]);
  });

  it("gets the InstaVM path's bootstrap: beta:worker poll with the workdir and max idle", () => {
    const workdir = provider.paths(machine.id).work;
    expect(record.argv).toEqual(['beta:worker', 'poll', '--workdir', workdir, '--max-idle', '30s']);
    expect(record.argv).toEqual(workerPollArgs({ workdir, maxIdle: '30s' }));
    expect(record.cwd).toBe(workdir);
    // The InstaVM start script is built from the same argument list.
    const vmScript = startWorkerScript({ workdir: '/workspace', maxIdle: '30s' });
    expect(vmScript).toContain('ant beta:worker poll --workdir "$1" --max-idle "$2"');
    expect(record.env).toMatchObject({
      ANTHROPIC_ENVIRONMENT_ID: 'env_01sandbox',
      ANTHROPIC_SESSION_ID: 'sesn_sandbox',
    });
  });

  it('leaves the real key in none of its files: state, policy, log', () => {
    const root = provider.paths(machine.id).root;
    for (const name of readdirSync(root)) {
      const path = join(root, name);
      if (['work', 'home', 'tmp'].includes(name)) continue;
      expect(readFileSync(path, 'utf8'), path).not.toContain(realKey);
    }
  });
});
