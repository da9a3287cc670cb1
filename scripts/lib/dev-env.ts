import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './processes.js';

/** Where `pnpm start` keeps what it makes for a local fleet: Redis data, the dev signing key. */
export const FLEET_DIR = join(ROOT, '.fleet');
const DEV_ENV_FILE = join(FLEET_DIR, 'dev.env');

/** Loads `.env` from the repository root into process.env, when there is one. */
export function loadDotEnv(): void {
  const file = join(ROOT, '.env');
  if (existsSync(file)) process.loadEnvFile(file);
}

/**
 * The signing key of a local fleet that has none configured: made once, kept in `.fleet/dev.env`
 * (ignored by git) so `pnpm send-test` can sign with it. Never used when a key is configured.
 */
export function devSigningKey(): string {
  const saved = readDevEnv().ANTHROPIC_WEBHOOK_SIGNING_KEY;
  if (saved) return saved;
  const key = `whsec_${randomBytes(32).toString('base64')}`;
  mkdirSync(FLEET_DIR, { recursive: true });
  writeFileSync(DEV_ENV_FILE, `ANTHROPIC_WEBHOOK_SIGNING_KEY=${key}\n`, { mode: 0o600 });
  return key;
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
