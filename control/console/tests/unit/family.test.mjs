import { test } from 'node:test';
import assert from 'node:assert/strict';
import { familyTree } from '../../src/family.js';

const vol = (id, name, extra = {}) => ({ id, name, snapshot: false, parentId: null, bindings: [], ...extra });
const base = vol('v', 'web');
const snapB = vol('s2', 'web-b', { snapshot: true, parentId: 'v' });
const snapA = vol('s1', 'web-a', { snapshot: true, parentId: 'v' });
const clone = vol('c', 'web-clone', { parentId: 's1' });
const cloneSnap = vol('cs', 'web-clone-snap', { snapshot: true, parentId: 'c' });
const stranger = vol('x', 'other');
const all = [base, snapB, snapA, clone, cloneSnap, stranger];

const shape = (n) => [n.volume.name, n.kind, n.children.map(shape)];

test('a volume heads its snapshots, and a snapshot its clones', () => {
  assert.deepEqual(shape(familyTree(base, all)), ['web', 'volume', [
    ['web-a', 'snapshot', [['web-clone', 'clone', [['web-clone-snap', 'snapshot', []]]]]],
    ['web-b', 'snapshot', []],
  ]]);
});

test('from a clone, the tree still starts at the oldest ancestor', () => {
  assert.equal(familyTree(clone, all).volume.id, 'v');
  assert.equal(familyTree(cloneSnap, all).volume.id, 'v');
});

test('snapshots come before clones under a volume', () => {
  const child = vol('c2', 'aaa-clone', { parentId: 'v' });
  assert.deepEqual(familyTree(base, [...all, child]).children.map((c) => c.volume.name), ['web-a', 'web-b', 'aaa-clone']);
});

test('a volume alone has no children; a parent outside the list ends the walk up', () => {
  assert.deepEqual(familyTree(stranger, all).children, []);
  const orphan = vol('o', 'orphan', { parentId: 'gone' });
  assert.equal(familyTree(orphan, all).volume.id, 'o');
});

test('a parentId cycle does not loop', () => {
  const a = vol('a', 'a', { parentId: 'b' });
  const b = vol('b', 'b', { parentId: 'a', snapshot: true });
  const tree = familyTree(a, [a, b]);
  assert.ok(['a', 'b'].includes(tree.volume.id));
});
