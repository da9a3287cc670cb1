import type { BreakerReading, LatencySummary } from '@cma-fleet/shared';
import type { WorkerView } from './workers-view.js';

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export interface StatusPageData {
  workers: WorkerView[];
  /** Job counts by state, per queue name. */
  queues: Record<string, Record<string, number>>;
  breaker: BreakerReading;
  latency: LatencySummary | undefined;
  signingKeyConfigured: boolean;
  /** Where the dashboard is, relative to the page. */
  dashboardPath: string;
}

/** How many failed workers the page lists. */
const FAILURES_SHOWN = 20;

/**
 * The operator's one-page view: live workers, recent failures with their reason, queue depth,
 * the provider breaker and spawn latency. Refreshes itself every 5 s.
 */
export function renderStatusPage(data: StatusPageData): string {
  const live = data.workers.filter((w) => w.status === 'running' || w.status === 'provisioning');
  const failures = data.workers.filter((w) => w.status === 'failed').slice(0, FAILURES_SHOWN);
  const warning = data.signingKeyConfigured
    ? ''
    : '<p class="failed">ANTHROPIC_WEBHOOK_SIGNING_KEY is not set: every delivery is refused ' +
      '(503).</p>';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="5">
<title>CMA worker fleet</title>
<style>
body{font:14px system-ui,sans-serif;margin:2rem;color:#222}table{border-collapse:collapse}
td,th{padding:.3rem .8rem;border-bottom:1px solid #ddd;text-align:left}
.running,.closed{color:#1a7f37}.failed,.open{color:#c62828}.provisioning,.half-open{color:#9a6700}
.exited{color:#666}.tiles span{display:inline-block;margin-right:1.5rem}
</style></head><body>
<h1>CMA worker fleet</h1>
${warning}
<h2>Queues</h2>
${queueLines(data.queues)}
<p class="tiles">${breakerLine(data.breaker)} ${latencyLine(data.latency)}</p>
<h2>Live workers (${live.length})</h2>
${workerTable(live, 'no live worker')}
<h2>Recent failures (${failures.length})</h2>
${failureTable(failures)}
<h2>All recent workers (${data.workers.length})</h2>
${workerTable(data.workers, 'none yet')}
<p>Dashboard: <a href="${data.dashboardPath}">${data.dashboardPath}</a>
· JSON: <a href="workers">/workers</a> · metrics: <a href="metrics">/metrics</a></p>
</body></html>`;
}

function queueLines(queues: Record<string, Record<string, number>>): string {
  return Object.entries(queues)
    .map(([name, counts]) => {
      const states = Object.entries(counts)
        .map(([state, count]) => `<span>${state}: <b>${count}</b></span>`)
        .join(' · ');
      return `<p id="queue-${escapeHtml(name)}"><b>${escapeHtml(name)}</b>: ${states}</p>`;
    })
    .join('\n');
}

function breakerLine(breaker: BreakerReading): string {
  const note = breaker.published ? '' : ' (none published)';
  return `<span>Provider breaker: <b class="${breaker.state}">${breaker.state}</b>${note}</span>`;
}

function latencyLine(latency: LatencySummary | undefined): string {
  if (!latency) return '<span>Spawn latency: no sample yet</span>';
  const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
  return (
    `<span>Spawn latency (last ${latency.count}): p50 <b>${s(latency.p50)}</b> · ` +
    `p90 <b>${s(latency.p90)}</b> · p99 <b>${s(latency.p99)}</b> · max ${s(latency.max)}</span>`
  );
}

function workerTable(workers: WorkerView[], empty: string): string {
  const rows = workers
    .map(
      (w) =>
        `<tr><td>${escapeHtml(w.session_id)}</td><td class="${w.status}">${w.status}</td>` +
        `<td>${escapeHtml(w.vm_id ?? '')}</td><td>${w.age_seconds}s</td>` +
        `<td>${escapeHtml(w.updated_at)}</td></tr>`,
    )
    .join('\n');
  return `<table><thead><tr><th>session</th><th>status</th><th>VM</th><th>age</th><th>updated</th>
</tr></thead><tbody>
${rows || `<tr><td colspan="5">${empty}</td></tr>`}
</tbody></table>`;
}

function failureTable(failures: WorkerView[]): string {
  const rows = failures
    .map(
      (w) =>
        `<tr><td>${escapeHtml(w.session_id)}</td><td>${escapeHtml(w.updated_at)}</td>` +
        `<td>${w.attempts ?? ''}</td><td class="failed">${escapeHtml(w.error ?? '')}</td></tr>`,
    )
    .join('\n');
  return `<table><thead><tr><th>session</th><th>when</th><th>attempts</th><th>reason</th></tr>
</thead><tbody>
${rows || '<tr><td colspan="4">none</td></tr>'}
</tbody></table>`;
}
