// The story: chapters arriving live over the socket, play controls, the tension curve beside it,
// explain-an-event, and the Markdown export. Long stories render through a virtualised list.
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { lazy, Suspense, useMemo, useRef, useState } from "react";
import { Link } from "wouter";
import { useAuth } from "../api/auth";
import { api, getText, unwrap } from "../api/client";
import { chaptersInOrder, type StoryEvent } from "../live/story";
import { useStory } from "../live/useStory";
import { ChapterList } from "./ChapterList";
import { Branches } from "./Branches";
import { ExplainPanel } from "./ExplainPanel";
import { ForkForm } from "./ForkForm";
import { PovStory } from "./PovStory";
import { Problem } from "./Problem";
import { sessionQuery } from "./Sessions";

const TensionChart = lazy(() => import("./TensionChart"));

const STATUS_TEXT = {
  connecting: "connecting…",
  live: "live",
  reconnecting: "connection lost: reconnecting…",
  failed: "not connected",
} as const;

export default function StoryView({ sessionId }: { sessionId: string }) {
  const { auth } = useAuth();
  const qc = useQueryClient();
  const session = useQuery(sessionQuery(sessionId));
  const live = useStory(sessionId, auth?.token ?? null);
  const chapters = useMemo(() => chaptersInOrder(live.story), [live.story]);
  const [count, setCount] = useState(5);
  const [playing, setPlaying] = useState<{ done: number; of: number } | null>(null);
  const [playError, setPlayError] = useState<unknown>(null);
  const [exportError, setExportError] = useState<unknown>(null);
  const [explained, setExplained] = useState<StoryEvent | null>(null);
  const stopRef = useRef(false);
  const [pov, setPov] = useState(""); // "": the narrator's story; else a persona's point of view

  async function play(n: number) {
    stopRef.current = false;
    setPlayError(null);
    setPlaying({ done: 0, of: n });
    try {
      for (let i = 0; i < n && !stopRef.current; i++) {
        const turn = await unwrap(
          api.POST("/api/v1/sessions/{session_id}/turns", { params: { path: { session_id: sessionId } }, body: {} }),
        );
        live.addTurns([turn]);
        setPlaying({ done: i + 1, of: n });
      }
    } catch (err) {
      setPlayError(err);
    } finally {
      setPlaying(null);
      void qc.invalidateQueries({ queryKey: ["session", sessionId] });
      void qc.invalidateQueries({ queryKey: ["sessions"] });
    }
  }

  async function exportMarkdown() {
    setExportError(null);
    try {
      const text = await getText(`/api/v1/sessions/${encodeURIComponent(sessionId)}/narrative?format=markdown`);
      const url = URL.createObjectURL(new Blob([text], { type: "text/markdown" }));
      const a = document.createElement("a");
      a.href = url;
      a.download = `${session.data?.name ?? sessionId}.md`;
      a.click();
      setTimeout(() => URL.revokeObjectURL(url), 1000);
    } catch (err) {
      setExportError(err);
    }
  }

  const points = chapters.map((c) => [c.turn, c.tension ?? 0] as const);
  if (session.isError) {
    return (
      <div className="story">
        <h1>Story</h1>
        <Problem error={session.error} title="Could not load the session" />
        <p>
          <Link href="/">Back to your stories</Link>
        </p>
      </div>
    );
  }
  return (
    <div className="story">
      <div className="story-head">
        <h1>{session.data?.name ?? "Story"}</h1>
        {session.data && (
          <p className="sub">
            {session.data.title} · seed {session.data.seed} · {session.data.llm} · {session.data.personas.length} personas
          </p>
        )}
        <nav aria-label="story views" className="tabs">
          <Link href="/">All stories</Link>
          <Link href={`/sessions/${sessionId}/cast`}>Cast</Link>
          <Link href={`/sessions/${sessionId}/map`}>Map</Link>
          <Link href={`/sessions/${sessionId}/graph`}>Causal graph</Link>
        </nav>
        <p className={`conn conn-${live.status}`} role="status" aria-live="polite">
          Connection: {STATUS_TEXT[live.status]}
          {live.statusDetail ? ` (${live.statusDetail})` : ""}
        </p>
      </div>
      <div className="controls" role="group" aria-label="play">
        <button type="button" onClick={() => void play(1)} disabled={!!playing}>
          Play one turn
        </button>
        <label>
          Turns
          <input type="number" min={1} max={100} value={count} onChange={(e) => setCount(Math.max(1, Number(e.target.value)))} />
        </label>
        <button type="button" onClick={() => void play(count)} disabled={!!playing}>
          Play {count} turns
        </button>
        <button type="button" onClick={() => (stopRef.current = true)} disabled={!playing}>
          Stop
        </button>
        <button type="button" onClick={() => void exportMarkdown()}>
          Export Markdown
        </button>
        {playing && (
          <span role="status">
            Playing {playing.done}/{playing.of}…
          </span>
        )}
      </div>
      <Problem error={playError} title="The turn failed" />
      <Problem error={exportError} title="Export failed" />
      <ForkForm sessionId={sessionId} lastTurn={live.story.lastTurn} personas={session.data?.personas ?? []} disabled={!!playing} />
      {live.error && <Problem error={new Error(live.error)} title="Could not load earlier turns" />}
      <div className="story-body">
        <section className="chapters" aria-label="chapters">
          <label className="pov-toggle">
            Tell the story as
            <select value={pov} onChange={(e) => setPov(e.target.value)}>
              <option value="">the narrator (everything)</option>
              {session.data?.personas.map((p) => (
                <option key={p.id} value={p.id}>
                  {p.name} (what they perceived)
                </option>
              ))}
            </select>
          </label>
          {pov ? (
            <PovStory sessionId={sessionId} pov={pov} turn={live.story.lastTurn} />
          ) : chapters.length === 0 ? (
            <p>No turns played yet. Press “Play one turn”.</p>
          ) : (
            <ChapterList chapters={chapters} onExplain={setExplained} />
          )}
        </section>
        <aside className="side">
          <section aria-labelledby="tension-h">
            <h2 id="tension-h">Tension</h2>
            <Suspense fallback={<p>Loading chart…</p>}>
              <TensionChart points={points} />
            </Suspense>
          </section>
          {explained && <ExplainPanel sessionId={sessionId} event={explained} onClose={() => setExplained(null)} />}
          <Branches sessionId={sessionId} />
        </aside>
      </div>
    </div>
  );
}
