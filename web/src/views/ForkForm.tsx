// What-if: fork the story at a turn, with a new seed and/or a player action for the fork's next turn.
import { useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { useLocation } from "wouter";
import { api, unwrap, type Schemas } from "../api/client";
import { Problem } from "./Problem";

type ActionType = Schemas["Decision"]["action_type"];
export const ACTIONS: ActionType[] = ["observe", "investigate", "move", "speak", "persuade", "help", "attack", "capture", "fight_fire", "hide", "flee", "rest"];

export interface ForkChoice {
  at: number;
  seed: string; // as typed; empty: the story's own seed
  agent: string; // empty: no player action
  action: ActionType;
  target: string;
}

/** The body of ``POST .../fork`` for the form's choices, or a message saying what to fix. */
export function forkBody(c: ForkChoice): { body: Schemas["ForkIn"] } | { error: string } {
  const body: Schemas["ForkIn"] = { at_turn: c.at };
  const seed = c.seed.trim();
  if (seed) {
    if (!/^\d+$/.test(seed) || !Number.isSafeInteger(Number(seed))) return { error: `the seed must be a whole number from 0 to ${Number.MAX_SAFE_INTEGER}` };
    body.seed = Number(seed);
  }
  if (c.agent) {
    const d: Schemas["Decision"] = { action_type: c.action, rationale: "" };
    if (c.target.trim()) d.target = c.target.trim();
    body.agent_actions = { [c.agent]: d };
  }
  return { body };
}

export function ForkForm({ sessionId, lastTurn, personas, disabled }: { sessionId: string; lastTurn: number; personas: Schemas["PersonaBrief"][]; disabled: boolean }) {
  const qc = useQueryClient();
  const [, navigate] = useLocation();
  const [at, setAt] = useState<number | null>(null);
  const [seed, setSeed] = useState("");
  const [agent, setAgent] = useState("");
  const [action, setAction] = useState<ActionType>("observe");
  const [target, setTarget] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setError(null);
    const made = forkBody({ at: at ?? lastTurn, seed, agent, action, target });
    if ("error" in made) {
      setError(new Error(made.error));
      return;
    }
    setBusy(true);
    try {
      const s = await unwrap(api.POST("/api/v1/sessions/{session_id}/fork", { params: { path: { session_id: sessionId } }, body: made.body }));
      void qc.invalidateQueries({ queryKey: ["sessions"] });
      qc.setQueryData(["session", s.id], s);
      navigate(`/sessions/${s.id}`);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  return (
    <form className="fork controls" aria-label="fork the story" onSubmit={(e) => void submit(e)}>
      <label>
        Fork at turn
        <input type="number" min={0} max={lastTurn} value={at ?? lastTurn} onChange={(e) => setAt(Number(e.target.value))} />
      </label>
      <label>
        New seed
        <input inputMode="numeric" value={seed} onChange={(e) => setSeed(e.target.value)} placeholder="the story's own" size={14} />
      </label>
      <label>
        Player action by
        <select value={agent} onChange={(e) => setAgent(e.target.value)}>
          <option value="">nobody</option>
          {personas.map((p) => (
            <option key={p.id} value={p.id}>
              {p.name}
            </option>
          ))}
        </select>
      </label>
      {agent && (
        <>
          <label>
            Fork action
            <select value={action} onChange={(e) => setAction(e.target.value as ActionType)}>
              {ACTIONS.map((a) => (
                <option key={a} value={a}>
                  {a}
                </option>
              ))}
            </select>
          </label>
          <label>
            Fork target
            <input value={target} onChange={(e) => setTarget(e.target.value)} placeholder="a place or persona id" maxLength={128} />
          </label>
        </>
      )}
      <button type="submit" disabled={disabled || busy}>
        Fork
      </button>
      <Problem error={error} title="Could not fork" />
    </form>
  );
}
