// The live story of one session: REST pages for what was played before, the socket for what is
// played now; both feed the same keyed state (see story.ts), so overlap is harmless.
import { useCallback, useEffect, useReducer, useRef, useState } from "react";
import { api, unwrap, type TurnOut } from "../api/client";
import { applyFrame, applyTurns, emptyStory, firstGap, type EventFrame, type Story } from "./story";
import { StoryStream, type SocketStatus, type StreamOptions } from "./socket";

type Action = { kind: "turns"; turns: TurnOut[] } | { kind: "frame"; frame: EventFrame } | { kind: "reset" };

function reducer(s: Story, a: Action): Story {
  if (a.kind === "turns") return applyTurns(s, a.turns);
  if (a.kind === "frame") return applyFrame(s, a.frame);
  return emptyStory;
}

/** Every played turn after ``after`` through the paged REST route. */
export async function fetchTurns(sessionId: string, after: number): Promise<TurnOut[]> {
  const out: TurnOut[] = [];
  let cursor: number | null = after;
  while (cursor !== null) {
    const page: { items: TurnOut[]; next_after?: number | null } = await unwrap(
      api.GET("/api/v1/sessions/{session_id}/turns", {
        params: { path: { session_id: sessionId }, query: { after: cursor, limit: 100 } },
      }),
    );
    out.push(...page.items);
    cursor = page.next_after ?? null;
  }
  return out;
}

export interface LiveStory {
  story: Story;
  status: SocketStatus;
  statusDetail: string | null;
  error: string | null;
  /** Merge turns the caller already has (e.g. the answer of a POST .../turns). */
  addTurns(turns: TurnOut[]): void;
}

export function useStory(sessionId: string, token: string | null, opts?: StreamOptions): LiveStory {
  const [story, dispatch] = useReducer(reducer, emptyStory);
  const [status, setStatus] = useState<SocketStatus>("connecting");
  const [statusDetail, setDetail] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const storyRef = useRef(story);
  storyRef.current = story;
  const tokenRef = useRef(token);
  tokenRef.current = token;
  const syncing = useRef(false);

  const sync = useCallback(async () => {
    if (syncing.current) return;
    syncing.current = true;
    try {
      const s = storyRef.current;
      const from = (firstGap(s) ?? s.lastTurn + 1) - 1;
      dispatch({ kind: "turns", turns: await fetchTurns(sessionId, Math.max(0, from)) });
      setError(null);
    } catch (err) {
      setError((err as Error).message);
    } finally {
      syncing.current = false;
    }
  }, [sessionId]);

  useEffect(() => {
    dispatch({ kind: "reset" });
    const stream = new StoryStream(
      sessionId,
      () => tokenRef.current,
      {
        onFrame: (frame) => {
          dispatch({ kind: "frame", frame });
          if (frame.type === "turn_complete" && frame.turn > storyRef.current.lastTurn + 1) void sync();
        },
        onStatus: (st, detail) => {
          setStatus(st);
          setDetail(detail ?? null);
        },
        // subscribed first, then read the past: a turn played in between comes by one or the other
        onSubscribed: () => void sync(),
        onResync: () => void sync(),
      },
      opts,
    );
    stream.start();
    return () => stream.stop();
    // opts is fixed for a view's life
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [sessionId, sync]);

  useEffect(() => {
    const gap = firstGap(story);
    if (gap !== null) void sync();
  }, [story, sync]);

  const addTurns = useCallback((turns: TurnOut[]) => dispatch({ kind: "turns", turns }), []);
  return { story, status, statusDetail, error, addTurns };
}
