import { loadIngressConfig } from '@cma-fleet/ingress';
import { InstaVmClient, InstaVmHttpError, InstaVmTransportError } from '@cma-fleet/instavm';
import { ConfigError, SECRET_PATTERNS, withTimeout } from '@cma-fleet/shared';
import { loadSpawnerConfig } from '@cma-fleet/spawner';
import { Redis } from 'ioredis';

/** One thing `fleet doctor` checked; a problem names the variable to fix. */
export interface Finding {
  level: 'ok' | 'warning' | 'problem';
  message: string;
}

type Env = Record<string, string | undefined>;

const ok = (message: string): Finding => ({ level: 'ok', message });
const warning = (message: string): Finding => ({ level: 'warning', message });
const problem = (message: string): Finding => ({ level: 'problem', message });

/**
 * Checks a fleet's configuration as the processes would read it, then the services it names:
 * key shapes, Redis reachable with `maxmemory-policy noeviction`, the InstaVM key accepted (by a
 * read-only call). Never prints a secret: messages name variables, not values.
 */
export async function runDoctor(env: Env): Promise<Finding[]> {
  return [
    ...configFindings('ingress', () => loadIngressConfig(env)),
    ...configFindings('spawner', () => loadSpawnerConfig(env)),
    ...keyShapeFindings(env),
    ...(await redisFindings(env.REDIS_URL)),
    ...(await instaVmFindings(env)),
  ];
}

/** Every problem the app's own schema finds, each naming its variable. */
function configFindings(app: string, load: () => unknown): Finding[] {
  try {
    load();
    return [ok(`${app} configuration parses`)];
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return error.problems.map((line) => problem(`${app}: ${line}`));
  }
}

function keyShapeFindings(env: Env): Finding[] {
  const findings: Finding[] = [];
  const signing = env.ANTHROPIC_WEBHOOK_SIGNING_KEY?.trim();
  if (!signing || signing === 'ANTHROPIC_WHSEC') {
    findings.push(
      problem('ANTHROPIC_WEBHOOK_SIGNING_KEY is not set: every delivery is refused (503)'),
    );
  }
  const placeholder = env.ANTHROPIC_ENVIRONMENT_KEY?.trim() || 'ANTHROPIC_ENV_KEY';
  if (env.SANDBOX_PROVIDER !== 'local' && looksLikeCredential(placeholder)) {
    findings.push(
      problem(
        'ANTHROPIC_ENVIRONMENT_KEY must be a placeholder (e.g. ANTHROPIC_ENV_KEY), not a key',
      ),
    );
  }
  const instavmKey = env.INSTAVM_API_KEY?.trim();
  if (
    env.SANDBOX_PROVIDER !== 'local' &&
    instavmKey &&
    !/^instavm_sk_[\w-]{8,}$/.test(instavmKey)
  ) {
    findings.push(problem('INSTAVM_API_KEY does not look like an InstaVM key (instavm_sk_...)'));
  }
  if (!env.ADMIN_TOKEN?.trim()) {
    findings.push(warning('ADMIN_TOKEN is not set: the operator view and /metrics are off'));
  }
  return findings;
}

function looksLikeCredential(value: string): boolean {
  return (
    SECRET_PATTERNS.some((pattern) => {
      pattern.lastIndex = 0;
      return pattern.test(value);
    }) || /^sk-ant-/i.test(value)
  );
}

async function redisFindings(url: string | undefined): Promise<Finding[]> {
  if (!url) return []; // the config check already names REDIS_URL
  const redis = new Redis(url, {
    lazyConnect: true,
    connectTimeout: 2000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  redis.on('error', () => {});
  try {
    await withTimeout(redis.connect(), 3000, 'connecting');
    await withTimeout(redis.ping(), 2000, 'PING');
  } catch (error) {
    return [problem(`REDIS_URL: Redis at ${safeUrl(url)} is unreachable (${messageOf(error)})`)];
  } finally {
    if (redis.status !== 'ready') redis.disconnect();
  }
  try {
    return [ok(`Redis at ${safeUrl(url)} answers`), await evictionPolicy(redis)];
  } finally {
    redis.disconnect();
  }
}

async function evictionPolicy(redis: Redis): Promise<Finding> {
  let policy: string | undefined;
  try {
    const answer = (await withTimeout(
      redis.config('GET', 'maxmemory-policy'),
      2000,
      'CONFIG GET',
    )) as string[];
    policy = answer[1];
  } catch (error) {
    return warning(
      `could not read Redis maxmemory-policy (${messageOf(error)}); a managed Redis may refuse ` +
        'CONFIG: make sure its eviction policy is noeviction in the provider settings',
    );
  }
  if (policy === 'noeviction') return ok('Redis maxmemory-policy is noeviction');
  return problem(
    `Redis maxmemory-policy is ${policy ?? 'unknown'}: BullMQ needs noeviction (a lost key is a ` +
      'lost or doubled spawn). Set maxmemory-policy noeviction in redis.conf or the provider',
  );
}

async function instaVmFindings(env: Env): Promise<Finding[]> {
  if (env.SANDBOX_PROVIDER === 'local' || !env.INSTAVM_API_KEY?.trim()) return [];
  const baseUrl = env.INSTAVM_API_URL?.trim() || 'https://api.instavm.io';
  const client = new InstaVmClient({
    baseUrl,
    apiKey: env.INSTAVM_API_KEY.trim(),
    timeoutMs: 5000,
  });
  try {
    // Read-only: listing VMs never starts or extends one.
    await client.listVms({ role: 'cma-worker', fleet: env.REDIS_KEY_PREFIX?.trim() || 'cma' });
    return [ok(`InstaVM at ${baseUrl} accepts INSTAVM_API_KEY`)];
  } catch (error) {
    if (error instanceof InstaVmHttpError && (error.status === 401 || error.status === 403)) {
      return [problem(`INSTAVM_API_KEY was rejected by InstaVM at ${baseUrl} (${error.status})`)];
    }
    if (error instanceof InstaVmTransportError) {
      return [problem(`INSTAVM_API_URL: InstaVM at ${baseUrl} is unreachable (${error.kind})`)];
    }
    const status = error instanceof InstaVmHttpError ? ` (${error.status})` : '';
    return [problem(`INSTAVM_API_URL: listing VMs at ${baseUrl} failed${status}`)];
  }
}

/** The URL without its password, for messages. */
function safeUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparseable URL)';
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
