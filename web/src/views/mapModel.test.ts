import { describe, expect, it } from "vitest";
import { mapElements, placeOf, type MapOut } from "./mapModel";

const map: MapOut = {
  turn: 3,
  pov: null,
  places: [
    { id: "hall", name: "Hall", neighbours: ["yard", "cellar"], occupants: [{ id: "ada", name: "Ada", status: "active", credence: null }] },
    { id: "yard", name: "Yard", neighbours: ["hall"], occupants: [] },
    {
      id: "cellar",
      name: "Cellar",
      neighbours: ["hall", "nowhere"],
      occupants: ["bo", "cy", "di", "ed", "fa"].map((id) => ({ id, name: id.toUpperCase(), status: "active", credence: null })),
    },
  ],
};

describe("mapElements", () => {
  it("draws a node per place and each connection once", () => {
    const els = mapElements(map, null);
    const nodes = els.filter((e) => !("source" in e.data));
    const edges = els.filter((e) => "source" in e.data).map((e) => e.data.id);
    expect(nodes.map((n) => n.data.id)).toEqual(["hall", "yard", "cellar"]);
    expect(edges).toEqual(["road:hall|yard", "road:cellar|hall"]); // hall-yard listed twice; "nowhere" is no place
  });

  it("labels a place with who is there, a few names then a count", () => {
    const [hall, yard, cellar] = mapElements(map, null) as { data: { label: string; here: number } }[];
    expect(hall.data.label).toBe("Hall\nAda");
    expect(yard.data.label).toBe("Yard");
    expect(cellar.data.label).toBe("Cellar\nBO, CY, DI, ED, +1");
    expect(cellar.data.here).toBe(5);
  });

  it("flags the highlighted persona's place only", () => {
    const flagged = mapElements(map, "cy").filter((e) => "highlighted" in e.data && e.data.highlighted);
    expect(flagged.map((e) => e.data.id)).toEqual(["cellar"]);
    expect(mapElements(map, null).some((e) => "highlighted" in e.data && e.data.highlighted)).toBe(false);
  });

  it("marks believed places with a question mark", () => {
    const believed: MapOut = { ...map, pov: "ada", places: [{ ...map.places[1], occupants: [{ id: "bo", name: "Bo", credence: 0.6, status: null }] }] };
    expect((mapElements(believed, "ada")[0].data as { label: string }).label).toBe("Yard\nBo?");
    expect(placeOf(map, "ed")?.id).toBe("cellar");
    expect(placeOf(map, "zz")).toBeNull();
  });
});
