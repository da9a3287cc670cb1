import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadDotEnvFile } from '@cma-fleet/shared';
import { ROOT } from './processes.js';

/** Where `pnpm start` keeps what it makes for a local fleet: Redis data, the dev signing key. */
export const FLEET_DIR = join(ROOT, '.fleet');
const DEV_ENV_FILE = join(FLEET_DIR, 'dev.env');

/** Loads `.env` from the repository root into process.env, when there is one. */
export function loadDotEnv(): void {
  const file = join(ROOT, '.env');
  loadDotEnvFile(file);
}

/**
 * The signing key of a local fleet that has none configured: made once, kept in `.fleet/dev.env`
 * (ignored by git) so `pnpm send-test` can sign with it. Never used when a key is configured.
 */
export function devSigningKey(): string {
  return devValue(
    'ANTHROPIC_WEBHOOK_SIGNING_KEY',
    () => `whsec_${randomBytes(32).toString('base64')}`,
  );
}

/**
 * The operator token of a local fleet that has none configured, kept beside the signing key so
 * `pnpm fleet` and the browser (password) can use it. Never used when ADMIN_TOKEN is set.
 */
export function devAdminToken(): string {
  return devValue('ADMIN_TOKEN', () => randomBytes(24).toString('hex'));
}

/** A value kept in `.fleet/dev.env`, made once. */
function devValue(name: string, make: () => string): string {
  const saved = readDevEnv();
  const existing = saved[name];
  if (existing) return existing;
  const value = make();
  const lines = Object.entries({ ...saved, [name]: value }).map(([key, v]) => `${key}=${v}\n`);
  mkdirSync(FLEET_DIR, { recursive: true });
  writeFileSync(DEV_ENV_FILE, lines.join(''), { mode: 0o600 });
  return value;
}

export function readDevEnv(): Record<string, string> {
  if (!existsSync(DEV_ENV_FILE)) return {};
  const pairs = readFileSync(DEV_ENV_FILE, 'utf8')
    .split('\n')
    .map((line) => line.match(/^([A-Z_]+)=(.*)$/))
    .filter((match): match is RegExpMatchArray => match !== null)
    .map((match) => [match[1], match[2]] as const);
  return Object.fromEntries(pairs);
}
