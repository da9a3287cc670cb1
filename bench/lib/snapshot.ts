import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './processes.js';

/**
 * A copy of the committed tree (HEAD) to run the apps from, so a measurement is of code that
 * exists in a commit and not of a work tree several people are editing. Made once per commit
 * under the system's temp directory; the installed packages are shared with the work tree
 * (each package's own node_modules holds relative links, copied as they are).
 */
export function snapshotOfHead(): { dir: string; commit: string } {
  return snapshotOf('HEAD');
}

/** The same for any commit (`BENCH_AT=<commit> pnpm bench …`: an earlier commit, for an A/B). */
export function snapshotOf(rev: string): { dir: string; commit: string } {
  const commit = execFileSync('git', ['rev-parse', '--short', rev], { cwd: ROOT })
    .toString()
    .trim();
  const dir = join(tmpdir(), `cma-fleet-bench-${commit}`);
  if (existsSync(join(dir, 'package.json'))) return { dir, commit };
  mkdirSync(dir, { recursive: true });
  const archive = execFileSync('git', ['archive', '--format=tar', commit], {
    cwd: ROOT,
    maxBuffer: 512 * 1024 * 1024,
  });
  execFileSync('tar', ['-x', '-C', dir], { input: archive });
  linkRootModules(dir);
  for (const group of ['apps', 'packages']) {
    for (const name of readdirSync(join(ROOT, group))) {
      const modules = join(ROOT, group, name, 'node_modules');
      const target = join(dir, group, name, 'node_modules');
      if (existsSync(modules) && existsSync(join(dir, group, name))) {
        cpSync(modules, target, { recursive: true, verbatimSymlinks: true });
      }
    }
  }
  return { dir, commit };
}

/**
 * The root node_modules as links to the work tree's, except the workspace packages, which must
 * resolve to the snapshot's own copies.
 */
function linkRootModules(dir: string): void {
  const modules = join(dir, 'node_modules');
  mkdirSync(join(modules, '@cma-fleet'), { recursive: true });
  for (const name of readdirSync(join(ROOT, 'node_modules'))) {
    if (name !== '@cma-fleet') symlinkSync(join(ROOT, 'node_modules', name), join(modules, name));
  }
  for (const group of ['apps', 'packages']) {
    for (const name of readdirSync(join(dir, group))) {
      symlinkSync(join('..', '..', group, name), join(modules, '@cma-fleet', name));
    }
  }
}
