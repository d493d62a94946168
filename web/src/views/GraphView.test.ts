import { describe, expect, it } from "vitest";
import { filterGraph, type GraphData } from "./GraphView";

const g: GraphData = {
  nodes: [
    { id: "a", turn: 1, summary: "a", actor: "ada" },
    { id: "b", turn: 2, summary: "b", actor: "bo" },
    { id: "c", turn: 3, summary: "c", actor: "ada" },
  ],
  links: [
    { source: "a", target: "b" },
    { source: "b", target: "c" },
    { source: "a", target: "c" },
  ],
};

describe("filterGraph", () => {
  it("keeps the events in the turn range and only the links between kept events", () => {
    const f = filterGraph(g, 2, 3, "");
    expect(f.nodes.map((n) => n.id)).toEqual(["b", "c"]);
    expect(f.links).toEqual([{ source: "b", target: "c" }]);
  });

  it("filters by persona", () => {
    const f = filterGraph(g, 1, 3, "ada");
    expect(f.nodes.map((n) => n.id)).toEqual(["a", "c"]);
    expect(f.links).toEqual([{ source: "a", target: "c" }]);
  });
});
