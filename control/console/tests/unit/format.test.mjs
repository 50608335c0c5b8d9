import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bytes, rate, count, micros, parseSize, splitSize, shortId } from '../../src/format.js';

test('sizes are shown in binary units with few digits', () => {
  assert.equal(bytes(0), '0 B');
  assert.equal(bytes(512), '512 B');
  assert.equal(bytes(1024), '1 KiB');
  assert.equal(bytes(1536), '1.5 KiB');
  assert.equal(bytes(2 ** 30), '1 GiB');
  assert.equal(bytes(519045120), '495 MiB');
  assert.equal(bytes(100 * 2 ** 40), '100 TiB');
  assert.equal(bytes(null), '—');
});

test('rates, counts and latencies read as storage people quote them', () => {
  assert.equal(rate(1_400_000), '1.4 MB/s');
  assert.equal(rate(0), '0 B/s');
  assert.equal(count(353.4), '353');
  assert.equal(count(12_100), '12.1k');
  assert.equal(count(2_500_000), '2.5M');
  assert.equal(micros(180.2), '180 µs');
  assert.equal(micros(2500), '2.5 ms');
  assert.equal(micros(25_000), '25 ms');
});

test('a size typed with a unit becomes bytes; what is not a number is refused', () => {
  assert.equal(parseSize('10', 'GiB'), 10 * 2 ** 30);
  assert.equal(parseSize(' 1.5 ', 'GiB'), 1.5 * 2 ** 30);
  assert.equal(parseSize('1.001', 'MiB'), 1049625);
  assert.equal(parseSize('', 'GiB'), null);
  assert.equal(parseSize('ten', 'GiB'), null);
});

test('a size is prefilled in the largest unit that keeps it readable', () => {
  assert.deepEqual(splitSize(2 ** 30), ['1', 'GiB']);
  assert.deepEqual(splitSize(64 * 2 ** 20), ['64', 'MiB']);
  assert.deepEqual(splitSize(1.5 * 2 ** 40), ['1.5', 'TiB']);
  assert.deepEqual(splitSize(3 * 2 ** 20 + 2 ** 19), ['3.5', 'MiB']);
});

test('UUIDs are shortened, other IDs kept', () => {
  assert.equal(shortId('2af99de4-db09-4ab5-a4aa-4338729d7b58'), '2af99de4');
  assert.equal(shortId('pe-pool-1'), 'pe-pool-1');
  assert.equal(shortId(null), '—');
});
