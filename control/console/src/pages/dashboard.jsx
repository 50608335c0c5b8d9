import { useEffect, useMemo, useState } from 'preact/hooks';
import { api } from '../api.js';
import { usePoll, PageHeader, LoadError, Empty, StateBadge, Link } from '../components.jsx';
import { TimeChart, PALETTE } from '../chart.jsx';
import { columns, latestTotals } from '../perf.js';
import { bytes, rate, count, micros, percent } from '../format.js';

const POLL_MS = 5000;

export function Dashboard() {
  useEffect(() => { document.title = 'Dashboard · vvolgate'; }, []);
  const containers = usePoll(() => api.containers(), [], 15000);
  const perf = usePoll(() => api.performance(), [], POLL_MS);
  const alarms = usePoll(() => api.alarms(true), [], 15000);
  const [kind, setKind] = useState('container');

  const series = useMemo(() => (perf.data?.series || []).filter((s) => s.kind === kind), [perf.data, kind]);
  const all = perf.data?.series || [];
  const totals = useMemo(() => latestTotals(all), [perf.data]);
  const cap = (containers.data || []).reduce((a, c) => ({
    capacity: a.capacity + c.space.capacityBytes, used: a.used + c.space.usedBytes,
  }), { capacity: 0, used: 0 });

  const labels = series.map((s) => s.name);
  const iopsData = useMemo(() => columns(series, (p) => p.readIops + p.writeIops), [series]);
  const tputData = useMemo(() => columns(series, (p) => p.readBytesPerSecond + p.writeBytesPerSecond), [series]);
  const latData = useMemo(() => columns(series, (p) => p.latencyMicros), [series]);
  const activeAlarms = (alarms.data || []).filter((a) => !a.acknowledged);

  return (
    <>
      <PageHeader title="Dashboard" subtitle="Capacity and live performance of the appliance" />
      <LoadError error={containers.error || perf.error} />
      <section class="tiles" aria-label="Summary">
        <Tile label="Capacity used" value={containers.data ? percent(cap.capacity ? cap.used / cap.capacity : 0) : '—'}
          detail={`${bytes(cap.used)} of ${bytes(cap.capacity)}`} />
        <Tile label="IOPS now" value={totals.any ? count(totals.iops) : '—'} detail="read + write" testId="tile-iops" />
        <Tile label="Throughput now" value={totals.any ? rate(totals.tput) : '—'} detail="read + write" />
        <Tile label="Latency now" value={totals.lat != null ? micros(totals.lat) : '—'} detail="mean per command" />
        <Tile label="Open alarms" value={alarms.data ? String(activeAlarms.length) : '—'}
          tone={activeAlarms.length ? 'bad' : 'good'} detail={activeAlarms.length ? <Link href="/activity?tab=alarms">Review alarms</Link> : 'all clear'} />
      </section>

      <section class="card" aria-labelledby="cap-title">
        <h2 id="cap-title">Capacity per storage container</h2>
        {containers.data?.length === 0 && <Empty>No storage containers are configured.</Empty>}
        <div class="capacity-list">
          {(containers.data || []).map((c) => <Capacity key={c.id} container={c} />)}
        </div>
      </section>

      <section class="card" aria-labelledby="perf-title">
        <div class="card-head">
          <h2 id="perf-title">Performance, last 15 minutes</h2>
          <div class="segmented" role="group" aria-label="Show performance of">
            <button type="button" aria-pressed={kind === 'container'} onClick={() => setKind('container')}>Containers</button>
            <button type="button" aria-pressed={kind === 'protocol_endpoint'} onClick={() => setKind('protocol_endpoint')}>Protocol endpoints</button>
          </div>
        </div>
        <p class="muted small">Sampled every {perf.data?.intervalSeconds ?? '…'} s; refreshed every {POLL_MS / 1000} s.</p>
        {series.length === 0 && perf.data && <Empty>No samples yet.</Empty>}
        {series.length > 0 && (
          <>
            <div class="table-wrap">
            <table class="table perf-now" aria-label="Now">
              <thead><tr><th scope="col">{kind === 'container' ? 'Container' : 'Protocol endpoint'}</th><th scope="col" class="num">IOPS (r / w)</th><th scope="col" class="num">Throughput</th><th scope="col" class="num">Latency</th></tr></thead>
              <tbody>
                {series.map((s, i) => {
                  const p = s.samples[s.samples.length - 1];
                  const iops = p ? p.readIops + p.writeIops : 0;
                  return (
                    <tr key={s.id} data-testid={`perf-${s.kind}`} data-name={s.name} data-iops={iops}>
                      <th scope="row"><span class="swatch" style={{ background: PALETTE[i % PALETTE.length] }} aria-hidden="true" />{s.name}</th>
                      <td class="num"><strong class="perf-iops">{p ? count(iops) : '—'}</strong> <span class="muted hide-sm">{p ? `${count(p.readIops)} / ${count(p.writeIops)}` : ''}</span></td>
                      <td class="num">{p ? rate(p.readBytesPerSecond + p.writeBytesPerSecond) : '—'}</td>
                      <td class="num">{p ? micros(p.latencyMicros) : '—'}</td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
            </div>
            <div class="charts">
              <TimeChart title="IOPS" labels={labels} data={iopsData} format={count} testId="chart-iops" floor={10} />
              <TimeChart title="Throughput" labels={labels} data={tputData} format={rate} testId="chart-throughput" floor={1e6} />
              <TimeChart title="Latency" labels={labels} data={latData} format={micros} testId="chart-latency" floor={100} />
            </div>
          </>
        )}
      </section>
    </>
  );
}

function Tile({ label, value, detail, tone, testId }) {
  return (
    <div class={`tile${tone ? ` ${tone}` : ''}`} data-testid={testId}>
      <div class="tile-label">{label}</div>
      <div class="tile-value">{value}</div>
      <div class="tile-detail">{detail}</div>
    </div>
  );
}

function Capacity({ container: c }) {
  const s = c.space;
  const cap = Math.max(1, s.capacityBytes);
  const data = Math.max(0, s.usedBytes - s.snapshotBytes);
  const parts = [
    ['data', data, 'Volume data'],
    ['snap', s.snapshotBytes, 'Snapshots only'],
    ['reserved', s.reservedBytes || 0, 'Reserved (thick)'],
  ];
  const over = s.provisionedBytes / cap;
  return (
    <div class="capacity" data-testid="capacity" data-name={c.name}>
      <div class="capacity-head">
        <strong>{c.name}</strong>
        <span class="muted">{c.mirrored ? 'mirrored' : 'single device'}</span>
        {c.state && <StateBadge state={c.state} />}
        <span class="capacity-total">{bytes(s.freeBytes)} free of {bytes(s.capacityBytes)}</span>
      </div>
      <div class="meter" role="img" aria-label={`${c.name}: ${bytes(s.usedBytes)} used, ${bytes(s.snapshotBytes)} by snapshots, ${bytes(s.freeBytes)} free`}>
        {parts.map(([k, v]) => v > 0 && <div key={k} class={`meter-${k}`} style={{ width: `${Math.max(0.5, (v / cap) * 100)}%` }} />)}
      </div>
      <dl class="capacity-legend">
        <div><dt><span class="dot provisioned" />Provisioned</dt><dd>{bytes(s.provisionedBytes)} <span class="muted">({over < 10 ? `${percent(over)} of capacity` : `${count(over)}× capacity`})</span></dd></div>
        <div><dt><span class="dot data" />Used</dt><dd>{bytes(s.usedBytes)}</dd></div>
        <div><dt><span class="dot snap" />Snapshots</dt><dd>{bytes(s.snapshotBytes)}</dd></div>
        <div><dt><span class="dot free" />Free</dt><dd>{bytes(s.freeBytes)}</dd></div>
        <div><dt>Volumes</dt><dd>{s.volumes} <span class="muted">+ {s.snapshots} snapshots</span></dd></div>
      </dl>
    </div>
  );
}
