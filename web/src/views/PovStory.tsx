// The story as one persona saw it (GET .../narrative?pov=<persona>): its perceptions and beliefs
// only, misconceptions included. Shown in the same virtualised list as the narrator's chapters.
import { useQuery } from "@tanstack/react-query";
import { useMemo } from "react";
import { api, unwrap, type Schemas } from "../api/client";
import type { Chapter } from "../live/story";
import { ChapterList } from "./ChapterList";
import { Problem } from "./Problem";

interface PovTurn {
  turn: number;
  prose: string;
  tension: number;
}

/** The POV answer's turns as chapters (no events: a persona's story has no omniscient event list). */
export function povChapters(turns: Record<string, unknown>[]): Chapter[] {
  return (turns as unknown as PovTurn[])
    .filter((t) => typeof t.turn === "number")
    .sort((a, b) => a.turn - b.turn)
    .map((t) => ({ turn: t.turn, prose: String(t.prose ?? ""), tension: typeof t.tension === "number" ? t.tension : null, events: [], complete: true }));
}

/** ``pov``'s story; ``turn`` (the last played turn) refetches it when a turn is played. */
export function PovStory({ sessionId, pov, turn }: { sessionId: string; pov: string; turn: number | null }) {
  const q = useQuery({
    queryKey: ["pov", sessionId, pov, turn],
    queryFn: () =>
      unwrap(
        api.GET("/api/v1/sessions/{session_id}/narrative", {
          params: { path: { session_id: sessionId }, query: { pov, format: "json" } },
        }),
        // the route also answers Markdown, so the generated type is loose; format=json is NarrativeOut
      ) as Promise<unknown> as Promise<Schemas["NarrativeOut"]>,
    placeholderData: (prev) => prev, // keep the old chapters on screen while the new turn loads
  });
  const chapters = useMemo(() => povChapters(q.data?.turns ?? []), [q.data]);
  return (
    <div className="pov-story" data-pov={pov}>
      <Problem error={q.error} title="Could not load the story from this point of view" />
      {q.data && chapters.length === 0 && <p>No turns played yet.</p>}
      {chapters.length > 0 && <ChapterList chapters={chapters} onExplain={() => undefined} />}
    </div>
  );
}
