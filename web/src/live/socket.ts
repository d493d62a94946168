// One WebSocket to /ws for one session: authenticate with the first message (the token never goes
// in the URL), subscribe, and on any loss reconnect by itself and resubscribe after the last seq
// it saw, so the story neither loses nor repeats a frame. Frames at or below that seq are dropped.
import type { EventFrame } from "./story";

export type SocketStatus = "connecting" | "live" | "reconnecting" | "failed";

export interface StreamHandlers {
  onFrame(frame: EventFrame): void;
  onStatus(status: SocketStatus, detail?: string): void;
  /** Called after each (re)subscription, with the seq the stream resumes after. */
  onSubscribed?(afterSeq: number, resumed: boolean): void;
  /** The server dropped frames it no longer keeps: fetch what was missed another way (REST). */
  onResync?(): void;
}

type Socketish = Pick<WebSocket, "send" | "close" | "readyState"> & {
  onopen: ((ev: Event) => void) | null;
  onmessage: ((ev: MessageEvent) => void) | null;
  onclose: ((ev: CloseEvent) => void) | null;
  onerror: ((ev: Event) => void) | null;
};

export interface StreamOptions {
  url?: string;
  makeSocket?: (url: string) => Socketish;
  backoffMs?: readonly number[];
}

const EVENT_TYPES = new Set(["agent_action", "world_event", "causal_event", "narrative_update", "turn_complete"]);

/** The default socket URL: same origin as the page. */
export function socketUrl(loc: Location = window.location): string {
  return `${loc.protocol === "https:" ? "wss" : "ws"}://${loc.host}/ws`;
}

export class StoryStream {
  private ws: Socketish | null = null;
  private lastSeq: number | null = null;
  private attempt = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private closed = false;
  private subscribedOnce = false;
  private readonly url: string;
  private readonly makeSocket: (url: string) => Socketish;
  private readonly backoff: readonly number[];

  constructor(
    private readonly sessionId: string,
    private readonly token: () => string | null,
    private readonly handlers: StreamHandlers,
    opts: StreamOptions = {},
  ) {
    this.url = opts.url ?? socketUrl();
    this.makeSocket = opts.makeSocket ?? ((u) => new WebSocket(u));
    this.backoff = opts.backoffMs ?? [250, 500, 1000, 2000, 4000];
  }

  /** The highest seq delivered so far (null before the first subscription). */
  get seq(): number | null {
    return this.lastSeq;
  }

  start(): void {
    this.closed = false;
    this.open();
  }

  stop(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      ws.onclose = null;
      ws.close();
    }
  }

  private open(): void {
    this.handlers.onStatus(this.subscribedOnce ? "reconnecting" : "connecting");
    const ws = this.makeSocket(this.url);
    this.ws = ws;
    ws.onopen = () => {
      const token = this.token();
      if (!token) {
        this.handlers.onStatus("failed", "not signed in");
        return;
      }
      ws.send(JSON.stringify({ type: "auth", token }));
    };
    ws.onmessage = (ev) => this.receive(ev.data);
    ws.onerror = () => undefined; // onclose follows and schedules the retry
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.retry();
    };
  }

  private retry(): void {
    if (this.closed) return;
    this.handlers.onStatus("reconnecting");
    const delay = this.backoff[Math.min(this.attempt, this.backoff.length - 1)];
    this.attempt += 1;
    this.timer = setTimeout(() => {
      this.timer = null;
      if (!this.closed) this.open();
    }, delay);
  }

  private subscribe(): void {
    const msg: Record<string, unknown> = { type: "subscribe", session_id: this.sessionId };
    if (this.lastSeq !== null) msg.after_seq = this.lastSeq;
    this.ws?.send(JSON.stringify(msg));
  }

  private receive(data: unknown): void {
    let frame: Record<string, unknown>;
    try {
      frame = JSON.parse(String(data)) as Record<string, unknown>;
    } catch {
      return;
    }
    const type = frame.type;
    if (type === "authenticated") {
      this.subscribe();
    } else if (type === "subscribed") {
      const after = typeof frame.after_seq === "number" ? frame.after_seq : 0;
      const resumed = this.subscribedOnce;
      this.lastSeq = Math.max(this.lastSeq ?? 0, after);
      this.subscribedOnce = true;
      this.attempt = 0;
      this.handlers.onStatus("live");
      this.handlers.onSubscribed?.(after, resumed);
    } else if (typeof type === "string" && EVENT_TYPES.has(type) && typeof frame.seq === "number") {
      if (this.lastSeq !== null && frame.seq <= this.lastSeq) return;
      this.lastSeq = frame.seq;
      this.handlers.onFrame(frame as unknown as EventFrame);
    } else if (type === "overflow") {
      this.subscribe(); // fell behind: resubscribe from the last seq delivered
    } else if (type === "error") {
      const code = String(frame.code ?? "");
      if (code === "unauthenticated" || code === "forbidden") {
        this.handlers.onStatus("failed", String(frame.detail ?? code));
        this.stop();
      } else if (code === "truncated") {
        this.handlers.onResync?.();
        if (typeof frame.after_seq === "number") this.subscribe(); // the feed ended: join it again
      } else if (code === "session_closed" || code === "session_unavailable") {
        // the stream ended on the server's side: reopen after a pause and resume from our seq
        const ws = this.ws;
        this.ws = null;
        if (ws) {
          ws.onclose = null;
          ws.close();
        }
        this.retry();
      } else if (code === "not_found") {
        this.handlers.onStatus("failed", String(frame.detail ?? "no such session"));
        this.stop();
      }
    }
  }
}
