import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { type FakeInstaVm, startFakeInstaVm } from '@cma-fleet/fake-instavm';
import getPort from 'get-port';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Finding, runDoctor } from '../../scripts/lib/doctor.js';
import { ROOT } from '../../scripts/lib/processes.js';
import { realLookingSecrets } from '../helpers/fleet.js';
import { startTestRedis, type TestRedis } from '../helpers/redis.js';

const run = promisify(execFile);

const problems = (findings: Finding[]) =>
  findings.filter((f) => f.level === 'problem').map((f) => f.message);

describe('fleet doctor', () => {
  let redis: TestRedis;
  let lruRedis: TestRedis;
  let fake: FakeInstaVm;
  const secrets = realLookingSecrets();
  let good: Record<string, string>;

  beforeAll(async () => {
    [redis, lruRedis] = await Promise.all([startTestRedis(), startTestRedis()]);
    const lru = new Redis(lruRedis.url);
    await lru.config('SET', 'maxmemory-policy', 'allkeys-lru');
    // A user that may not run CONFIG, as on many managed Redis services.
    await lru.acl('SETUSER', 'limited', 'on', '>limited-pass', '~*', '&*', '+@all', '-config');
    lru.disconnect();
    fake = await startFakeInstaVm({ apiKey: secrets.instavmApiKey });
    good = {
      REDIS_URL: redis.url,
      ANTHROPIC_WEBHOOK_SIGNING_KEY: secrets.signingKey,
      ANTHROPIC_ENVIRONMENT_ID: 'env_01doctor',
      INSTAVM_API_KEY: secrets.instavmApiKey,
      INSTAVM_API_URL: fake.url,
      ADMIN_TOKEN: secrets.adminToken,
    };
  });
  afterAll(async () => {
    await fake?.close();
    await Promise.all([redis?.close(), lruRedis?.close()]);
  });

  it('finds no problem in a sound configuration, and checks the key with a read-only call', async () => {
    fake.clearRequests();
    const findings = await runDoctor(good);
    expect(problems(findings)).toEqual([]);
    expect(findings.map((f) => f.message)).toContain('Redis maxmemory-policy is noeviction');
    const calls = fake.requests().map((r) => r.method);
    expect(calls).toEqual(['GET']);
  });

  const closedPort = async () => `http://127.0.0.1:${await getPort()}`;
  const breakages: Array<[string, () => Promise<Record<string, string | undefined>>, RegExp]> = [
    [
      'a signing key with a v1, prefix',
      async () => ({ ANTHROPIC_WEBHOOK_SIGNING_KEY: `v1,${secrets.signingKey}` }),
      /ANTHROPIC_WEBHOOK_SIGNING_KEY/,
    ],
    [
      'no signing key',
      async () => ({ ANTHROPIC_WEBHOOK_SIGNING_KEY: undefined }),
      /ANTHROPIC_WEBHOOK_SIGNING_KEY is not set/,
    ],
    [
      'a real key as the environment key',
      async () => ({ ANTHROPIC_ENVIRONMENT_KEY: secrets.environmentKey }),
      /ANTHROPIC_ENVIRONMENT_KEY/,
    ],
    [
      'no environment id',
      async () => ({ ANTHROPIC_ENVIRONMENT_ID: undefined }),
      /ANTHROPIC_ENVIRONMENT_ID/,
    ],
    [
      'an InstaVM key of the wrong shape',
      async () => ({ INSTAVM_API_KEY: 'my-instavm-key' }),
      /INSTAVM_API_KEY does not look like/,
    ],
    [
      'an InstaVM key InstaVM rejects',
      async () => ({ INSTAVM_API_KEY: `instavm_sk_${randomBytes(12).toString('hex')}` }),
      /INSTAVM_API_KEY was rejected .*\(401\)/,
    ],
    [
      'an InstaVM URL nothing answers',
      async () => ({ INSTAVM_API_URL: await closedPort() }),
      /INSTAVM_API_URL: .* unreachable/,
    ],
    [
      'a Redis nothing answers',
      async () => ({ REDIS_URL: (await closedPort()).replace('http', 'redis') }),
      /REDIS_URL: Redis at .* unreachable/,
    ],
    [
      'a Redis that evicts keys',
      async () => ({ REDIS_URL: lruRedis.url }),
      /maxmemory-policy is allkeys-lru/,
    ],
    [
      'an operator token too short',
      async () => ({ ADMIN_TOKEN: 'short' }),
      /ADMIN_TOKEN: must be at least 24/,
    ],
  ];

  it.each(breakages)('names %s', async (_name, broken, expected) => {
    const env = { ...good, ...(await broken()) };
    const found = problems(await runDoctor(env));
    expect(
      found.some((message) => expected.test(message)),
      found.join('\n'),
    ).toBe(true);
    // It names variables, never their values.
    for (const secret of Object.values(secrets)) expect(found.join('\n')).not.toContain(secret);
  });

  it('warns, without failing, when a managed Redis refuses CONFIG', async () => {
    const url = lruRedis.url.replace('redis://', 'redis://limited:limited-pass@');
    const findings = await runDoctor({ ...good, REDIS_URL: url });
    expect(problems(findings)).toEqual([]);
    const warning = findings.find((f) => f.level === 'warning' && /CONFIG/.test(f.message));
    expect(warning?.message).toMatch(
      /may refuse CONFIG: make sure its eviction policy is noeviction/,
    );
    expect(warning?.message).not.toContain('limited-pass');
  });

  it('exits 1 from the command line and prints each problem', async () => {
    // Asynchronously: the fake InstaVM the CLI calls runs in this process.
    const failure = await run(
      process.execPath,
      ['--conditions=source', '--import', 'tsx', 'scripts/fleet.ts', 'doctor'],
      {
        cwd: ROOT,
        env: { PATH: process.env.PATH, HOME: process.env.HOME, ...good, INSTAVM_API_KEY: 'bad' },
        encoding: 'utf8',
        timeout: 30_000,
      },
    ).then(
      () => undefined,
      (error: { code?: number; stdout?: string }) => error,
    );
    expect(failure?.code).toBe(1);
    expect(failure?.stdout).toMatch(/PROBLEM {2}INSTAVM_API_KEY does not look like/);
    expect(failure?.stdout).toMatch(/PROBLEM {2}INSTAVM_API_KEY was rejected .*\(401\)/);
    expect(failure?.stdout).toContain('ok       Redis maxmemory-policy is noeviction');
  });
});
