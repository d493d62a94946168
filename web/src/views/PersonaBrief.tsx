// A persona's own view (GET .../agents/{id}/view): where it stands, its state, goals and
// relationships, and the events it perceived. What its player may know, and nothing more.
import type { Schemas } from "../api/client";

type View = Schemas["PersonaViewOut"];

const signed = (x: number) => (x > 0 ? `+${x.toFixed(2)}` : x.toFixed(2));

export function PersonaBrief({ view }: { view: View }) {
  return (
    <section aria-labelledby="brief-h" className="brief">
      <h2 id="brief-h">{view.name}'s brief</h2>
      {view.description && <p className="sub">{view.description}</p>}
      <dl className="facts">
        <dt>Where</dt>
        <dd data-testid="brief-place">{view.location_name}</dd>
        <dt>Status</dt>
        <dd>
          {view.status}, health {view.health.toFixed(2)}
        </dd>
        <dt>After turn</dt>
        <dd>{view.turn}</dd>
      </dl>
      {view.goals.length > 0 && (
        <>
          <h3>Goals</h3>
          <ul aria-label="goals">
            {view.goals.map((g, i) => (
              <li key={i}>
                {g.text} <span className="hint">(priority {g.priority.toFixed(2)})</span>
              </li>
            ))}
          </ul>
        </>
      )}
      {view.relationships.length > 0 && (
        <>
          <h3>People you know</h3>
          <ul aria-label="relationships">
            {view.relationships.map((r) => (
              <li key={r.target}>
                {r.name}: trust {signed(r.trust)}, affinity {signed(r.affinity)}
              </li>
            ))}
          </ul>
        </>
      )}
      <h3>What you perceived</h3>
      {view.perceptions.length === 0 ? (
        <p>Nothing yet.</p>
      ) : (
        <ol aria-label="perceptions" className="perceptions">
          {view.perceptions.map((p) => (
            <li key={p.event_id} data-event={p.event_id}>
              <span className="turn">turn {p.turn}:</span> {p.summary}
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}
