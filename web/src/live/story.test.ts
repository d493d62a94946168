import { describe, expect, it } from "vitest";
import type { TurnOut } from "../api/client";
import { applyFrame, applyTurns, chaptersInOrder, emptyStory, firstGap, type EventFrame } from "./story";

function turnFrames(turn: number, seq0: number): EventFrame[] {
  return [
    { type: "agent_action", seq: seq0, turn, event: { id: `e${turn}a`, turn, kind: "action", summary: `act ${turn}` } },
    { type: "narrative_update", seq: seq0 + 1, turn, prose: `Prose of turn ${turn}.` },
    { type: "turn_complete", seq: seq0 + 2, turn, tension: turn / 10 },
  ];
}

function turnOut(turn: number): TurnOut {
  return {
    turn,
    events: [{ id: `e${turn}a`, turn, kind: "action", summary: `act ${turn}` }],
    prose: `Prose of turn ${turn}.`,
    tension: turn / 10,
    coherence: 1,
    milestones: [],
    rejected: 0,
    repaired: 0,
    fallbacks: 0,
  };
}

describe("story state", () => {
  it("builds a chapter from its frames and shows it only once complete", () => {
    const [a, b, c] = turnFrames(1, 1);
    let s = applyFrame(applyFrame(emptyStory, a), b);
    expect(chaptersInOrder(s)).toHaveLength(0);
    s = applyFrame(s, c);
    const chs = chaptersInOrder(s);
    expect(chs).toHaveLength(1);
    expect(chs[0]).toMatchObject({ turn: 1, prose: "Prose of turn 1.", tension: 0.1, complete: true });
    expect(chs[0].events.map((e) => e.id)).toEqual(["e1a"]);
  });

  it("ignores frames replayed after a reconnection and turns already read over REST", () => {
    let s = applyTurns(emptyStory, [turnOut(1), turnOut(2)]);
    for (const f of [...turnFrames(2, 4), ...turnFrames(3, 7), ...turnFrames(3, 7)]) s = applyFrame(s, f);
    s = applyTurns(s, [turnOut(3)]);
    const chs = chaptersInOrder(s);
    expect(chs.map((c) => c.turn)).toEqual([1, 2, 3]);
    expect(chs[2].events).toHaveLength(1);
    expect(s.lastTurn).toBe(3);
  });

  it("reports the first missing turn below the newest", () => {
    let s = applyTurns(emptyStory, [turnOut(1)]);
    for (const f of turnFrames(3, 7)) s = applyFrame(s, f);
    expect(firstGap(s)).toBe(2);
    s = applyTurns(s, [turnOut(2)]);
    expect(firstGap(s)).toBeNull();
  });
});
