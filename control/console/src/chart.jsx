// A live time-series chart on uPlot: canvas drawing, small, and made for data that updates every few
// seconds (setData redraws without rebuilding the chart).
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';

export const PALETTE = ['#2563eb', '#db2777', '#059669', '#d97706', '#7c3aed', '#0891b2', '#dc2626', '#4b5563'];

export function TimeChart({ title, labels, data, format, height = 180, testId, floor = 1 }) {
  const wrap = useRef(null);
  const plot = useRef(null);
  const key = labels.join('\u0000');

  useEffect(() => {
    const el = wrap.current;
    const width = Math.max(200, el.clientWidth);
    const opts = {
      width,
      height,
      // One series: the table above names it; several: the legend tells them apart (and reads out values on hover).
      legend: { show: labels.length > 1, live: true },
      cursor: { drag: { x: false, y: false }, points: { size: 6 } },
      scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max((max || 0) * 1.1, floor)] } },
      axes: [
        {
          stroke: '#64748b', grid: { stroke: '#eef2f6' }, ticks: { stroke: '#e2e8f0' }, font: '11px system-ui, sans-serif',
          space: 70,
          values: (u, vals) => {
            const span = (u.scales.x.max ?? 0) - (u.scales.x.min ?? 0);
            const opts = span < 300 ? { hour: '2-digit', minute: '2-digit', second: '2-digit' } : { hour: '2-digit', minute: '2-digit' };
            return vals.map((v) => new Date(v * 1000).toLocaleTimeString('en-GB', opts));
          },
        },
        {
          stroke: '#64748b', grid: { stroke: '#eef2f6' }, ticks: { show: false }, font: '11px system-ui, sans-serif',
          size: 64, values: (u, vals) => vals.map((v) => format(v)),
        },
      ],
      series: [
        { value: (u, v) => (v == null ? '—' : new Date(v * 1000).toLocaleTimeString('en-GB')) },
        ...labels.map((label, i) => ({
          label,
          stroke: PALETTE[i % PALETTE.length],
          width: 2,
          fill: labels.length === 1 ? `${PALETTE[0]}1a` : undefined,
          points: { show: false },
          spanGaps: true,
          value: (u, v) => (v == null ? '—' : format(v)),
        })),
      ],
    };
    plot.current = new uPlot(opts, data, el);
    const ro = new ResizeObserver(() => {
      const w = Math.max(200, el.clientWidth);
      if (plot.current && Math.abs(plot.current.width - w) > 2) plot.current.setSize({ width: w, height });
    });
    ro.observe(el);
    return () => { ro.disconnect(); plot.current?.destroy(); plot.current = null; };
  }, [key, height, floor]);

  useEffect(() => { plot.current?.setData(data); }, [data]);

  return (
    <figure class="chart" data-testid={testId}>
      <figcaption>{title}</figcaption>
      <div ref={wrap} class="chart-canvas" role="img" aria-label={`${title} over the last 15 minutes`} />
    </figure>
  );
}
