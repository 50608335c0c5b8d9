import { test } from 'node:test';
import assert from 'node:assert/strict';
import { columns, latestTotals } from '../../src/perf.js';

const sample = (t, r, w, lat = 100) => ({
  time: new Date(Date.UTC(2026, 10, 24, 9, 0, t)).toISOString(),
  readIops: r, writeIops: w, readBytesPerSecond: r * 4096, writeBytesPerSecond: w * 4096, latencyMicros: lat,
});
const t0 = Date.UTC(2026, 10, 24, 9, 0, 0) / 1000;

test('series become columns on the union of their sample times, with gaps as null', () => {
  const series = [
    { kind: 'container', id: 'a', name: 'a', samples: [sample(0, 1, 0), sample(5, 2, 0)] },
    { kind: 'container', id: 'b', name: 'b', samples: [sample(5, 3, 0), sample(10, 4, 0)] },
  ];
  assert.deepEqual(columns(series, (p) => p.readIops), [[t0, t0 + 5, t0 + 10], [1, 2, null], [null, 3, 4]]);
});

test('totals add the latest sample of each container and weigh latency by IOPS', () => {
  const series = [
    { kind: 'container', id: 'a', name: 'a', samples: [sample(0, 9, 9), sample(5, 100, 0, 100)] },
    { kind: 'container', id: 'b', name: 'b', samples: [sample(5, 0, 300, 500)] },
    { kind: 'protocol_endpoint', id: 'p', name: 'p', samples: [sample(5, 1000, 1000, 1)] },
  ];
  const t = latestTotals(series);
  assert.equal(t.iops, 400);
  assert.equal(t.tput, 400 * 4096);
  assert.equal(t.lat, (100 * 100 + 300 * 500) / 400);
  assert.equal(t.any, true);
});

test('no samples, no totals', () => {
  assert.deepEqual(latestTotals([]), { iops: 0, tput: 0, lat: null, any: false });
  assert.equal(latestTotals([{ kind: 'container', id: 'a', name: 'a', samples: [sample(0, 0, 0)] }]).lat, null);
});
