import { accessSync, constants } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, dirname, join } from 'node:path';

/** The Linux tools the sandbox runtime needs, with the Debian package each comes from. */
const REQUIRED_TOOLS = [
  { command: 'bwrap', debianPackage: 'bubblewrap' },
  { command: 'socat', debianPackage: 'socat' },
  { command: 'rg', debianPackage: 'ripgrep' },
] as const;

/** Raised when a worker cannot be sandboxed; no worker ever runs without its sandbox. */
export class SandboxUnavailableError extends Error {
  override name = 'SandboxUnavailableError';
}

/** The tools from REQUIRED_TOOLS that are not executable anywhere on `path`. */
export function missingSandboxTools(path: string): string[] {
  return REQUIRED_TOOLS.filter((tool) => !findExecutable(tool.command, path)).map(
    (tool) => tool.command,
  );
}

/**
 * Throws a SandboxUnavailableError naming what to install when this host cannot sandbox a
 * worker: not Linux, or bubblewrap, socat or ripgrep missing from `path`.
 */
export function assertSandboxAvailable(path: string): void {
  if (process.platform !== 'linux') {
    throw new SandboxUnavailableError(
      `SANDBOX_PROVIDER=local runs workers under bubblewrap, which needs Linux (this is ${process.platform})`,
    );
  }
  const missing = missingSandboxTools(path);
  if (missing.length === 0) return;
  const packages = REQUIRED_TOOLS.filter((tool) => missing.includes(tool.command)).map(
    (tool) => tool.debianPackage,
  );
  throw new SandboxUnavailableError(
    `SANDBOX_PROVIDER=local needs ${missing.join(', ')} on PATH to sandbox workers, and no worker ` +
      `runs unsandboxed. Install them (Debian/Ubuntu: apt-get install ${packages.join(' ')}; ` +
      'Fedora: dnf install bubblewrap socat ripgrep)',
  );
}

export function findExecutable(command: string, path: string): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, command);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

/**
 * The `srt` command-line entry of the installed @anthropic-ai/sandbox-runtime.
 * TEMPORARY: the package declares Node >= 22.12 while this project runs Node 20; it works here
 * (test/local-provider starts real sandboxes on Node 20), until the project moves to Node 22.
 */
export function sandboxCliPath(): string {
  const entry = createRequire(import.meta.url).resolve('@anthropic-ai/sandbox-runtime');
  return join(dirname(entry), 'cli.js');
}

/** A credential the sandbox sees only as a sentinel, swapped back on egress to its hosts. */
export interface MaskedVariable {
  name: string;
  injectHosts: string[];
}

export interface SandboxPolicy {
  /** The worker's own directory: the only place it may write. */
  writableDirs: string[];
  /** Host paths the worker may not read (home, keys, the project's .env, other workers). */
  denyRead: string[];
  /** Read carve-outs inside denied paths (the worker's own directory). */
  allowRead: string[];
  /** Hosts the worker may reach; everything else is refused by the runtime's proxy. */
  allowedDomains: string[];
  masked: MaskedVariable[];
}

/**
 * The settings file of `srt` for one worker. TLS is terminated in the runtime's proxy so a
 * masked variable's real value is only ever injected into a verified TLS connection to one of
 * its hosts; the sandbox holds a per-run sentinel.
 */
export function sandboxSettings(policy: SandboxPolicy): Record<string, unknown> {
  return {
    network: {
      allowedDomains: policy.allowedDomains,
      deniedDomains: [],
      tlsTerminate: {},
    },
    filesystem: {
      denyRead: policy.denyRead,
      allowRead: policy.allowRead,
      allowWrite: policy.writableDirs,
      denyWrite: [],
    },
    credentials: {
      envVars: policy.masked.map((variable) => ({
        name: variable.name,
        mode: 'mask',
        injectHosts: variable.injectHosts,
      })),
    },
  };
}
