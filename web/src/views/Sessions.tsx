// Your sessions (turn, tension, title per row; forks under the story they came from, from one
// request for the whole list) and the form to start a new one.
import { useQuery } from "@tanstack/react-query";
import { useMemo } from "react";
import { Link } from "wouter";
import { api, unwrap, type Schemas } from "../api/client";
import { CreateSessionForm } from "./CreateSessionForm";
import { forkTree, type TreeRow } from "./forks";
import { Problem } from "./Problem";

export function sessionQuery(id: string) {
  return {
    queryKey: ["session", id],
    queryFn: () => unwrap(api.GET("/api/v1/sessions/{session_id}", { params: { path: { session_id: id } } })),
  };
}

/** Your sessions with their heads (turn, tension, title, seed, fork parent): one request for the page. */
export function sessionsQuery() {
  return {
    queryKey: ["sessions"],
    queryFn: () => unwrap(api.GET("/api/v1/sessions", { params: { query: { limit: 200 } } })),
  };
}

function Row({ row, parentName }: { row: TreeRow<Schemas["SessionItem"]>; parentName: string | null }) {
  const { item, depth, forkedAt } = row;
  return (
    <tr data-depth={depth}>
      <td style={depth ? { paddingLeft: `${0.5 + depth * 1.2}rem` } : undefined}>
        {depth > 0 && <span aria-hidden="true">↳ </span>}
        <Link href={`/sessions/${item.id}`}>{item.name}</Link>
        {forkedAt != null && parentName && (
          <span className="hint">
            {" "}
            (fork of {parentName} at turn {forkedAt})
          </span>
        )}
      </td>
      <td>{item.title ?? "unavailable"}</td>
      <td className="num">{item.turn ?? ""}</td>
      <td className="num">{item.tension != null ? item.tension.toFixed(2) : ""}</td>
      <td>{new Date(item.created_at).toLocaleString()}</td>
      <td className="num">{item.seed ?? ""}</td>
    </tr>
  );
}

/** Characters other users granted you (shown only if there are any). */
function Playing() {
  const q = useQuery({ queryKey: ["playing"], queryFn: () => unwrap(api.GET("/api/v1/sessions/playing")) });
  if (!q.data?.length && !q.error) return null;
  return (
    <section aria-labelledby="playing-h">
      <h2 id="playing-h">Characters you play</h2>
      <Problem error={q.error} title="Could not list your characters" />
      <ul>
        {q.data?.map((p) => (
          <li key={`${p.session_id}/${p.agent_id}`}>
            <Link href={`/play/${p.session_id}/${p.agent_id}`}>
              {p.agent_id} in {p.session_name}
            </Link>
          </li>
        ))}
      </ul>
    </section>
  );
}

export function Sessions() {
  const list = useQuery(sessionsQuery());
  const rows = useMemo(() => forkTree(list.data?.items ?? []), [list.data]);
  const names = useMemo(() => new Map((list.data?.items ?? []).map((i) => [i.id, i.name])), [list.data]);
  return (
    <div className="sessions">
      <section aria-labelledby="your-stories">
        <h1 id="your-stories">Your stories</h1>
        <Problem error={list.error} title="Could not list your sessions" />
        {list.data && list.data.items.length === 0 && <p>No stories yet: start one below.</p>}
        {list.data && list.data.items.length > 0 && (
          <table className="session-list">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Title</th>
                <th scope="col">Turn</th>
                <th scope="col">Tension</th>
                <th scope="col">Created</th>
                <th scope="col">Seed</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <Row key={r.item.id} row={r} parentName={r.item.parent ? (names.get(r.item.parent.session_id) ?? null) : null} />
              ))}
            </tbody>
          </table>
        )}
      </section>
      <Playing />
      <CreateSessionForm />
    </div>
  );
}
