// Playing a character: only that persona's side. Its brief (place, state, goals, what it
// perceived), its beliefs, its map, the story as it saw it, and its next action to queue. The API
// gives a player nothing else (the narrator's story, the cast and other personas answer 403).
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { lazy, Suspense, useState, type FormEvent } from "react";
import { Link } from "wouter";
import { api, unwrap, type Schemas } from "../api/client";
import { Beliefs } from "./Beliefs";
import { PersonaBrief } from "./PersonaBrief";
import { PovStory } from "./PovStory";
import { Problem } from "./Problem";

// the map needs Cytoscape: loaded after the brief and the beliefs are on screen
const PlayerMap = lazy(() => import("./MapView").then((m) => ({ default: m.PlayerMap })));

type ActionType = Schemas["Decision"]["action_type"];
const ACTIONS: ActionType[] = ["observe", "investigate", "move", "speak", "persuade", "help", "attack", "capture", "fight_fire", "hide", "flee", "rest"];

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
  const view = useQuery({
    queryKey: ["view", sessionId, agentId],
    queryFn: () =>
      unwrap(
        api.GET("/api/v1/sessions/{session_id}/agents/{agent_id}/view", {
          params: { path: { session_id: sessionId, agent_id: agentId }, query: { limit: 30 } },
        }),
      ),
    refetchInterval: 15_000, // the owner plays the turns: look again now and then
  });
  const turn = view.data?.turn ?? null;

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
        You see only what {view.data?.name ?? agentId} perceived and believes. <Link href="/">Back</Link>
      </p>
      <Problem error={view.error} title="Could not load your persona" />
      {view.data && <PersonaBrief view={view.data} />}
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
      <Beliefs sessionId={sessionId} agentId={agentId} name={agentId} turn={turn} />
      <Suspense fallback={<p>Loading the map…</p>}>
        <PlayerMap sessionId={sessionId} agentId={agentId} turn={turn} />
      </Suspense>
      <section aria-labelledby="pov-h" className="pov">
        <h2 id="pov-h">The story as {view.data?.name ?? agentId} saw it</h2>
        <PovStory sessionId={sessionId} pov={agentId} turn={turn} />
      </section>
    </div>
  );
}
