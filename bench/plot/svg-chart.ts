/** A line chart as a standalone SVG: categorical x positions, a log-scale y axis. */
export interface ChartSeries {
  name: string;
  /** One value per x position; NaN leaves a gap. */
  values: number[];
  color: string;
  dashed?: boolean;
}

export interface Chart {
  title: string;
  xLabel: string;
  yLabel: string;
  xTicks: string[];
  series: ChartSeries[];
  /** Text under each x position (e.g. the throughput reached there), per series index. */
  notes?: string[];
}

const WIDTH = 720;
const HEIGHT = 420;
const PAD = { left: 70, right: 180, top: 40, bottom: 70 };

const escapeXml = (text: string) => text.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);

/** Powers of ten covering every finite positive value. */
function logRange(values: number[]): [number, number] {
  const finite = values.filter((v) => Number.isFinite(v) && v > 0);
  const low = Math.floor(Math.log10(Math.min(...finite, 1)));
  const high = Math.ceil(Math.log10(Math.max(...finite, 10)));
  return [low, high === low ? low + 1 : high];
}

export function renderChart(chart: Chart): string {
  const plotW = WIDTH - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const [low, high] = logRange(chart.series.flatMap((s) => s.values));
  const x = (i: number) => PAD.left + (plotW * (i + 0.5)) / chart.xTicks.length;
  const y = (v: number) => PAD.top + plotH * (1 - (Math.log10(v) - low) / (high - low));
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" ` +
      `viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="12" role="img" ` +
      `aria-label="${escapeXml(chart.title)}">`,
    `<title>${escapeXml(chart.title)}</title>`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`,
    `<text x="${WIDTH / 2 - PAD.right / 2}" y="22" text-anchor="middle" font-size="15">` +
      `${escapeXml(chart.title)}</text>`,
  ];
  for (let power = low; power <= high; power += 1) {
    const value = 10 ** power;
    parts.push(
      `<line x1="${PAD.left}" x2="${PAD.left + plotW}" y1="${y(value)}" y2="${y(value)}" ` +
        'stroke="#ddd"/>',
      `<text x="${PAD.left - 8}" y="${y(value) + 4}" text-anchor="end">${value}</text>`,
    );
  }
  chart.xTicks.forEach((tick, i) => {
    parts.push(
      `<text x="${x(i)}" y="${PAD.top + plotH + 18}" text-anchor="middle">${escapeXml(tick)}</text>`,
    );
    const note = chart.notes?.[i];
    if (note) {
      parts.push(
        `<text x="${x(i)}" y="${PAD.top + plotH + 34}" text-anchor="middle" fill="#666" ` +
          `font-size="10">${escapeXml(note)}</text>`,
      );
    }
  });
  parts.push(
    `<rect x="${PAD.left}" y="${PAD.top}" width="${plotW}" height="${plotH}" fill="none" ` +
      'stroke="#888"/>',
    `<text x="${PAD.left + plotW / 2}" y="${HEIGHT - 12}" text-anchor="middle">` +
      `${escapeXml(chart.xLabel)}</text>`,
    `<text transform="translate(18 ${PAD.top + plotH / 2}) rotate(-90)" text-anchor="middle">` +
      `${escapeXml(chart.yLabel)}</text>`,
  );
  for (const [index, series] of chart.series.entries()) {
    parts.push(...seriesParts(series, index, x, y));
  }
  return `${parts.join('\n')}\n</svg>\n`;

  function seriesParts(
    series: ChartSeries,
    index: number,
    xOf: (i: number) => number,
    yOf: (v: number) => number,
  ): string[] {
    const points = series.values
      .map((value, i) => (Number.isFinite(value) && value > 0 ? `${xOf(i)},${yOf(value)}` : ''))
      .filter((point) => point !== '');
    const dash = series.dashed ? ' stroke-dasharray="6 4"' : '';
    const legendY = PAD.top + 10 + index * 20;
    const legendX = PAD.left + plotW + 16;
    return [
      `<polyline points="${points.join(' ')}" fill="none" stroke="${series.color}" ` +
        `stroke-width="2"${dash}/>`,
      ...points.map((point) => {
        const [cx, cy] = point.split(',');
        return `<circle cx="${cx}" cy="${cy}" r="3" fill="${series.color}"/>`;
      }),
      `<line x1="${legendX}" x2="${legendX + 24}" y1="${legendY}" y2="${legendY}" ` +
        `stroke="${series.color}" stroke-width="2"${dash}/>`,
      `<text x="${legendX + 30}" y="${legendY + 4}">${escapeXml(series.name)}</text>`,
    ];
  }
}
