import { useQuery } from "@tanstack/react-query";
import { api, unwrap } from "../api/client";
import type { StoryEvent } from "../live/story";
import { Problem } from "./Problem";

/** One step of ``explain`` (novel_engine.core.causal_frontier.ExplanationStep). */
interface Cause {
  event_id: string;
  turn: number;
  summary: string;
  strength: number;
  depth: number;
}

/** The chain of causes behind one event, root causes first (``GET .../events/{id}/explain``). */
export function ExplainPanel({ sessionId, event, onClose }: { sessionId: string; event: StoryEvent; onClose(): void }) {
  const q = useQuery({
    queryKey: ["explain", sessionId, event.id],
    queryFn: () =>
      unwrap(
        api.GET("/api/v1/sessions/{session_id}/events/{event_id}/explain", {
          params: { path: { session_id: sessionId, event_id: event.id } },
        }),
      ),
  });
  const causes = ((q.data?.causes as Cause[] | undefined) ?? []).filter((c) => c.event_id !== event.id);
  return (
    <section className="explain" aria-labelledby="explain-h">
      <h2 id="explain-h">Why: {event.summary}</h2>
      <button type="button" onClick={onClose}>
        Close
      </button>
      <Problem error={q.error} title="Could not explain" />
      {q.isPending && <p>Tracing causes…</p>}
      {q.data && causes.length === 0 && <p>Nothing caused this: it is a root event.</p>}
      {causes.length > 0 && (
        <ol className="causes" aria-label="chain of causes">
          {causes.map((c, i) => (
            <li key={`${c.event_id}-${i}`}>
              <span className="turn">turn {c.turn}</span> {c.summary}{" "}
              <span className="turn">
                ({c.depth === 1 ? "direct cause" : `${c.depth} steps back`}, strength {c.strength.toFixed(2)})
              </span>
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}
