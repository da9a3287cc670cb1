import { existsSync } from 'node:fs';
import { z } from 'zod';
import { ConfigError } from './errors.js';

/**
 * Parses the process environment once, at start-up. A failure throws a ConfigError whose lines
 * each name the variable at fault and say what to set.
 */
export function parseEnv<S extends z.ZodType>(
  schema: S,
  env: Record<string, string | undefined> = process.env,
): z.infer<S> {
  const result = schema.safeParse(env);
  if (result.success) return result.data;
  throw new ConfigError(
    result.error.issues.map(
      (issue) => `${issue.path.join('.') || '(environment)'}: ${issue.message}`,
    ),
  );
}

/** Runs a config loader and, on a ConfigError, prints it and stops the process. */
export function loadConfigOrExit<T>(load: () => T): T {
  try {
    return load();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`${error.message}\nSee .env.example for every variable.\n`);
    process.exit(78); // EX_CONFIG
  }
}

/** An optional string where "" counts as unset, as shells and .env files produce it. */
export const optionalString = z
  .string()
  .optional()
  .transform((value) => (value === undefined || value.trim() === '' ? undefined : value.trim()));

/** A boolean written on purpose: true/false, 1/0, yes/no, on/off. "false" is false. */
export function envBoolean(defaultValue: boolean) {
  return z
    .string()
    .optional()
    .transform((value, ctx) => {
      if (value === undefined || value.trim() === '') return defaultValue;
      const normalised = value.trim().toLowerCase();
      if (['true', '1', 'yes', 'on'].includes(normalised)) return true;
      if (['false', '0', 'no', 'off'].includes(normalised)) return false;
      ctx.addIssue({ code: 'custom', message: `expected true or false, got "${value}"` });
      return z.NEVER;
    });
}

/** A whole number within bounds, with a default for unset or empty values. */
export function envInt(defaultValue: number, min: number, max: number) {
  return envOptionalInt(min, max).transform((value) => value ?? defaultValue);
}

/** A comma-separated list; blanks dropped. */
export const envList = z
  .string()
  .optional()
  .transform((value) =>
    (value ?? '')
      .split(',')
      .map((item) => item.trim())
      .filter((item) => item !== ''),
  );

/** An optional whole number within bounds: unset or empty gives undefined. */
export function envOptionalInt(min: number, max: number) {
  return z
    .string()
    .optional()
    .transform((value, ctx) => {
      if (value === undefined || value.trim() === '') return undefined;
      const parsed = Number(value);
      if (!Number.isInteger(parsed) || parsed < min || parsed > max) {
        ctx.addIssue({
          code: 'custom',
          message: `expected a whole number from ${min} to ${max}, got "${value}"`,
        });
        return z.NEVER;
      }
      return parsed;
    });
}

/**
 * Loads `KEY=value` lines from a `.env` file into process.env, when the file exists. Variables
 * already set in the environment win, so a deployment's own settings are never overridden.
 * `CMA_DOTENV` names another file; set to "" it turns this off (processes started by our own
 * scripts and tests get their whole environment from their parent).
 */
export function loadDotEnvFile(path = process.env.CMA_DOTENV ?? '.env'): void {
  if (path !== '' && existsSync(path)) process.loadEnvFile(path);
}
