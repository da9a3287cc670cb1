import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  commonEnv,
  envInt,
  envList,
  envOptionalInt,
  looksLikeAnthropicKey,
  optionalString,
  parseEnv,
  spawnerMetricsEnv,
  spawnJobEnv,
} from '@cma-fleet/shared';
import { z } from 'zod';

/** What the worker VM receives as its environment key: a placeholder the vault swaps at egress. */
export const DEFAULT_KEY_PLACEHOLDER = 'ANTHROPIC_ENV_KEY';

const VCPU_COUNTS = [1, 2, 4, 6, 8];

/** Where workers run: InstaVM microVMs, or sandboxed process trees on this host. */
export const SANDBOX_PROVIDERS = ['instavm', 'local'] as const;

const absolutePath = z.string().regex(/^\/[^\0]*$/, { error: 'must be an absolute path' });

/** InstaVM mode: the VM gets this value, so it must be a placeholder, never the real key. */
function placeholderKey(value: string | undefined, ctx: z.RefinementCtx): string {
  const placeholder = value ?? DEFAULT_KEY_PLACEHOLDER;
  if (looksLikeAnthropicKey(placeholder)) {
    ctx.addIssue({
      code: 'custom',
      path: ['ANTHROPIC_ENVIRONMENT_KEY'],
      message:
        'holds a real Anthropic key (sk-ant-...). Worker VMs must only get a placeholder: put the ' +
        'real key in an InstaVM vault bound to api.anthropic.com, list the vault in ' +
        `INSTAVM_VAULT_IDS, and set this to the placeholder (default ${DEFAULT_KEY_PLACEHOLDER})`,
    });
  }
  return placeholder;
}

/**
 * Local mode: the sandbox runtime on this host masks the key (the sandbox sees a sentinel), so
 * the spawner holds the REAL key, and a placeholder here would only make every poll fail.
 */
function realLocalKey(value: string | undefined, ctx: z.RefinementCtx): string {
  if (value === undefined || value === DEFAULT_KEY_PLACEHOLDER) {
    ctx.addIssue({
      code: 'custom',
      path: ['ANTHROPIC_ENVIRONMENT_KEY'],
      message:
        'with SANDBOX_PROVIDER=local set it to the REAL environment key (sk-ant-oat01-...): it ' +
        'stays with the spawner, and the sandboxed worker only ever sees a sentinel',
    });
  }
  return value ?? '';
}

export const spawnerEnv = commonEnv
  .extend(spawnerMetricsEnv.shape)
  .extend(spawnJobEnv.shape)
  .extend({
    ANTHROPIC_ENVIRONMENT_ID: optionalString.pipe(
      z.string({ error: 'set it to the self-hosted environment id (env_...) from the Console' }),
    ),
    /** InstaVM: the placeholder the VM gets. Local: the real key, masked by the sandbox. */
    ANTHROPIC_ENVIRONMENT_KEY: optionalString,
    SANDBOX_PROVIDER: optionalString.pipe(
      z.enum(SANDBOX_PROVIDERS, { error: 'must be instavm or local' }).default('instavm'),
    ),
    /** The API the worker talks to; its host is the one egress always allows. */
    ANTHROPIC_BASE_URL: optionalString.pipe(
      z
        .url({ error: 'must be a URL, e.g. https://api.anthropic.com' })
        .default('https://api.anthropic.com'),
    ),
    /** Required with SANDBOX_PROVIDER=instavm (checked below). */
    INSTAVM_API_KEY: optionalString,
    INSTAVM_API_URL: optionalString.pipe(
      z
        .url({ error: 'must be a URL, e.g. https://api.instavm.io' })
        .default('https://api.instavm.io'),
    ),
    INSTAVM_TIMEOUT_MS: envInt(30_000, 100, 600_000),
    INSTAVM_VAULT_IDS: envList,
    WORKER_MEMORY_MB: envInt(2048, 128, 8192),
    WORKER_VCPU: envInt(2, 1, 8).refine((n) => VCPU_COUNTS.includes(n), {
      error: `must be one of ${VCPU_COUNTS.join(', ')}`,
    }),
    WORKER_WORKDIR: optionalString.pipe(
      z
        .string()
        .regex(/^\/[A-Za-z0-9._/-]*$/, { error: 'must be an absolute path' })
        .default('/workspace'),
    ),
    WORKER_MAX_IDLE: optionalString.pipe(
      z
        .string()
        .regex(/^\d+(ms|s|m|h)?$/, { error: 'must be a duration such as 30s, 5m or 0 (never)' })
        .default('30s'),
    ),
    WORKER_LIFETIME_SECONDS: envInt(3600, 20, 86_400),
    WORKER_EGRESS_DOMAINS: envList.pipe(
      z.array(
        z.string().regex(/^(\*\.)?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$/, {
          error: 'each entry must be a host name such as pypi.org or *.example.com',
        }),
      ),
    ),
    WORKER_SNAPSHOT_ID: optionalString,
    ANT_VERSION: optionalString.pipe(
      z
        .string()
        .regex(/^\d+\.\d+\.\d+$/, { error: 'must be a version such as 1.12.0' })
        .default('1.12.0'),
    ),
    SPAWNER_CONCURRENCY: envInt(10, 1, 1000),
    /** Local mode: where each worker gets its directory (state, log, work dir, home). */
    LOCAL_RUNTIME_DIR: optionalString.pipe(
      absolutePath.default(join(tmpdir(), 'cma-fleet-workers')),
    ),
    /** Local mode: at most this many live workers on this host. */
    LOCAL_MAX_WORKERS: envInt(4, 1, 1000),
    /** Local mode: at most this many processes and threads per worker (with WORKER_MEMORY_MB). */
    LOCAL_MAX_PROCESSES: envInt(512, 32, 100_000),
    /**
     * Local mode: more credentials to mask, as NAME@host entries (repeat NAME for more hosts). The
     * spawner's value of NAME is injected only on requests to those hosts; the sandbox sees a
     * sentinel.
     */
    LOCAL_MASKED_ENV: envList.pipe(
      z.array(
        z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*@(\*\.)?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$/, {
          error: 'each entry must be NAME@host, e.g. OPENAI_API_KEY@api.openai.com',
        }),
      ),
    ),
    /** Local mode: host paths workers may not read, besides home, .env and .fleet. */
    LOCAL_DENY_READ: envList.pipe(z.array(absolutePath)),
    /**
     * How long a spawner holds a job without renewing its lock; a spawner that died mid-provision
     * is noticed this long after, and another replica resumes (and adopts) its job.
     */
    SPAWNER_LOCK_MS: envInt(30_000, 500, 600_000),
    /** How often one job may be caught with a dead spawner before it fails for good. */
    SPAWNER_MAX_STALLS: envInt(3, 1, 100),
    /** First retry delay after a failed provision (ms); doubles per attempt, with jitter. */
    SPAWN_BACKOFF_MS: envInt(2000, 10, 600_000),
    /** The longest retry delay (ms). */
    SPAWN_BACKOFF_MAX_MS: envInt(60_000, 10, 3_600_000),
    /** Provider faults in a row (5xx, no answer) that open the breaker for every replica. */
    PROVIDER_BREAKER_THRESHOLD: envInt(5, 1, 1000),
    /** How long an open breaker keeps every replica from calling the provider (ms). */
    PROVIDER_BREAKER_COOLDOWN_MS: envInt(10_000, 100, 3_600_000),
    /** A spawn blocked this long by an unhealthy or rate-limiting provider fails (ms). */
    PROVIDER_PATIENCE_MS: envInt(30 * 60_000, 1000, 24 * 3_600_000),
    /** A spawn sent back to wait (429, open breaker) more often than this fails. */
    PROVIDER_MAX_DEFERRALS: envInt(200, 1, 100_000),
    /** Provisions in flight across all replicas together (0: no cap beyond each replica's). */
    PROVISION_GLOBAL_CONCURRENCY: envInt(0, 0, 100_000),
    /** Provisions started per second across all replicas. */
    PROVISION_MAX_STARTS_PER_SECOND: envInt(1000, 1, 100_000),
    /** On SIGTERM, in-flight provisions get this long to finish before the spawner exits (ms). */
    SPAWNER_SHUTDOWN_MS: envInt(25_000, 100, 600_000),
    /** Serves GET /health (liveness by consumption) on this port; unset: off, 0: any free port. */
    SPAWNER_HEALTH_PORT: envOptionalInt(0, 65_535),
    SPAWNER_HEALTH_HOST: optionalString.pipe(z.string().default('0.0.0.0')),
    /** Jobs waiting this long while this spawner takes none fails its liveness check (ms). */
    SPAWNER_LIVENESS_STALL_MS: envInt(60_000, 100, 3_600_000),
    /** How often the reconciler runs, fleet-wide (ms); 0 turns it off. */
    RECONCILE_INTERVAL_MS: envInt(30_000, 0, 3_600_000),
    /** A worker still provisioning this long after it began is killed and re-queued (ms). */
    RECONCILE_PROVISION_DEADLINE_MS: envInt(10 * 60_000, 1000, 24 * 3_600_000),
    /** VMs older than this are killed (s); default: WORKER_LIFETIME_SECONDS plus five minutes. */
    RECONCILE_MAX_VM_AGE_SECONDS: envOptionalInt(60, 7 * 86_400),
    /** A VM with this fleet's tag but no record is killed after this long (ms). */
    RECONCILE_ORPHAN_GRACE_MS: envInt(10 * 60_000, 0, 24 * 3_600_000),
    /** Records of ended workers are deleted this long after their last change (ms). */
    RECONCILE_RETENTION_MS: envInt(7 * 86_400_000, 60_000, 365 * 86_400_000),
    /**
     * The organisation API key, for lost-webhook recovery (control plane only: never given to a
     * worker). Unset: the reconciler does not ask Anthropic.
     */
    ANTHROPIC_API_KEY: optionalString,
    /** Where the control plane reaches Anthropic's API; default: ANTHROPIC_BASE_URL. */
    ANTHROPIC_API_URL: optionalString.pipe(z.url({ error: 'must be a URL' }).optional()),
    /** Work queued at Anthropic for less than this is left to the webhook path (ms). */
    LOST_WORK_MIN_QUEUED_MS: envInt(30_000, 0, 3_600_000),
  });

/** The checks that depend on SANDBOX_PROVIDER: which key is held, and whether InstaVM's. */
export const spawnerConfigSchema = spawnerEnv.transform((env, ctx) => {
  const local = env.SANDBOX_PROVIDER === 'local';
  if (!local && env.INSTAVM_API_KEY === undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['INSTAVM_API_KEY'],
      message:
        'set it to your InstaVM API key (instavm_sk_...), or set SANDBOX_PROVIDER=local to run ' +
        'workers sandboxed on this host',
    });
  }
  const key = local
    ? realLocalKey(env.ANTHROPIC_ENVIRONMENT_KEY, ctx)
    : placeholderKey(env.ANTHROPIC_ENVIRONMENT_KEY, ctx);
  return { ...env, ANTHROPIC_ENVIRONMENT_KEY: key };
});

export type SpawnerConfig = z.output<typeof spawnerConfigSchema>;

export function loadSpawnerConfig(env: Record<string, string | undefined> = process.env) {
  return parseEnv(spawnerConfigSchema, env);
}
