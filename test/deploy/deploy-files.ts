import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseEnv } from 'node:util';
import { SECRET_PATTERNS } from '@cma-fleet/shared';
import { parse } from 'yaml';
import { ROOT } from '../../scripts/lib/processes.js';

export type Env = Record<string, string>;

export function readRepoFile(path: string): string {
  return readFileSync(join(ROOT, path), 'utf8');
}

/** A YAML file of the repository, parsed by a YAML library (as Docker and InstaVM would). */
export function readYaml<T>(path: string): T {
  return parse(readRepoFile(path)) as T;
}

/** `.env.example` as a program would receive it from an `env_file`. */
export function envExample(): Env {
  return parseEnv(readRepoFile('.env.example')) as Env;
}

/**
 * Runs the README's "try it with no account" recipe (its commands before `docker compose`) in a
 * scratch folder holding a copy of .env.example, and returns the `.env` it writes.
 */
export function envFromReadmeFakeRecipe(): Env {
  const blocks = [...readRepoFile('README.md').matchAll(/```sh\n([\s\S]*?)```/g)];
  const recipe = blocks
    .map((block) => block[1] ?? '')
    .find((b) => b.includes('--profile fake') || b.includes('COMPOSE_PROFILES=fake'));
  if (!recipe) throw new Error('README has no shell block for the fake profile');
  const setup = recipe.split(/^docker compose/m)[0] ?? '';
  const dir = mkdtempSync(join(tmpdir(), 'cma-readme-'));
  try {
    copyFileSync(join(ROOT, '.env.example'), join(dir, '.env.example'));
    execFileSync('sh', ['-euc', setup], { cwd: dir, stdio: 'pipe' });
    return parseEnv(readFileSync(join(dir, '.env'), 'utf8')) as Env;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** An app's own configuration loader: it throws on an environment the app would refuse. */
export type ConfigLoader = (env: Env) => unknown;

/** The loader's complaint about `env`, or undefined when the app would start with it. */
export function configProblem(load: ConfigLoader, env: Env): string | undefined {
  try {
    load(env);
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

/**
 * The variables an app cannot do without, found by asking its configuration loader: starting
 * from an environment it accepts, each variable whose removal makes it refuse is required. This
 * also catches requirements that only cross-field checks enforce.
 */
export function requiredVariables(load: ConfigLoader, accepted: Env): string[] {
  const problem = configProblem(load, accepted);
  if (problem) throw new Error(`the starting environment is refused: ${problem}`);
  return Object.keys(accepted).filter((name) => {
    const { [name]: _removed, ...rest } = accepted;
    return configProblem(load, rest) !== undefined;
  });
}

/** Every string anywhere in a parsed YAML document: keys and values. */
export function allStrings(node: unknown): string[] {
  if (typeof node === 'string') return [node];
  if (typeof node === 'number' || typeof node === 'boolean') return [String(node)];
  if (Array.isArray(node)) return node.flatMap(allStrings);
  if (node && typeof node === 'object') {
    return Object.entries(node).flatMap(([key, value]) => [key, ...allStrings(value)]);
  }
  return [];
}

/** The strings that hold a credential: a known key shape or a password inside a URL. */
export function secretLookingStrings(strings: string[]): string[] {
  const credentialInUrl = /[a-z]+:\/\/[^/\s:@]*:[^/\s@]+@/i;
  return strings.filter(
    (text) =>
      credentialInUrl.test(text) ||
      SECRET_PATTERNS.some((pattern) => new RegExp(pattern.source).test(text)),
  );
}

/** Seconds in a Compose duration such as `40s`, `1m30s` or `2m`. */
export function composeDurationSeconds(duration: string): number {
  const parts = [...duration.matchAll(/(\d+(?:\.\d+)?)(h|ms|m|s|us|ns)/g)];
  if (parts.length === 0) throw new Error(`not a duration: ${duration}`);
  const unit = { h: 3600, m: 60, s: 1, ms: 1e-3, us: 1e-6, ns: 1e-9 } as const;
  return parts.reduce((sum, [, n, u]) => sum + Number(n) * unit[u as keyof typeof unit], 0);
}

/** The variables a shell script defaults with `: "${NAME:=value}"`. */
export function shellDefaults(script: string): Env {
  const pairs = [...script.matchAll(/^: "\$\{([A-Z_]+):=([^}]*)\}"$/gm)].map(
    ([, name, value]) => [name, value] as const,
  );
  return Object.fromEntries(pairs) as Env;
}

/** Target stage name → the instructions of that stage, from a Dockerfile. */
export function dockerfileStages(dockerfile: string): Map<string, string[]> {
  const stages = new Map<string, string[]>();
  let current: string[] | undefined;
  const joined = dockerfile.replace(/\\\n\s*/g, ' ');
  for (const line of joined.split('\n')) {
    const from = /^FROM\s+\S+\s+AS\s+(\S+)/i.exec(line);
    if (from?.[1]) {
      current = [];
      stages.set(from[1], current);
    } else if (current && line.trim() && !line.trim().startsWith('#')) {
      current.push(line.trim());
    }
  }
  return stages;
}
