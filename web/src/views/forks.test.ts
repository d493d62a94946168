import { describe, expect, it } from "vitest";
import { branchOf, forkTree } from "./forks";

const items = [
  { id: "a" },
  { id: "b" },
  { id: "a1", parent: { session_id: "a", turn: 2 } },
  { id: "a1x", parent: { session_id: "a1", turn: 3 } },
  { id: "a2", parent: { session_id: "a", turn: 1 } },
  { id: "orphan", parent: { session_id: "deleted", turn: 4 } },
];

describe("forkTree", () => {
  it("puts each fork under its parent, depth first, siblings in list order", () => {
    expect(forkTree(items).map((r) => [r.item.id, r.depth, r.forkedAt])).toEqual([
      ["a", 0, null],
      ["a1", 1, 2],
      ["a1x", 2, 3],
      ["a2", 1, 1],
      ["b", 0, null],
      ["orphan", 0, null],
    ]);
  });

  it("shows every session once even if the parents loop", () => {
    const loop = [
      { id: "x", parent: { session_id: "y", turn: 1 } },
      { id: "y", parent: { session_id: "x", turn: 1 } },
      { id: "z" },
    ];
    expect(forkTree(loop).map((r) => [r.item.id, r.depth])).toEqual([
      ["z", 0],
      ["x", 0],
      ["y", 1],
    ]);
  });
});

describe("branchOf", () => {
  it("gives the whole tree of a session, from its root", () => {
    expect(branchOf(items, "a1x").map((r) => r.item.id)).toEqual(["a", "a1", "a1x", "a2"]);
    expect(branchOf(items, "a").map((r) => r.item.id)).toEqual(["a", "a1", "a1x", "a2"]);
    expect(branchOf(items, "b").map((r) => r.item.id)).toEqual(["b"]);
    expect(branchOf(items, "nope")).toEqual([]);
  });
});
