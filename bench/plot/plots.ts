import type { IngressRun } from '../scenarios/ingress.js';
import type { SpawnPoint } from '../scenarios/spawn-latency.js';
import { type ChartSeries, renderChart } from './svg-chart.js';

const COLORS = { ingress: '#c62828', baseline: '#1565c0', zero: '#2e7d32', slow: '#6a1b9a' };

/** Latency against offered load (closed-loop connections) for the ingress and the baseline. */
export function ingressLatencyChart(runs: IngressRun[]): string {
  const sweep = (target: IngressRun['target']) =>
    runs.filter((run) => run.target === target && run.kind === 'accepted' && run.mode === 'closed');
  const ingress = sweep('ingress');
  const baseline = sweep('baseline');
  const connections = ingress.map((run) => run.connections);
  const at = (list: IngressRun[], pick: (run: IngressRun) => number) =>
    connections.map((c) => {
      const run = list.find((candidate) => candidate.connections === c);
      return run ? pick(run) : Number.NaN;
    });
  const series: ChartSeries[] = [
    { name: 'ingress p99', values: at(ingress, (r) => r.latencyMs.p99), color: COLORS.ingress },
    {
      name: 'ingress p50',
      values: at(ingress, (r) => r.latencyMs.p50),
      color: COLORS.ingress,
      dashed: true,
    },
    { name: 'baseline p99', values: at(baseline, (r) => r.latencyMs.p99), color: COLORS.baseline },
    {
      name: 'baseline p50',
      values: at(baseline, (r) => r.latencyMs.p50),
      color: COLORS.baseline,
      dashed: true,
    },
  ];
  return renderChart({
    title: 'Webhook answer time against load (one core)',
    xLabel: 'concurrent connections (below: ingress / baseline answers per second)',
    yLabel: 'latency, ms (log scale)',
    xTicks: connections.map(String),
    notes: connections.map((_, i) => {
      const rates = [ingress[i], baseline[i]].map((run) => run?.answeredPerSecond ?? '-');
      return `${rates[0]} / ${rates[1]} /s`;
    }),
    series,
  });
}

/** Answer time against a steady offered rate (the paced open-loop runs), ingress and baseline. */
export function ingressPacedChart(runs: IngressRun[]): string {
  const paced = (target: IngressRun['target']) =>
    runs.filter((run) => run.target === target && run.kind === 'accepted' && run.mode === 'rate');
  const ingress = paced('ingress');
  const baseline = paced('baseline');
  const rates = ingress.map((run) => run.overallRate ?? 0);
  // The target rate runs more than once; rows pair up by position (the two took turns).
  const at = (list: IngressRun[], pick: (run: IngressRun) => number) =>
    rates.map((_, i) => {
      const run = list[i];
      return run ? pick(run) : Number.NaN;
    });
  const ticks = rates.map((rate, i) => {
    const round = rates.slice(0, i + 1).filter((r) => r === rate).length;
    return round === 1 ? String(rate) : `${rate} #${round}`;
  });
  const series: ChartSeries[] = [
    { name: 'ingress p99', values: at(ingress, (r) => r.latencyMs.p99), color: COLORS.ingress },
    {
      name: 'ingress p50',
      values: at(ingress, (r) => r.latencyMs.p50),
      color: COLORS.ingress,
      dashed: true,
    },
    { name: 'baseline p99', values: at(baseline, (r) => r.latencyMs.p99), color: COLORS.baseline },
    {
      name: 'baseline p50',
      values: at(baseline, (r) => r.latencyMs.p50),
      color: COLORS.baseline,
      dashed: true,
    },
  ];
  return renderChart({
    title: 'Webhook answer time at a steady rate (one core)',
    xLabel: 'deliveries per second, evenly paced (below: ingress / baseline % of their core)',
    yLabel: 'latency, ms (log scale)',
    xTicks: ticks,
    notes: rates.map((_, i) => {
      const cpu = [ingress[i], baseline[i]].map((run) => run?.cpu.percent.target ?? '-');
      return `${cpu[0]} / ${cpu[1]} %`;
    }),
    series,
  });
}

/** Spawn latency (delivery to create call, and to running) against new sessions per second. */
export function spawnLatencyChart(points: SpawnPoint[]): string {
  const rates = [...new Set(points.map((point) => point.rate))];
  const line = (delay: number, pick: (p: SpawnPoint) => number) =>
    rates.map((rate) => {
      const point = points.find((p) => p.createDelayMs === delay && p.rate === rate);
      return point ? pick(point) : Number.NaN;
    });
  return renderChart({
    title: 'Spawn latency against session arrival rate',
    xLabel: 'new sessions per second',
    yLabel: 'ms after the delivery arrived (log scale)',
    xTicks: rates.map(String),
    series: [
      {
        name: 'create call p99, 0 ms',
        values: line(0, (p) => p.toCreateMs.p99),
        color: COLORS.zero,
      },
      {
        name: 'create call p50, 0 ms',
        values: line(0, (p) => p.toCreateMs.p50),
        color: COLORS.zero,
        dashed: true,
      },
      {
        name: 'running p99, 200 ms',
        values: line(200, (p) => p.toRunningMs.p99),
        color: COLORS.slow,
      },
      {
        name: 'running p50, 200 ms',
        values: line(200, (p) => p.toRunningMs.p50),
        color: COLORS.slow,
        dashed: true,
      },
    ],
  });
}
