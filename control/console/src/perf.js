// Performance samples (GET /api/performance) → what the dashboard shows.

/** Performance series → uPlot's columns [times, series1, series2, ...], aligned on the union of times. */
export function columns(series, pick) {
  const times = new Set();
  for (const s of series) for (const p of s.samples) times.add(Math.round(Date.parse(p.time) / 1000));
  const xs = [...times].sort((a, b) => a - b);
  const index = new Map(xs.map((t, i) => [t, i]));
  const ys = series.map((s) => {
    const col = new Array(xs.length).fill(null);
    for (const p of s.samples) col[index.get(Math.round(Date.parse(p.time) / 1000))] = pick(p);
    return col;
  });
  return [xs, ...ys];
}

/** The latest sample of each container, summed: IOPS, bytes per second, and latency weighted by IOPS. */
export function latestTotals(series) {
  const latest = series.filter((s) => s.kind === 'container').map((s) => s.samples[s.samples.length - 1]).filter(Boolean);
  const iops = latest.reduce((a, p) => a + p.readIops + p.writeIops, 0);
  const tput = latest.reduce((a, p) => a + p.readBytesPerSecond + p.writeBytesPerSecond, 0);
  const lat = iops > 0 ? latest.reduce((a, p) => a + p.latencyMicros * (p.readIops + p.writeIops), 0) / iops : null;
  return { iops, tput, lat, any: latest.length > 0 };
}
