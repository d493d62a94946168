// The map of places (Cytoscape.js): the scenario's places and their connections, who is where, a
// persona highlighted. The owner's map is the truth; a persona's map is what it believes. Loaded
// on demand (Cytoscape is the app's largest library).
import { useQuery } from "@tanstack/react-query";
import cytoscape from "cytoscape";
import { useEffect, useRef, useState } from "react";
import { Link } from "wouter";
import { api, unwrap } from "../api/client";
import { mapElements, placeOf, type MapOut } from "./mapModel";
import { Problem } from "./Problem";

function mapQuery(sessionId: string, pov: string | null, turn: number | null = null) {
  return {
    queryKey: ["map", sessionId, pov, turn],
    queryFn: () =>
      unwrap(
        api.GET("/api/v1/sessions/{session_id}/map", {
          params: { path: { session_id: sessionId }, query: pov ? { pov } : {} },
        }),
      ),
  };
}

/** The places as a graph; the highlighted persona's place stands out. */
export function MapGraph({ map, highlight, label }: { map: MapOut; highlight: string | null; label: string }) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!box.current) return;
    const cy = cytoscape({
      container: box.current,
      elements: mapElements(map, highlight),
      layout: { name: "cose", animate: false, nodeDimensionsIncludeLabels: true },
      autoungrabify: false,
      style: [
        {
          selector: "node",
          style: {
            label: "data(label)",
            "text-wrap": "wrap",
            "text-max-width": "140px",
            "font-size": 11,
            "text-valign": "bottom",
            "background-color": "#c9b79c",
            width: "mapData(here, 0, 8, 16, 40)",
            height: "mapData(here, 0, 8, 16, 40)",
          },
        },
        { selector: "node[?highlighted]", style: { "background-color": "#8a3b12", "border-width": 4, "border-color": "#e0a100", "font-weight": "bold" } },
        { selector: "edge", style: { width: 2, "line-color": "#a99", "curve-style": "bezier" } },
      ],
    });
    return () => cy.destroy();
  }, [map, highlight]);
  return <div ref={box} className="cy map" role="img" aria-label={label} />;
}

/** Who is where, as a table (what the graph shows, for every reader). */
export function WhoIsWhere({ map, highlight }: { map: MapOut; highlight: string | null }) {
  const povName = map.pov ? (map.places.flatMap((p) => p.occupants).find((o) => o.id === map.pov)?.name ?? map.pov) : null;
  return (
    <table className="where">
      <caption>Who is where after turn {map.turn}{povName ? ` (as ${povName} believes)` : ""}</caption>
      <thead>
        <tr>
          <th scope="col">Place</th>
          <th scope="col">Who is there</th>
          <th scope="col">Leads to</th>
        </tr>
      </thead>
      <tbody>
        {map.places.map((p) => (
          <tr key={p.id} data-place={p.id} className={highlight && p.occupants.some((o) => o.id === highlight) ? "here" : undefined}>
            <th scope="row">{p.name}</th>
            <td>
              {p.occupants.map((o, i) => (
                <span key={o.id}>
                  {i > 0 && ", "}
                  {o.id === highlight ? <mark>{o.name}</mark> : o.name}
                  {o.credence != null && <span className="credence"> (believed, {o.credence.toFixed(2)})</span>}
                </span>
              ))}
            </td>
            <td>{p.neighbours.map((n) => map.places.find((x) => x.id === n)?.name ?? n).join(", ")}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** A persona's map: its own place and where it believes the others are (owner, or its player). */
export function PlayerMap({ sessionId, agentId, turn }: { sessionId: string; agentId: string; turn: number | null }) {
  const q = useQuery(mapQuery(sessionId, agentId, turn));
  return (
    <section aria-labelledby="pmap-h" className="map-section">
      <h2 id="pmap-h">Your map</h2>
      <Problem error={q.error} title="Could not load the map" />
      {q.data && (
        <div className="map-body">
          <MapGraph map={q.data} highlight={agentId} label={`map of the places as ${agentId} believes them`} />
          <WhoIsWhere map={q.data} highlight={agentId} />
        </div>
      )}
    </section>
  );
}

/** The owner's map: the truth, with a persona highlighted (a played one, unless you pick another). */
export default function MapPage({ sessionId }: { sessionId: string }) {
  const q = useQuery(mapQuery(sessionId, null));
  const agents = useQuery({
    queryKey: ["agents", sessionId],
    queryFn: () => unwrap(api.GET("/api/v1/sessions/{session_id}/agents", { params: { path: { session_id: sessionId } } })),
  });
  const [picked, setPicked] = useState<string | null>(null);
  const highlight = picked ?? agents.data?.find((a) => a.player)?.id ?? null;
  const at = q.data && highlight ? placeOf(q.data, highlight) : null;
  return (
    <div className="map-page">
      <h1>Map</h1>
      <nav aria-label="story views" className="tabs">
        <Link href={`/sessions/${sessionId}`}>Story</Link>
        <Link href={`/sessions/${sessionId}/cast`}>Cast</Link>
        <Link href={`/sessions/${sessionId}/graph`}>Causal graph</Link>
      </nav>
      <Problem error={q.error ?? agents.error} title="Could not load the map" />
      <div className="controls">
        <label>
          Highlight
          <select value={highlight ?? ""} onChange={(e) => setPicked(e.target.value)}>
            <option value="">nobody</option>
            {agents.data?.map((a) => (
              <option key={a.id} value={a.id}>
                {a.name}
                {a.player ? ` (played by ${a.player})` : ""}
              </option>
            ))}
          </select>
        </label>
        {at && highlight && (
          <span role="status">
            {agents.data?.find((a) => a.id === highlight)?.name ?? highlight} is at {at.name}
          </span>
        )}
      </div>
      {q.data && (
        <div className="map-body">
          <MapGraph map={q.data} highlight={highlight} label="map of the places and who is where" />
          <WhoIsWhere map={q.data} highlight={highlight} />
        </div>
      )}
    </div>
  );
}
