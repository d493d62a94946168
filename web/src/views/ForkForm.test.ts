import { describe, expect, it } from "vitest";
import { forkBody } from "./ForkForm";

const base = { at: 3, seed: "", agent: "", action: "observe" as const, target: "" };

describe("forkBody", () => {
  it("sends only the turn when nothing else is chosen", () => {
    expect(forkBody(base)).toEqual({ body: { at_turn: 3 } });
  });

  it("sends a new seed and a player action for the fork's next turn", () => {
    expect(forkBody({ ...base, seed: " 42 ", agent: "ada", action: "move", target: " cellar " })).toEqual({
      body: { at_turn: 3, seed: 42, agent_actions: { ada: { action_type: "move", rationale: "", target: "cellar" } } },
    });
  });

  it("refuses a seed that is no whole number or too large for the page to send exactly", () => {
    for (const seed of ["-1", "1.5", "abc", "99999999999999999999"]) {
      expect(forkBody({ ...base, seed })).toHaveProperty("error");
    }
  });
});
