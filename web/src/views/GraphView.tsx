// The causal graph (Cytoscape.js), filtered by a turn range and a persona; a node click explains it.
import { useQuery } from "@tanstack/react-query";
import cytoscape from "cytoscape";
import { useEffect, useMemo, useRef, useState } from "react";
import { Link } from "wouter";
import { api, unwrap } from "../api/client";
import type { StoryEvent } from "../live/story";
import { ExplainPanel } from "./ExplainPanel";
import { Problem } from "./Problem";

interface GNode {
  id: string;
  turn: number;
  summary: string;
  kind?: string;
  actor?: string | null;
}
interface GLink {
  source: string;
  target: string;
}

export interface GraphData {
  nodes: GNode[];
  links: GLink[];
}

/** The nodes within the turns [from, to] (and involving ``actor``, if given) and the links between them. */
export function filterGraph(g: GraphData, from: number, to: number, actor: string): GraphData {
  const nodes = g.nodes.filter((n) => n.turn >= from && n.turn <= to && (!actor || n.actor === actor));
  const keep = new Set(nodes.map((n) => n.id));
  return { nodes, links: g.links.filter((l) => keep.has(l.source) && keep.has(l.target)) };
}

export default function GraphView({ sessionId }: { sessionId: string }) {
  const q = useQuery({
    queryKey: ["graph", sessionId],
    queryFn: () =>
      unwrap(api.GET("/api/v1/sessions/{session_id}/causal-graph", { params: { path: { session_id: sessionId } } })) as Promise<unknown> as Promise<GraphData>,
  });
  const maxTurn = useMemo(() => Math.max(0, ...(q.data?.nodes ?? []).map((n) => n.turn)), [q.data]);
  const actors = useMemo(() => [...new Set((q.data?.nodes ?? []).map((n) => n.actor).filter((a): a is string => !!a))].sort(), [q.data]);
  const [from, setFrom] = useState(1);
  const [to, setTo] = useState<number | null>(null);
  const [actor, setActor] = useState("");
  const [picked, setPicked] = useState<StoryEvent | null>(null);
  const box = useRef<HTMLDivElement>(null);
  const shown = useMemo(() => (q.data ? filterGraph(q.data, from, to ?? maxTurn, actor) : null), [q.data, from, to, maxTurn, actor]);

  useEffect(() => {
    if (!box.current || !shown) return;
    const cy = cytoscape({
      container: box.current,
      elements: [
        ...shown.nodes.map((n) => ({ data: { id: n.id, label: `${n.turn}: ${n.summary}`, turn: n.turn, summary: n.summary } })),
        ...shown.links.map((l, i) => ({ data: { id: `e${i}`, source: l.source, target: l.target } })),
      ],
      layout: { name: "breadthfirst", directed: true, spacingFactor: 1.1 },
      style: [
        { selector: "node", style: { label: "data(label)", "font-size": 8, "text-wrap": "ellipsis", "text-max-width": "120px", "background-color": "#8a3b12", width: 12, height: 12 } },
        { selector: "edge", style: { width: 1, "line-color": "#999", "target-arrow-color": "#999", "target-arrow-shape": "triangle", "curve-style": "bezier" } },
      ],
    });
    cy.on("tap", "node", (ev) => {
      const d = ev.target.data();
      setPicked({ id: d.id, turn: d.turn, kind: "", summary: d.summary });
    });
    return () => cy.destroy();
  }, [shown]);

  return (
    <div className="graph">
      <h1>Causal graph</h1>
      <nav aria-label="story views" className="tabs">
        <Link href={`/sessions/${sessionId}`}>Story</Link>
        <Link href={`/sessions/${sessionId}/cast`}>Cast</Link>
        <Link href={`/sessions/${sessionId}/map`}>Map</Link>
      </nav>
      <Problem error={q.error} title="Could not load the graph" />
      <div className="controls" role="group" aria-label="filter">
        <label>
          From turn
          <input type="number" min={1} max={maxTurn || 1} value={from} onChange={(e) => setFrom(Number(e.target.value))} />
        </label>
        <label>
          To turn
          <input type="number" min={1} max={maxTurn || 1} value={to ?? maxTurn} onChange={(e) => setTo(Number(e.target.value))} />
        </label>
        <label>
          Persona
          <select value={actor} onChange={(e) => setActor(e.target.value)}>
            <option value="">everyone</option>
            {actors.map((a) => (
              <option key={a} value={a}>
                {a}
              </option>
            ))}
          </select>
        </label>
        {shown && (
          <span role="status">
            {shown.nodes.length} events, {shown.links.length} links
          </span>
        )}
      </div>
      <div className="graph-body">
        <div ref={box} className="cy" role="img" aria-label="causal graph of the selected events" />
        {picked && <ExplainPanel sessionId={sessionId} event={picked} onClose={() => setPicked(null)} />}
      </div>
    </div>
  );
}
