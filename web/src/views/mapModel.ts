// The map as Cytoscape elements: a node per place (its name and who is there), an edge per
// connection (the scenario lists each one from both ends; it is drawn once). Pure, for Vitest.
import type { Schemas } from "../api/client";

export type MapOut = Schemas["MapOut"];
export type MapPlace = Schemas["MapPlace"];

export interface MapNode {
  data: { id: string; label: string; here: number; highlighted: boolean };
}
export interface MapEdge {
  data: { id: string; source: string; target: string };
}

const SHOWN = 4; // names on a place's label; the rest is "+N"

function who(o: Schemas["MapOccupant"]): string {
  return o.credence == null ? o.name : `${o.name}?`; // a belief, not the truth
}

/** Cytoscape's elements for ``map``; the place of persona ``highlight`` (if any) is flagged. */
export function mapElements(map: MapOut, highlight: string | null): (MapNode | MapEdge)[] {
  const places = new Set(map.places.map((p) => p.id));
  const nodes: MapNode[] = map.places.map((p) => {
    const names = p.occupants.slice(0, SHOWN).map(who);
    if (p.occupants.length > SHOWN) names.push(`+${p.occupants.length - SHOWN}`);
    return {
      data: {
        id: p.id,
        label: names.length ? `${p.name}\n${names.join(", ")}` : p.name,
        here: p.occupants.length,
        highlighted: !!highlight && p.occupants.some((o) => o.id === highlight),
      },
    };
  });
  const edges: MapEdge[] = [];
  const drawn = new Set<string>();
  for (const p of map.places) {
    for (const n of p.neighbours) {
      if (!places.has(n) || n === p.id) continue;
      const key = p.id < n ? `${p.id}|${n}` : `${n}|${p.id}`;
      if (drawn.has(key)) continue;
      drawn.add(key);
      edges.push({ data: { id: `road:${key}`, source: p.id, target: n } });
    }
  }
  return [...nodes, ...edges];
}

/** The place where persona ``id`` is (or is believed to be) on ``map``, or null. */
export function placeOf(map: MapOut, id: string): MapPlace | null {
  return map.places.find((p) => p.occupants.some((o) => o.id === id)) ?? null;
}
