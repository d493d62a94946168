import { describe, expect, it, vi } from "vitest";
import { StoryStream, type SocketStatus } from "./socket";
import type { EventFrame } from "./story";

class FakeSocket {
  static all: FakeSocket[] = [];
  sent: Record<string, unknown>[] = [];
  readyState = 1;
  onopen: ((ev: Event) => void) | null = null;
  onmessage: ((ev: MessageEvent) => void) | null = null;
  onclose: ((ev: CloseEvent) => void) | null = null;
  onerror: ((ev: Event) => void) | null = null;
  constructor(public url: string) {
    FakeSocket.all.push(this);
  }
  send(text: string) {
    this.sent.push(JSON.parse(text));
  }
  close() {
    this.readyState = 3;
  }
  serverSends(frame: Record<string, unknown>) {
    this.onmessage?.({ data: JSON.stringify(frame) } as MessageEvent);
  }
  drop() {
    this.onclose?.({} as CloseEvent);
  }
}

function setup() {
  FakeSocket.all = [];
  const frames: EventFrame[] = [];
  const statuses: SocketStatus[] = [];
  const stream = new StoryStream("s1", () => "tok", {
    onFrame: (f) => frames.push(f),
    onStatus: (s) => statuses.push(s),
  }, { url: "ws://x/ws", makeSocket: (u) => new FakeSocket(u) as never, backoffMs: [10] });
  return { stream, frames, statuses };
}

describe("StoryStream", () => {
  it("authenticates with the first message, never the URL, then subscribes", () => {
    const { stream } = setup();
    stream.start();
    const ws = FakeSocket.all[0];
    expect(ws.url).toBe("ws://x/ws");
    ws.onopen?.({} as Event);
    expect(ws.sent[0]).toEqual({ type: "auth", token: "tok" });
    ws.serverSends({ type: "authenticated", username: "a" });
    expect(ws.sent[1]).toEqual({ type: "subscribe", session_id: "s1" });
    stream.stop();
  });

  it("reconnects after a drop and resubscribes after the last seq, dropping repeats", async () => {
    vi.useFakeTimers();
    const { stream, frames, statuses } = setup();
    stream.start();
    let ws = FakeSocket.all[0];
    ws.onopen?.({} as Event);
    ws.serverSends({ type: "authenticated" });
    ws.serverSends({ type: "subscribed", session_id: "s1", after_seq: 4 });
    ws.serverSends({ type: "narrative_update", seq: 5, turn: 2, prose: "p" });
    ws.serverSends({ type: "turn_complete", seq: 6, turn: 2, tension: 0.2 });
    ws.drop();
    expect(statuses.at(-1)).toBe("reconnecting");
    await vi.advanceTimersByTimeAsync(20);
    ws = FakeSocket.all[1];
    ws.onopen?.({} as Event);
    ws.serverSends({ type: "authenticated" });
    expect(ws.sent[1]).toEqual({ type: "subscribe", session_id: "s1", after_seq: 6 });
    ws.serverSends({ type: "subscribed", session_id: "s1", after_seq: 6 });
    ws.serverSends({ type: "turn_complete", seq: 6, turn: 2, tension: 0.2 }); // a repeat
    ws.serverSends({ type: "narrative_update", seq: 7, turn: 3, prose: "q" });
    expect(frames.map((f) => f.seq)).toEqual([5, 6, 7]);
    expect(statuses.at(-1)).toBe("live");
    stream.stop();
    vi.useRealTimers();
  });
});
