import { useQuery } from "@tanstack/react-query";
import { api, unwrap } from "../api/client";
import { Problem } from "./Problem";

/** A persona's leading beliefs with their credence (owner, or that persona's player). */
export function Beliefs({ sessionId, agentId, name, turn = null }: { sessionId: string; agentId: string; name: string; turn?: number | null }) {
  const q = useQuery({
    // the turn (when the caller knows it) refetches the beliefs once a new turn is played
    queryKey: ["beliefs", sessionId, agentId, turn],
    queryFn: () =>
      unwrap(
        api.GET("/api/v1/sessions/{session_id}/agents/{agent_id}/beliefs", {
          params: { path: { session_id: sessionId, agent_id: agentId }, query: { limit: 50 } },
        }),
      ),
  });
  return (
    <section aria-labelledby="beliefs-h" className="beliefs">
      <h2 id="beliefs-h">What {name} believes</h2>
      <Problem error={q.error} title="Could not load beliefs" />
      {q.data && q.data.beliefs.length === 0 && <p>No beliefs yet.</p>}
      {q.data && q.data.beliefs.length > 0 && (
        <table>
          <thead>
            <tr>
              <th scope="col">About</th>
              <th scope="col">Believes</th>
              <th scope="col">Credence</th>
            </tr>
          </thead>
          <tbody>
            {q.data.beliefs.map((b) => (
              <tr key={b.key}>
                <td>
                  <code>{b.key}</code>
                </td>
                <td>
                  {JSON.stringify(b.value)}
                  {b.contested ? " (contested)" : ""}
                </td>
                <td className="num">
                  <meter min={0} max={1} value={b.credence} aria-label={`credence ${b.credence.toFixed(2)}`} /> {b.credence.toFixed(2)}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
