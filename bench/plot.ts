/**
 * `pnpm bench:plot`: draws docs/benchmarks/*.svg from the JSON results in bench/results (the
 * bench runs it too). Plain SVG written by hand: no browser, no plotting library.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './lib/processes.js';
import { readResult, resultFile } from './lib/results.js';
import { ingressLatencyChart, ingressPacedChart, spawnLatencyChart } from './plot/plots.js';
import type { IngressRun } from './scenarios/ingress.js';
import type { SpawnPoint } from './scenarios/spawn-latency.js';

export const PLOTS_DIR = join(ROOT, 'docs', 'benchmarks');

/** Writes every chart whose results exist; returns the files written. */
export function writePlots(): string[] {
  mkdirSync(PLOTS_DIR, { recursive: true });
  const written: string[] = [];
  if (existsSync(resultFile('ingress'))) {
    const { runs } = readResult<{ runs: IngressRun[] }>('ingress');
    written.push(write('ingress-latency.svg', ingressLatencyChart(runs)));
    written.push(write('ingress-paced.svg', ingressPacedChart(runs)));
  }
  if (existsSync(resultFile('spawn-latency'))) {
    const { points } = readResult<{ points: SpawnPoint[] }>('spawn-latency');
    written.push(write('spawn-latency.svg', spawnLatencyChart(points)));
  }
  return written;
}

function write(name: string, svg: string): string {
  const file = join(PLOTS_DIR, name);
  writeFileSync(file, svg);
  return file;
}

if (process.argv[1]?.endsWith('bench/plot.ts')) {
  for (const file of writePlots()) process.stdout.write(`wrote ${file}\n`);
}
