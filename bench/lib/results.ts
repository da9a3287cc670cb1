import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { appRoot, benchRuntime, canPin, ensureDir, RESULTS_DIR, ROOT } from './processes.js';
import { redisVersion } from './redis.js';

/** What the numbers were measured on, written into every result. */
export function describeMachine() {
  const git = (...args: string[]) =>
    spawnSync('git', args, { cwd: ROOT, encoding: 'utf8' }).stdout?.trim() ?? '';
  const measuredTree = appRoot() === ROOT ? 'work tree' : `snapshot ${appRoot()}`;
  return {
    nproc: cpus().length,
    cpuModel: cpuModel(),
    node: process.version,
    redis: redisVersion(),
    runtime: benchRuntime(),
    pinned: canPin(),
    commit: git('rev-parse', '--short', 'HEAD'),
    measuredTree,
    // Edited files the work tree has over the commit (measured when running the work tree).
    dirtyAppFiles: git('status', '--porcelain', '--', 'apps', 'packages')
      .split('\n')
      .filter((line) => line !== '').length,
    at: new Date().toISOString(),
  };
}

function cpuModel(): string {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .find((candidate) => candidate.startsWith('model name'));
    return line?.split(':')[1]?.trim() ?? 'unknown';
  } catch {
    return cpus()[0]?.model ?? 'unknown';
  }
}

export function resultFile(name: string): string {
  return join(RESULTS_DIR, `${name}.json`);
}

export function writeResult(name: string, result: object): string {
  const file = resultFile(name);
  ensureDir(file);
  writeFileSync(file, `${JSON.stringify({ machine: describeMachine(), ...result }, null, 2)}\n`);
  return file;
}

export function readResult<T>(name: string): T {
  return JSON.parse(readFileSync(resultFile(name), 'utf8')) as T;
}

/** Prints rows as an aligned plain-text table (also valid Markdown). */
export function printTable(title: string, rows: Array<Record<string, string | number>>): void {
  const first = rows[0];
  if (!first) return;
  const columns = Object.keys(first);
  const cell = (row: Record<string, string | number>, column: string) => String(row[column] ?? '');
  const widths = columns.map((column) =>
    Math.max(column.length, ...rows.map((row) => cell(row, column).length)),
  );
  const line = (cells: string[]) =>
    `| ${cells.map((text, i) => text.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  const lines = [
    line(columns),
    `|${widths.map((width) => '-'.repeat(width + 2)).join('|')}|`,
    ...rows.map((row) => line(columns.map((column) => cell(row, column)))),
  ];
  process.stdout.write(`\n${title}\n\n${lines.join('\n')}\n`);
}
