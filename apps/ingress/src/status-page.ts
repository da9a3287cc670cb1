import type { WorkerView } from './workers-view.js';

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export interface StatusPageData {
  workers: WorkerView[];
  queue: Record<string, number>;
  signingKeyConfigured: boolean;
}

/** A small self-refreshing HTML page: queue depth and the workers Redis knows of. */
export function renderStatusPage(data: StatusPageData): string {
  const rows = data.workers
    .map(
      (w) =>
        `<tr><td>${escapeHtml(w.session_id)}</td><td class="${w.status}">${w.status}</td>` +
        `<td>${escapeHtml(w.vm_id ?? '')}</td><td>${w.age_seconds}s</td>` +
        `<td>${escapeHtml(w.error ?? '')}</td></tr>`,
    )
    .join('\n');
  const queue = Object.entries(data.queue)
    .map(([state, count]) => `<span>${state}: <b>${count}</b></span>`)
    .join(' · ');
  const warning = data.signingKeyConfigured
    ? ''
    : '<p class="failed">ANTHROPIC_WEBHOOK_SIGNING_KEY is not set: every delivery is refused (503).</p>';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="5">
<title>CMA worker fleet</title>
<style>
body{font:14px system-ui,sans-serif;margin:2rem;color:#222}table{border-collapse:collapse}
td,th{padding:.3rem .8rem;border-bottom:1px solid #ddd;text-align:left}
.running{color:#1a7f37}.failed{color:#c62828}.provisioning{color:#9a6700}.exited{color:#666}
</style></head><body>
<h1>CMA worker fleet</h1>
${warning}
<p>Spawn queue: ${queue}</p>
<h2>Workers (${data.workers.length})</h2>
<table><thead><tr><th>session</th><th>status</th><th>VM</th><th>age</th><th>error</th></tr></thead>
<tbody>
${rows || '<tr><td colspan="5">none yet</td></tr>'}
</tbody></table>
<p>JSON: <a href="workers">/workers</a> · health: <a href="health">/health</a></p>
</body></html>`;
}
