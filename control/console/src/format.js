// How numbers, sizes and times are shown to people.

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

export function bytes(n) {
  if (n === null || n === undefined || Number.isNaN(n)) return '—';
  let i = 0;
  let v = Math.abs(n);
  while (v >= 1024 && i < UNITS.length - 1) { v /= 1024; i++; }
  const digits = v >= 100 || i === 0 ? 0 : v >= 10 ? 1 : 2;
  return `${n < 0 ? '-' : ''}${v.toFixed(digits).replace(/\.0+$|(\.\d*[1-9])0+$/, '$1')} ${UNITS[i]}`;
}

/** Decimal units for rates, as storage people quote them (MB/s). */
export function rate(bps) {
  if (bps === null || bps === undefined) return '—';
  const u = ['B/s', 'kB/s', 'MB/s', 'GB/s'];
  let i = 0;
  let v = bps;
  while (v >= 1000 && i < u.length - 1) { v /= 1000; i++; }
  return `${v.toFixed(v >= 100 || i === 0 ? 0 : 1)} ${u[i]}`;
}

export function count(n) {
  if (n === null || n === undefined) return '—';
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  if (n >= 1e4) return `${(n / 1e3).toFixed(1)}k`;
  return Math.round(n).toLocaleString('en-US');
}

export function micros(us) {
  if (us === null || us === undefined) return '—';
  if (us >= 1000) return `${(us / 1000).toFixed(us >= 10000 ? 0 : 1)} ms`;
  return `${Math.round(us)} µs`;
}

export function percent(f) {
  return `${Math.round((f || 0) * 100)}%`;
}

export function dateTime(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  return d.toLocaleString('en-GB', { year: 'numeric', month: 'short', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

export function ago(iso) {
  if (!iso) return '—';
  const s = Math.round((Date.now() - Date.parse(iso)) / 1000);
  if (s < 5) return 'just now';
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return dateTime(iso);
}

const SIZE_UNITS = { MiB: 2 ** 20, GiB: 2 ** 30, TiB: 2 ** 40 };
export const sizeUnits = Object.keys(SIZE_UNITS);

/** "10" + "GiB" → bytes; null when it is not a positive number (the API is asked anyway, and says why). */
export function parseSize(amount, unit) {
  const v = Number(String(amount).trim());
  if (!String(amount).trim() || !Number.isFinite(v)) return null;
  return Math.round(v * SIZE_UNITS[unit]);
}

/** The largest unit in which the size is a whole-ish number, for prefilling a size field. */
export function splitSize(n) {
  for (const u of ['TiB', 'GiB', 'MiB']) {
    if (n >= SIZE_UNITS[u] && n % (SIZE_UNITS[u] / 4) === 0) return [String(n / SIZE_UNITS[u]), u];
  }
  return [String(n / SIZE_UNITS.MiB), 'MiB'];
}

/** UUIDs shortened to their first 8 digits; other IDs (pe-pool-1) are short already. */
export const shortId = (id) => (!id ? '—' : /^[0-9a-f]{8}-[0-9a-f]{4}-/i.test(id) ? String(id).slice(0, 8) : String(id));
