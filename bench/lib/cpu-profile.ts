import { readFileSync } from 'node:fs';
import { printTable } from './results.js';

/** The parts of a V8 .cpuprofile this reads. */
interface CpuProfile {
  nodes: Array<{
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
    children?: number[];
  }>;
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** CLOCK_MONOTONIC in microseconds: the clock of V8's profile timestamps on Linux. */
export const monotonicUs = () => Number(process.hrtime.bigint() / 1000n);

export interface ProfileRow {
  name: string;
  /** Share of the non-idle samples, in percent. */
  percent: number;
}

export interface ProfileSummary {
  /** Non-idle samples in the window. */
  samples: number;
  /** Self time grouped by where the code lives (package, Node subsystem, our file). */
  byArea: ProfileRow[];
  /**
   * Each sample charged to the innermost layer on its stack (logging, Redis and the queue,
   * signature check, the Express stack), else to where its code lives: what each layer costs
   * with everything it calls, socket writes included.
   */
  byLayer: ProfileRow[];
  /** Self time of single functions. */
  topSelf: ProfileRow[];
  /** Time spent in a function and everything it called. */
  topInclusive: ProfileRow[];
}

/**
 * Reads a profile and sums the samples taken between `fromUs` and `toUs` (CLOCK_MONOTONIC
 * microseconds, the clock V8 and process.hrtime share on Linux), so start-up is left out.
 */
export function summarizeProfile(file: string, fromUs: number, toUs: number): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) {
    for (const child of node.children ?? []) parent.set(child, node.id);
  }
  const counts = new Map<number, number>();
  let at = profile.startTime;
  profile.samples.forEach((id, i) => {
    at += profile.timeDeltas[i] ?? 0;
    if (at >= fromUs && at <= toUs) counts.set(id, (counts.get(id) ?? 0) + 1);
  });
  const frameKey = (id: number) => {
    const frame = byId.get(id)?.callFrame;
    return frame
      ? `${frame.functionName || '(anonymous)'} ${shortUrl(frame.url)}:${frame.lineNumber + 1}`
      : '?';
  };
  const area = new Map<string, number>();
  const layer = new Map<string, number>();
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let total = 0;
  for (const [id, count] of counts) {
    const frame = byId.get(id)?.callFrame;
    if (!frame || frame.functionName === '(idle)') continue;
    total += count;
    add(area, areaOf(frame.functionName, frame.url), count);
    add(layer, innermostLayer(id, byId, parent) ?? areaOf(frame.functionName, frame.url), count);
    add(self, frameKey(id), count);
    // Each function on the stack once, however deep the recursion.
    const seen = new Set<string>();
    for (let node: number | undefined = id; node !== undefined; node = parent.get(node)) {
      const key = frameKey(node);
      if (!seen.has(key)) add(inclusive, key, count);
      seen.add(key);
    }
  }
  const rows = (map: Map<string, number>, limit: number) =>
    [...map]
      .sort((a, b) => b[1] - a[1])
      .slice(0, limit)
      .map(([name, count]) => ({ name, percent: Math.round((count / total) * 1000) / 10 }));
  return {
    samples: total,
    byArea: rows(area, 20),
    byLayer: rows(layer, 15),
    topSelf: rows(self, 25),
    topInclusive: rows(inclusive, 40),
  };
}

/** The layers a webhook delivery passes through, by the packages that implement them. */
const LAYERS: Array<[string, RegExp]> = [
  [
    'logging (pino, scrubbing)',
    /^(pino|sonic-boom|fast-redact|thread-stream)$|^packages\/shared:logger/,
  ],
  [
    'Redis and queue (ioredis, bullmq)',
    /^(ioredis|bullmq|redis-parser|msgpackr|cluster-key-slot)$/,
  ],
  ['signature check (standardwebhooks)', /^(standardwebhooks|fast-sha256|@stablelib\/base64)$/],
  [
    'Express stack (router, body-parser, res.json)',
    /^(express|router|body-parser|raw-body|type-is|content-type|etag|fresh|send|finalhandler|on-finished|iconv-lite|http-errors|statuses|parseurl|accepts|negotiator|mime-types)$/,
  ],
];

function layerOfFrame(frame: { functionName: string; url: string }): string | undefined {
  const where = areaOf(frame.functionName, frame.url);
  const key =
    where === 'packages/shared' && frame.url.includes('/logger.')
      ? 'packages/shared:logger'
      : where;
  return LAYERS.find(([, pattern]) => pattern.test(key))?.[0];
}

function innermostLayer(
  id: number,
  byId: Map<number, CpuProfile['nodes'][number]>,
  parent: Map<number, number>,
): string | undefined {
  for (let node: number | undefined = id; node !== undefined; node = parent.get(node)) {
    const frame = byId.get(node)?.callFrame;
    const found = frame ? layerOfFrame(frame) : undefined;
    if (found) return found;
  }
  return undefined;
}

function add(map: Map<string, number>, key: string, count: number): void {
  map.set(key, (map.get(key) ?? 0) + count);
}

function shortUrl(url: string): string {
  const modules = url.lastIndexOf('node_modules/');
  if (modules >= 0) return url.slice(modules + 'node_modules/'.length);
  const src = url.search(/(apps|packages)\/[^/]+\/src\//);
  return src >= 0 ? url.slice(src) : url.replace(/^file:\/\//, '');
}

/** Where a function's code lives: a package, a Node subsystem, our own source, or the VM. */
export function areaOf(functionName: string, url: string): string {
  if (url === '') return functionName.startsWith('(') ? functionName : `native ${functionName}`;
  const modules = url.match(/node_modules\/((?:@[^/]+\/)?[^/]+)\/(?!.*node_modules)/);
  if (modules?.[1]) return modules[1];
  const ours = url.match(/((?:apps|packages)\/[^/]+)\/src\//);
  if (ours?.[1]) return ours[1];
  const internal = url.match(/^node:(?:internal\/)?([^/]+)/);
  if (internal?.[1]) return `node:${internal[1]}`;
  return url;
}

/** Prints a profile's four tables; `who` names the process, `load` what it was under. */
export function printProfile(who: string, load: string, summary: ProfileSummary): void {
  const show = (title: string, rows: ProfileRow[]) =>
    printTable(
      title,
      rows.map((row) => ({ '%': row.percent, where: row.name })),
    );
  show(`${who} profile by layer (${summary.samples} samples, ${load})`, summary.byLayer);
  show(`${who} profile by area (self time)`, summary.byArea);
  show(`${who} profile: self time`, summary.topSelf);
  show(`${who} profile: inclusive time`, summary.topInclusive);
}
