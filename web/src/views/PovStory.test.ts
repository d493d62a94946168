import { describe, expect, it } from "vitest";
import { povChapters } from "./PovStory";

describe("povChapters", () => {
  it("turns the API's POV turns into chapters in turn order, without events", () => {
    const got = povChapters([
      { turn: 2, prose: "Later.", tension: 0.4 },
      { turn: 1, prose: "First.", tension: 0.1 },
      { nonsense: true },
    ]);
    expect(got).toEqual([
      { turn: 1, prose: "First.", tension: 0.1, events: [], complete: true },
      { turn: 2, prose: "Later.", tension: 0.4, events: [], complete: true },
    ]);
  });
});
