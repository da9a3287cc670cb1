import { loadIngressConfig } from '@cma-fleet/ingress';
import { loadSpawnerConfig } from '@cma-fleet/spawner';
import { describe, expect, it } from 'vitest';
import { newSigningKey } from '../helpers/sign.js';
import {
  allStrings,
  composeDurationSeconds,
  configProblem,
  dockerfileStages,
  type Env,
  envExample,
  envFromReadmeFakeRecipe,
  readRepoFile,
  readYaml,
  requiredVariables,
  secretLookingStrings,
  shellDefaults,
} from './deploy-files.js';

// No Docker engine runs in CI, so the deployment files are checked as data: parsed by a YAML
// library and compared with what the apps' own configuration schemas demand.

interface ComposeService {
  image?: string;
  build?: { context: string; target: string };
  command?: string[];
  env_file?: string | string[];
  environment?: Env;
  ports?: string[];
  volumes?: string[];
  healthcheck?: { test: string[] };
  deploy?: { replicas?: number };
  stop_grace_period?: string;
  container_name?: string;
  profiles?: string[];
  depends_on?: Record<string, { condition: string; required?: boolean }>;
}

interface Compose {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

interface Manifest {
  schema: number;
  kind: string;
  runtime: string;
  app: { port: number; health_check_path: string; share: string };
  run: string;
  vault: { required: boolean; hosts: string[] };
  egress: {
    mode: string;
    include_vault_hosts: boolean;
    allowed_domains: string[];
    allow_package_managers: boolean;
  };
  secrets: Array<{ name: string; prompt: string; env_name: string; value?: unknown }>;
  vm: { memory_mb: number; vcpu: number; lifetime_seconds: number };
}

/** The `.env` a user without an InstaVM account gets from the README's commands. */
const fakeRecipeEnv = envFromReadmeFakeRecipe();

const compose = readYaml<Compose>('docker-compose.yml');
const manifest = readYaml<Manifest>('instavm.yaml');
const services = compose.services;

/** What a program in the service receives: the `.env` (from .env.example), then `environment`. */
function containerEnv(service: ComposeService, dotEnv: Env): Env {
  return { ...dotEnv, ...service.environment };
}

describe('docker-compose.yml', () => {
  it('runs Redis that never evicts, persists to a named volume and reports its health', () => {
    const redis = services.redis!;
    expect(redis.command?.join(' ')).toContain('--maxmemory-policy noeviction');
    expect(redis.command?.join(' ')).toContain('--appendonly yes');
    const [volume, mountPoint] = (redis.volumes?.[0] ?? '').split(':');
    expect(mountPoint).toBe('/data');
    expect(Object.keys(compose.volumes ?? {})).toContain(volume);
    expect(redis.healthcheck?.test).toEqual(['CMD', 'redis-cli', 'ping']);
  });

  it('publishes the webhook port and keeps the admin port on localhost', () => {
    const ports = services.ingress!.ports ?? [];
    // Compose interpolation, not JavaScript's: PORT from .env on both sides.
    const publishedPort = '$' + '{PORT:-8000}';
    const webhook = ports.find((port) => port.startsWith(publishedPort));
    const admin = ports.find((port) => port.includes('ADMIN_PORT'));
    expect(webhook).toBe(`${publishedPort}:${publishedPort}`);
    expect(admin).toMatch(/^127\.0\.0\.1:/);
    expect(ports.filter((port) => !port.startsWith('127.0.0.1:'))).toEqual([webhook]);
  });

  it('runs several spawners that can be scaled and are given time to finish a provision', () => {
    const spawner = services.spawner!;
    expect(spawner.deploy?.replicas).toBeGreaterThanOrEqual(2);
    // --scale N needs N distinct containers: no fixed name, no host port.
    expect(spawner.container_name).toBeUndefined();
    expect(spawner.ports).toBeUndefined();
    expect(composeDurationSeconds(spawner.stop_grace_period ?? '0s')).toBeGreaterThanOrEqual(30);
  });

  it('starts the apps only once Redis is healthy, all from the one .env', () => {
    for (const name of ['ingress', 'spawner']) {
      expect(services[name]?.env_file).toBe('.env');
      expect(services[name]?.depends_on?.redis?.condition).toBe('service_healthy');
      expect(services[name]?.environment?.REDIS_URL).toBe('redis://redis:6379');
    }
  });

  it('builds every program from a Dockerfile target that has a health check', () => {
    const stages = dockerfileStages(readRepoFile('Dockerfile'));
    for (const name of ['ingress', 'spawner', 'fake-instavm']) {
      expect(services[name]?.build).toEqual({ context: '.', target: name });
      const healthcheck = stages.get(name)?.find((line) => line.startsWith('HEALTHCHECK'));
      expect(healthcheck).toContain(`CMD ["node", "healthcheck.mjs", "${name}"]`);
    }
    // The spawner's check asks its liveness port; .env would blank the image's value.
    const imagePort = stages.get('spawner')?.find((line) => line.startsWith('ENV SPAWNER_HEALTH'));
    expect(imagePort).toBe('ENV SPAWNER_HEALTH_PORT=8002');
    expect(services.spawner?.environment?.SPAWNER_HEALTH_PORT).toBe('8002');
  });

  it('runs the fake InstaVM only in the fake profile, where the README points the spawner', () => {
    const fake = services['fake-instavm']!;
    expect(fake.profiles).toEqual(['fake']);
    expect(fakeRecipeEnv.COMPOSE_PROFILES).toBe('fake');
    const url = new URL(fakeRecipeEnv.INSTAVM_API_URL ?? '');
    expect(url.hostname).toBe('fake-instavm');
    expect(fake.environment).toMatchObject({ FAKE_INSTAVM_HOST: '0.0.0.0' });
    expect(fake.environment?.FAKE_INSTAVM_PORT).toBe(url.port);
    expect(services.spawner?.depends_on?.['fake-instavm']).toEqual({
      condition: 'service_healthy',
      required: false,
    });
  });

  it('gives each app every variable its configuration requires', () => {
    // The .env of the README's no-account recipe: .env.example plus what the recipe adds.
    const dotEnv = fakeRecipeEnv;
    const checks = [
      { service: services.ingress!, load: loadIngressConfig },
      { service: services.spawner!, load: loadSpawnerConfig },
    ];
    for (const { service, load } of checks) {
      const env = containerEnv(service, dotEnv);
      expect(configProblem(load, env)).toBeUndefined();
      // Each required variable is named where the user sees it: .env.example or the compose file.
      const named = new Set([
        ...Object.keys(envExample()),
        ...Object.keys(service.environment ?? {}),
      ]);
      const required = requiredVariables(load, env);
      expect(required).toContain('REDIS_URL');
      expect(required.filter((name) => !named.has(name))).toEqual([]);
    }
    expect(requiredVariables(loadSpawnerConfig, containerEnv(services.spawner!, dotEnv))).toEqual(
      expect.arrayContaining(['ANTHROPIC_ENVIRONMENT_ID', 'INSTAVM_API_KEY']),
    );
  });

  it('writes no secret value', () => {
    expect(secretLookingStrings(allStrings(compose))).toEqual([]);
    const secretNames = /KEY|SECRET|TOKEN|PASSWORD/;
    for (const service of Object.values(services)) {
      const named = Object.keys(service.environment ?? {}).filter((name) => secretNames.test(name));
      expect(named).toEqual([]);
    }
  });
});

describe('instavm.yaml', () => {
  it('deploys the ingress as a public service with a health check', () => {
    expect(manifest).toMatchObject({ schema: 2, kind: 'service' });
    expect(manifest.runtime).toMatch(/^node20/);
    expect(manifest.app).toEqual({ port: 8000, health_check_path: '/health', share: 'public' });
    const started = shellDefaults(readRepoFile('scripts/instavm-service.sh'));
    expect(started.PORT).toBe(String(manifest.app.port));
    expect(manifest.run).toBe('bash scripts/instavm-service.sh');
  });

  it('lets the spawner reach the InstaVM API through the allowlist, and no other host', () => {
    // The host the spawner calls when INSTAVM_API_URL is left at its default.
    const defaults = loadSpawnerConfig({
      REDIS_URL: 'redis://127.0.0.1:6379',
      ANTHROPIC_ENVIRONMENT_ID: 'env_manifest',
      INSTAVM_API_KEY: 'INSTAVM_API_KEY_FROM_VAULT',
    });
    const instaVmHost = new URL(defaults.INSTAVM_API_URL).hostname;
    expect(instaVmHost).toBe('api.instavm.io');
    expect(manifest.egress).toEqual({
      mode: 'allowlist',
      include_vault_hosts: true,
      allowed_domains: [instaVmHost],
      allow_package_managers: true,
    });
    expect(manifest.vault).toEqual({ required: true, hosts: [instaVmHost] });
  });

  it('asks for every required variable the start script does not set, as a prompted secret', () => {
    for (const secret of manifest.secrets) {
      expect(secret.name).toMatch(/^[a-z0-9-]+$/);
      expect(secret.prompt.length).toBeGreaterThan(10);
      expect(secret.env_name).toMatch(/^[A-Z_]+$/);
      expect(secret.value).toBeUndefined();
    }
    const prompted: Env = {
      ANTHROPIC_WEBHOOK_SIGNING_KEY: newSigningKey(),
      ANTHROPIC_ENVIRONMENT_ID: 'env_manifest',
      INSTAVM_VAULT_IDS: 'vault_manifest',
    };
    expect(manifest.secrets.map((secret) => secret.env_name).sort()).toEqual(
      Object.keys(prompted).sort(),
    );
    const env = { ...shellDefaults(readRepoFile('scripts/instavm-service.sh')), ...prompted };
    for (const load of [loadIngressConfig, loadSpawnerConfig]) {
      expect(configProblem(load, env)).toBeUndefined();
    }
    expect(requiredVariables(loadSpawnerConfig, env)).toEqual(
      expect.arrayContaining(['REDIS_URL', 'ANTHROPIC_ENVIRONMENT_ID', 'INSTAVM_API_KEY']),
    );
  });

  it('writes no secret value, and the InstaVM key the spawner holds is only a placeholder', () => {
    expect(secretLookingStrings(allStrings(manifest))).toEqual([]);
    const defaults = shellDefaults(readRepoFile('scripts/instavm-service.sh'));
    expect(defaults.INSTAVM_API_KEY).toBe('INSTAVM_API_KEY_FROM_VAULT');
    expect(secretLookingStrings(Object.values(defaults))).toEqual([]);
  });
});
