import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '@cma-fleet/shared';
import {
  createLocalProvider,
  loadSpawnerConfig,
  maskedCredentials,
  workerEnvFor,
} from '@cma-fleet/spawner';
import { describe, expect, it } from 'vitest';

const realKey = () => `sk-ant-oat01-${randomBytes(24).toString('base64url')}`;
const base = { REDIS_URL: 'redis://127.0.0.1:6379', ANTHROPIC_ENVIRONMENT_ID: 'env_01abc' };

describe('SANDBOX_PROVIDER in the spawner configuration', () => {
  it('defaults to instavm, which still needs the InstaVM key', () => {
    expect(() => loadSpawnerConfig(base)).toThrow(/INSTAVM_API_KEY: set it/);
    const config = loadSpawnerConfig({ ...base, INSTAVM_API_KEY: 'instavm_sk_test' });
    expect(config.SANDBOX_PROVIDER).toBe('instavm');
  });

  it('in local mode needs no InstaVM key and takes the real environment key', () => {
    const key = realKey();
    const config = loadSpawnerConfig({
      ...base,
      SANDBOX_PROVIDER: 'local',
      ANTHROPIC_ENVIRONMENT_KEY: key,
    });
    expect(config).toMatchObject({ SANDBOX_PROVIDER: 'local', ANTHROPIC_ENVIRONMENT_KEY: key });
    expect(config.LOCAL_MAX_WORKERS).toBe(4);
    expect(config.LOCAL_RUNTIME_DIR).toMatch(/^\//);
  });

  it('in local mode hands the worker only the placeholder, never the real key', () => {
    const key = realKey();
    const config = loadSpawnerConfig({
      ...base,
      SANDBOX_PROVIDER: 'local',
      ANTHROPIC_ENVIRONMENT_KEY: key,
    });
    const env = workerEnvFor(config)('sesn_1');
    expect(env.ANTHROPIC_ENVIRONMENT_KEY).toBe('ANTHROPIC_ENV_KEY');
    expect(JSON.stringify(env)).not.toContain(key);
  });

  it('in local mode refuses a missing key or the placeholder, naming the variable', () => {
    for (const value of [undefined, 'ANTHROPIC_ENV_KEY']) {
      const load = () =>
        loadSpawnerConfig({ ...base, SANDBOX_PROVIDER: 'local', ANTHROPIC_ENVIRONMENT_KEY: value });
      expect(load).toThrow(ConfigError);
      expect(load).toThrow(/ANTHROPIC_ENVIRONMENT_KEY: with SANDBOX_PROVIDER=local set it/);
    }
  });

  it('in instavm mode still refuses a real key', () => {
    const load = () =>
      loadSpawnerConfig({
        ...base,
        INSTAVM_API_KEY: 'instavm_sk_x',
        ANTHROPIC_ENVIRONMENT_KEY: realKey(),
      });
    expect(load).toThrow(/ANTHROPIC_ENVIRONMENT_KEY: holds a real Anthropic key/);
  });

  it('rejects an unknown provider', () => {
    const load = () => loadSpawnerConfig({ ...base, SANDBOX_PROVIDER: 'docker' });
    expect(load).toThrow(/SANDBOX_PROVIDER: must be instavm or local/);
  });

  it('takes LOCAL_MASKED_ENV values from the spawner and refuses ones it cannot use', () => {
    const config = loadSpawnerConfig({
      ...base,
      SANDBOX_PROVIDER: 'local',
      ANTHROPIC_ENVIRONMENT_KEY: realKey(),
      WORKER_EGRESS_DOMAINS: 'api.openai.com,api.example.org',
      LOCAL_MASKED_ENV: 'OPENAI_API_KEY@api.openai.com,OPENAI_API_KEY@api.example.org',
    });
    expect(maskedCredentials(config, { OPENAI_API_KEY: 'sk-test-1' })).toEqual([
      {
        name: 'OPENAI_API_KEY',
        value: 'sk-test-1',
        injectHosts: ['api.openai.com', 'api.example.org'],
      },
    ]);
    expect(() => maskedCredentials(config, {})).toThrow(/names OPENAI_API_KEY, which the spawner/);
    const unreachable = { ...config, WORKER_EGRESS_DOMAINS: [] };
    expect(() => maskedCredentials(unreachable, { OPENAI_API_KEY: 'x' })).toThrow(
      /api.openai.com \(for OPENAI_API_KEY\) must be in WORKER_EGRESS_DOMAINS/,
    );
    expect(() =>
      loadSpawnerConfig({ ...base, INSTAVM_API_KEY: 'k', LOCAL_MASKED_ENV: 'nohost' }),
    ).toThrow(/LOCAL_MASKED_ENV.*: each entry must be NAME@host/);
  });
});

describe('the local runtime directory', () => {
  it('must not be writable by others', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cma-open-'));
    chmodSync(dir, 0o777);
    const config = loadSpawnerConfig({
      ...base,
      SANDBOX_PROVIDER: 'local',
      ANTHROPIC_ENVIRONMENT_KEY: realKey(),
      LOCAL_RUNTIME_DIR: dir,
    });
    expect(() => createLocalProvider(config)).toThrow(/LOCAL_RUNTIME_DIR .* not be writable/);
    rmSync(dir, { recursive: true });
  });
});
