// The fork tree: which session was forked from which, at which turn. Pure, so Vitest checks it.

export interface ForkParent {
  session_id: string;
  turn: number;
}

export interface Forkable {
  id: string;
  parent?: ForkParent | null;
}

export interface TreeRow<T> {
  item: T;
  depth: number; // 0 for a root
  forkedAt: number | null; // the parent's turn this fork continues from (null for a root)
}

/** Every session in tree order: each root (no parent, or a parent not in ``items``) followed by its
 * forks, depth first; siblings keep the order of ``items``. */
export function forkTree<T extends Forkable>(items: T[]): TreeRow<T>[] {
  const ids = new Set(items.map((i) => i.id));
  const children = new Map<string, T[]>();
  const roots: T[] = [];
  for (const it of items) {
    const p = it.parent?.session_id;
    if (p && ids.has(p) && p !== it.id) {
      const list = children.get(p) ?? [];
      list.push(it);
      children.set(p, list);
    } else {
      roots.push(it);
    }
  }
  const out: TreeRow<T>[] = [];
  const seen = new Set<string>();
  const walk = (it: T, depth: number) => {
    if (seen.has(it.id)) return;
    seen.add(it.id);
    out.push({ item: it, depth, forkedAt: depth === 0 ? null : (it.parent?.turn ?? null) });
    for (const c of children.get(it.id) ?? []) walk(c, depth + 1);
  };
  for (const r of roots) walk(r, 0);
  for (const it of items) walk(it, 0); // only what a loop of parents kept out (a bad answer; never hang)
  return out;
}

/** The rows of the one tree that holds session ``id`` (its root and every descendant), or [] if absent. */
export function branchOf<T extends Forkable>(items: T[], id: string): TreeRow<T>[] {
  const rows = forkTree(items);
  const at = rows.findIndex((r) => r.item.id === id);
  if (at < 0) return [];
  let start = at;
  while (start > 0 && rows[start].depth > 0) start--;
  let end = start + 1;
  while (end < rows.length && rows[end].depth > 0) end++;
  return rows.slice(start, end);
}
