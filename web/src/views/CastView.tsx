// The cast: where each persona is, its status, traits and player; a persona's beliefs with credence.
import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { Link } from "wouter";
import { api, unwrap, type AgentOut } from "../api/client";
import { Beliefs } from "./Beliefs";
import { Problem } from "./Problem";

function TruthLens({ sessionId, agent }: { sessionId: string; agent: AgentOut }) {
  const q = useQuery({
    queryKey: ["lens", sessionId, agent.id],
    queryFn: () =>
      unwrap(
        api.GET("/api/v1/sessions/{session_id}/agents/{agent_id}/truth-lens", {
          params: { path: { session_id: sessionId, agent_id: agent.id }, query: { limit: 50 } },
        }),
      ),
  });
  const wrong = q.data?.rows.filter((r) => r.matches === false).length ?? 0;
  return (
    <section aria-labelledby="lens-h" className="beliefs">
      <h2 id="lens-h">Truth vs belief: {agent.name}</h2>
      <Problem error={q.error} title="Could not load the lens" />
      {q.data && (
        <p>
          After turn {q.data.turn}: {wrong} of {q.data.rows.filter((r) => r.checkable).length} checkable beliefs are wrong.
        </p>
      )}
      {q.data && q.data.rows.length > 0 && (
        <table className="lens">
          <thead>
            <tr>
              <th scope="col">About</th>
              <th scope="col">Believes</th>
              <th scope="col">Credence</th>
              <th scope="col">True in the world</th>
              <th scope="col">Verdict</th>
            </tr>
          </thead>
          <tbody>
            {q.data.rows.map((r) => (
              <tr key={r.key} className={r.matches === false ? "wrong" : undefined}>
                <td>
                  <code>{r.key}</code>
                </td>
                <td>{JSON.stringify(r.believed)}</td>
                <td className="num">{r.credence.toFixed(2)}</td>
                <td>{r.checkable ? JSON.stringify(r.truth) : "(an opinion, not a fact)"}</td>
                <td>{r.matches === null ? "" : r.matches ? "right" : "wrong"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

export default function CastView({ sessionId }: { sessionId: string }) {
  const q = useQuery({
    queryKey: ["agents", sessionId],
    queryFn: () => unwrap(api.GET("/api/v1/sessions/{session_id}/agents", { params: { path: { session_id: sessionId } } })),
  });
  const [chosen, setChosen] = useState<string | null>(null);
  const [lens, setLens] = useState(false);
  const agent = q.data?.find((a) => a.id === chosen) ?? null;
  return (
    <div className="cast">
      <h1>Cast</h1>
      <nav aria-label="story views" className="tabs">
        <Link href={`/sessions/${sessionId}`}>Story</Link>
        <Link href={`/sessions/${sessionId}/map`}>Map</Link>
        <Link href={`/sessions/${sessionId}/graph`}>Causal graph</Link>
      </nav>
      <Problem error={q.error} title="Could not load the cast" />
      {q.data && (
        <table className="cast-list">
          <thead>
            <tr>
              <th scope="col">Persona</th>
              <th scope="col">Place</th>
              <th scope="col">Status</th>
              <th scope="col">Health</th>
              <th scope="col">Traits</th>
              <th scope="col">Player</th>
            </tr>
          </thead>
          <tbody>
            {q.data.map((a) => (
              <tr key={a.id} aria-selected={a.id === chosen}>
                <td>
                  <button type="button" className="link" onClick={() => setChosen(a.id)}>
                    {a.name}
                  </button>
                </td>
                <td>{a.location}</td>
                <td>{a.status}</td>
                <td className="num">{a.health.toFixed(2)}</td>
                <td>
                  {Object.entries(a.traits)
                    .map(([k, v]) => `${k} ${v.toFixed(2)}`)
                    .join(", ")}
                </td>
                <td>{a.player ?? ""}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {agent && (
        <>
          <p>
            <Link href={`/play/${sessionId}/${agent.id}`}>See the story as {agent.name} (their brief, map and point of view)</Link>
          </p>
          <label className="lens-toggle">
            <input type="checkbox" checked={lens} onChange={(e) => setLens(e.target.checked)} /> Truth vs belief lens
          </label>
          {lens ? <TruthLens sessionId={sessionId} agent={agent} /> : <Beliefs sessionId={sessionId} agentId={agent.id} name={agent.name} />}
        </>
      )}
    </div>
  );
}
