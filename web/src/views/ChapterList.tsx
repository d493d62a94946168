// Chapters in a virtualised list: only the ones on screen are in the DOM, so a story of hundreds
// of turns renders as fast as a short one.
import { useVirtualizer } from "@tanstack/react-virtual";
import { memo, useEffect, useRef } from "react";
import type { Chapter, StoryEvent } from "../live/story";

const ChapterItem = memo(function ChapterItem({ ch, onExplain }: { ch: Chapter; onExplain(e: StoryEvent): void }) {
  return (
    <article className="chapter" aria-labelledby={`turn-${ch.turn}`} data-turn={ch.turn}>
      <h3 id={`turn-${ch.turn}`}>
        Turn {ch.turn} <span className="tension">tension {(ch.tension ?? 0).toFixed(2)}</span>
      </h3>
      <div className="prose">
        {(ch.prose ?? "").split(/\n{2,}/).map((para, i) => (
          <p key={i}>{para}</p>
        ))}
      </div>
      {ch.events.length > 0 && (
        <details>
          <summary>{ch.events.length} events</summary>
          <ul className="events">
            {ch.events.map((e) => (
              <li key={e.id}>
                <button type="button" className="event" onClick={() => onExplain(e)} title="Why did this happen?">
                  {e.summary}
                </button>
              </li>
            ))}
          </ul>
        </details>
      )}
    </article>
  );
});

export function ChapterList({ chapters, onExplain }: { chapters: Chapter[]; onExplain(e: StoryEvent): void }) {
  const parent = useRef<HTMLDivElement>(null);
  const follow = useRef(true);
  const v = useVirtualizer({
    count: chapters.length,
    getScrollElement: () => parent.current,
    estimateSize: () => 220,
    overscan: 3,
    getItemKey: (i) => chapters[i].turn,
  });

  // keep the newest chapter in view while the reader is at the bottom
  useEffect(() => {
    if (follow.current && chapters.length > 0) v.scrollToIndex(chapters.length - 1, { align: "end" });
  }, [chapters.length, v]);

  return (
    <div
      ref={parent}
      className="chapter-scroll"
      tabIndex={0}
      aria-label="story text"
      onScroll={(e) => {
        const el = e.currentTarget;
        follow.current = el.scrollHeight - el.scrollTop - el.clientHeight < 80;
      }}
    >
      <div style={{ height: v.getTotalSize(), position: "relative" }}>
        {v.getVirtualItems().map((item) => (
          <div
            key={item.key}
            data-index={item.index}
            ref={v.measureElement}
            style={{ position: "absolute", top: 0, left: 0, width: "100%", transform: `translateY(${item.start}px)` }}
          >
            <ChapterItem ch={chapters[item.index]} onExplain={onExplain} />
          </div>
        ))}
      </div>
    </div>
  );
}
