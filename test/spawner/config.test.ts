import { ConfigError } from '@cma-fleet/shared';
import { loadSpawnerConfig } from '@cma-fleet/spawner';
import { describe, expect, it } from 'vitest';

const valid = {
  REDIS_URL: 'redis://127.0.0.1:6379',
  ANTHROPIC_ENVIRONMENT_ID: 'env_01abc',
  INSTAVM_API_KEY: 'instavm_sk_test',
};

describe('spawner configuration', () => {
  it('applies the documented defaults', () => {
    expect(loadSpawnerConfig(valid)).toMatchObject({
      ANTHROPIC_ENVIRONMENT_KEY: 'ANTHROPIC_ENV_KEY',
      INSTAVM_API_URL: 'https://api.instavm.io',
      WORKER_MEMORY_MB: 2048,
      WORKER_VCPU: 2,
      WORKER_WORKDIR: '/workspace',
      WORKER_MAX_IDLE: '30s',
      WORKER_LIFETIME_SECONDS: 3600,
      WORKER_EGRESS_DOMAINS: [],
      INSTAVM_VAULT_IDS: [],
      REDIS_KEY_PREFIX: 'cma',
    });
  });

  it('refuses a real-looking Anthropic key as the worker environment key', () => {
    const load = () =>
      loadSpawnerConfig({ ...valid, ANTHROPIC_ENVIRONMENT_KEY: 'sk-ant-oat01-abcdefghijklmnop' });
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(/ANTHROPIC_ENVIRONMENT_KEY: holds a real Anthropic key/);
  });

  it.each([
    ['REDIS_URL', { REDIS_URL: undefined }, /REDIS_URL: set REDIS_URL/],
    ['REDIS_URL', { REDIS_URL: 'localhost:6379' }, /REDIS_URL: must start with redis:\/\//],
    [
      'ANTHROPIC_ENVIRONMENT_ID',
      { ANTHROPIC_ENVIRONMENT_ID: '' },
      /ANTHROPIC_ENVIRONMENT_ID: set it/,
    ],
    ['INSTAVM_API_KEY', { INSTAVM_API_KEY: undefined }, /INSTAVM_API_KEY: set it/],
    ['WORKER_VCPU', { WORKER_VCPU: '3' }, /WORKER_VCPU: must be one of 1, 2, 4, 6, 8/],
    ['WORKER_MEMORY_MB', { WORKER_MEMORY_MB: 'lots' }, /WORKER_MEMORY_MB: expected a whole number/],
    ['WORKER_LIFETIME_SECONDS', { WORKER_LIFETIME_SECONDS: '5' }, /WORKER_LIFETIME_SECONDS/],
    ['WORKER_MAX_IDLE', { WORKER_MAX_IDLE: 'soon' }, /WORKER_MAX_IDLE: must be a duration/],
    [
      'WORKER_EGRESS_DOMAINS',
      { WORKER_EGRESS_DOMAINS: 'pypi.org,http://x' },
      /WORKER_EGRESS_DOMAINS/,
    ],
    ['ANT_VERSION', { ANT_VERSION: 'latest' }, /ANT_VERSION: must be a version/],
  ])('names %s when it is wrong', (_name, override, message) => {
    expect(() => loadSpawnerConfig({ ...valid, ...override })).toThrow(message);
  });

  it('parses lists with blanks and spaces', () => {
    const config = loadSpawnerConfig({
      ...valid,
      WORKER_EGRESS_DOMAINS: ' pypi.org , ,files.pythonhosted.org',
      INSTAVM_VAULT_IDS: 'vault_a,vault_b',
    });
    expect(config.WORKER_EGRESS_DOMAINS).toEqual(['pypi.org', 'files.pythonhosted.org']);
    expect(config.INSTAVM_VAULT_IDS).toEqual(['vault_a', 'vault_b']);
  });
});
