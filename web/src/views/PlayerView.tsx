// Playing a character: only that persona's beliefs, and its next action to queue. The API gives a
// player nothing else (the story, the cast and other personas' beliefs answer 404).
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { Link } from "wouter";
import { api, unwrap, type Schemas } from "../api/client";
import { Beliefs } from "./Beliefs";
import { Problem } from "./Problem";

type ActionType = Schemas["Decision"]["action_type"];
const ACTIONS: ActionType[] = ["observe", "investigate", "move", "speak", "persuade", "help", "attack", "hide", "flee", "rest"];

export default function PlayerView({ sessionId, agentId }: { sessionId: string; agentId: string }) {
  const qc = useQueryClient();
  const [kind, setKind] = useState<ActionType>("observe");
  const [target, setTarget] = useState("");
  const [dialogue, setDialogue] = useState("");
  const queue = useMutation({
    mutationFn: (body: Schemas["Decision"]) =>
      unwrap(
        api.POST("/api/v1/sessions/{session_id}/agents/{agent_id}/actions", {
          params: { path: { session_id: sessionId, agent_id: agentId } },
          body,
        }),
      ),
    onSuccess: () => void qc.invalidateQueries({ queryKey: ["beliefs", sessionId, agentId] }),
  });

  function submit(e: FormEvent) {
    e.preventDefault();
    const body: Schemas["Decision"] = { action_type: kind, rationale: "" };
    if (target.trim()) body.target = target.trim();
    if (dialogue.trim()) body.dialogue = dialogue.trim();
    queue.mutate(body);
  }

  return (
    <div className="player">
      <h1>Playing {agentId}</h1>
      <p className="sub">
        You see only what {agentId} believes. <Link href="/">Back</Link>
      </p>
      <section aria-labelledby="act-h">
        <h2 id="act-h">Next action</h2>
        <form onSubmit={submit} aria-label="next action" className="controls">
          <label>
            Action
            <select value={kind} onChange={(e) => setKind(e.target.value as ActionType)}>
              {ACTIONS.map((a) => (
                <option key={a} value={a}>
                  {a}
                </option>
              ))}
            </select>
          </label>
          <label>
            Target
            <input value={target} onChange={(e) => setTarget(e.target.value)} placeholder="a place or persona id" maxLength={128} />
          </label>
          <label>
            Say
            <input value={dialogue} onChange={(e) => setDialogue(e.target.value)} maxLength={600} />
          </label>
          <button type="submit" disabled={queue.isPending}>
            Queue action
          </button>
        </form>
        {queue.data && (
          <p role="status">
            Queued: {queue.variables?.action_type} for turn {queue.data.for_turn}.
          </p>
        )}
        <Problem error={queue.error} title="The action was refused" />
      </section>
      <Beliefs sessionId={sessionId} agentId={agentId} name={agentId} />
    </div>
  );
}
