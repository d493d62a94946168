// The what-if tree of the story on screen: its root and every fork, each a link to switch to it.
import { useQuery } from "@tanstack/react-query";
import { Link } from "wouter";
import { branchOf } from "./forks";
import { sessionsQuery } from "./Sessions";
import { Problem } from "./Problem";

export function Branches({ sessionId }: { sessionId: string }) {
  const q = useQuery(sessionsQuery());
  const rows = q.data ? branchOf(q.data.items, sessionId) : [];
  return (
    <section aria-labelledby="branches-h" className="branches">
      <h2 id="branches-h">Branches</h2>
      <Problem error={q.error} title="Could not list the branches" />
      {rows.length <= 1 && q.data && <p className="hint">No forks yet: fork at a turn to try another way.</p>}
      {rows.length > 1 && (
        <ul aria-label="fork tree" className="tree">
          {rows.map(({ item, depth, forkedAt }) => (
            <li key={item.id} style={{ paddingLeft: `${depth * 1.1}rem` }} data-depth={depth}>
              {depth > 0 && <span aria-hidden="true">↳ </span>}
              {item.id === sessionId ? (
                <strong aria-current="page">{item.name}</strong>
              ) : (
                <Link href={`/sessions/${item.id}`}>{item.name}</Link>
              )}
              <span className="hint">
                {forkedAt != null ? ` from turn ${forkedAt}` : ""} · turn {item.turn ?? "?"}
                {item.seed != null ? ` · seed ${item.seed}` : ""}
              </span>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
