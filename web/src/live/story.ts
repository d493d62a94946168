// The story as the view holds it: chapters by turn number, filled from REST pages and from socket
// frames alike. Keyed by turn and by event id, so a frame seen twice (a resubscription overlapping
// what a REST page already gave) changes nothing, and a missing turn shows up as a gap to refetch.
import type { TurnOut } from "../api/client";

export interface StoryEvent {
  id: string;
  turn: number;
  kind: string;
  summary: string;
  actor?: string | null;
  target?: string | null;
  location?: string | null;
  causes?: string[];
  participants?: string[];
  [key: string]: unknown;
}

export interface Chapter {
  turn: number;
  prose: string | null;
  tension: number | null;
  events: StoryEvent[];
  complete: boolean;
}

export interface Story {
  chapters: Record<number, Chapter>;
  lastTurn: number; // the highest complete turn
}

export const emptyStory: Story = { chapters: {}, lastTurn: 0 };

/** A socket event frame (see serve_app.ws): ``type``, ``seq``, ``turn`` and its payload. */
export interface EventFrame {
  type: "agent_action" | "world_event" | "causal_event" | "narrative_update" | "turn_complete";
  seq: number;
  turn: number;
  event?: StoryEvent;
  prose?: string;
  tension?: number;
  session_id?: string;
}

function chapterOf(story: Story, turn: number): Chapter {
  return story.chapters[turn] ?? { turn, prose: null, tension: null, events: [], complete: false };
}

function put(story: Story, ch: Chapter): Story {
  const lastTurn = ch.complete ? Math.max(story.lastTurn, ch.turn) : story.lastTurn;
  return { chapters: { ...story.chapters, [ch.turn]: ch }, lastTurn };
}

/** Apply played turns from the REST API (complete chapters; they replace partial ones). */
export function applyTurns(story: Story, turns: readonly TurnOut[]): Story {
  let s = story;
  for (const t of turns) {
    if (s.chapters[t.turn]?.complete) continue;
    s = put(s, {
      turn: t.turn,
      prose: t.prose,
      tension: t.tension,
      events: t.events as unknown as StoryEvent[],
      complete: true,
    });
  }
  return s;
}

/** Apply one socket frame; frames of a turn already complete are ignored. */
export function applyFrame(story: Story, f: EventFrame): Story {
  if (typeof f.turn !== "number" || story.chapters[f.turn]?.complete) return story;
  const ch = chapterOf(story, f.turn);
  switch (f.type) {
    case "narrative_update":
      return put(story, { ...ch, prose: f.prose ?? "" });
    case "turn_complete":
      return put(story, { ...ch, tension: f.tension ?? null, complete: true });
    default: {
      const ev = f.event;
      if (!ev || ch.events.some((e) => e.id === ev.id)) return story;
      return put(story, { ...ch, events: [...ch.events, ev] });
    }
  }
}

/** The played turns in order (complete chapters only: a turn still arriving is not shown). */
export function chaptersInOrder(story: Story): Chapter[] {
  return Object.values(story.chapters)
    .filter((c) => c.complete)
    .sort((a, b) => a.turn - b.turn);
}

/** The first turn (from 1) missing below the highest complete one, or null if there is no gap. */
export function firstGap(story: Story): number | null {
  for (let t = 1; t < story.lastTurn; t++) if (!story.chapters[t]?.complete) return t;
  return null;
}
