import parsePrometheusTextFormat from 'parse-prometheus-text-format';

/** One sample of a parsed exposition: its labels and value (a histogram's count for histograms). */
export interface MetricSample {
  labels: Record<string, string>;
  value: number;
  /** Histograms only: the sum of observed values. */
  sum?: number;
}

/** Parses Prometheus text exposition into samples by family name, never by grepping lines. */
export function parseMetrics(text: string): Map<string, MetricSample[]> {
  const families = new Map<string, MetricSample[]>();
  for (const family of parsePrometheusTextFormat(text)) {
    families.set(
      family.name,
      family.metrics.map((sample) => ({
        labels: sample.labels ?? {},
        value: Number(sample.count ?? sample.value),
        sum: sample.sum === undefined ? undefined : Number(sample.sum),
      })),
    );
  }
  return families;
}

/** The value of the sample whose labels include every given pair; undefined when none. */
export function sampleValue(
  families: Map<string, MetricSample[]>,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  const sample = families
    .get(name)
    ?.find((s) => Object.entries(labels).every(([key, value]) => s.labels[key] === value));
  return sample?.value;
}
