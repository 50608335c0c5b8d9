// A volume's family, from parentId links: a snapshot's parent is the volume it was taken of, a clone's
// parent is the snapshot it came from.

/**
 * The tree that holds `volume`: from its oldest ancestor found in `all` down. Each node is
 * {volume, kind: 'volume' | 'snapshot' | 'clone', children}; under a node, snapshots come first, then
 * clones, each by name. A parentId cycle (which the API should never answer) stops the walk up.
 */
export function familyTree(volume, all) {
  const byId = new Map(all.map((x) => [x.id, x]));
  byId.set(volume.id, volume);
  let root = volume;
  const seen = new Set([root.id]);
  while (root.parentId && byId.has(root.parentId) && !seen.has(root.parentId)) {
    root = byId.get(root.parentId);
    seen.add(root.id);
  }
  const children = new Map();
  for (const x of byId.values()) {
    if (!x.parentId || x.id === root.id) continue;
    if (!children.has(x.parentId)) children.set(x.parentId, []);
    children.get(x.parentId).push(x);
  }
  const placed = new Set();
  const build = (v) => {
    placed.add(v.id);
    const under = (children.get(v.id) || [])
      .filter((c) => !placed.has(c.id))
      .sort((a, b) => (a.snapshot === b.snapshot ? a.name.localeCompare(b.name) : a.snapshot ? -1 : 1));
    return { volume: v, kind: kindOf(v), children: under.map(build) };
  };
  return build(root);
}

export function kindOf(v) {
  return v.snapshot ? 'snapshot' : v.parentId ? 'clone' : 'volume';
}
