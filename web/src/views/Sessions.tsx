// Your sessions (turn, tension, title per row) and the form to start a new one.
import { useQuery } from "@tanstack/react-query";
import { Link } from "wouter";
import { api, unwrap, type Schemas } from "../api/client";
import { CreateSessionForm } from "./CreateSessionForm";
import { Problem } from "./Problem";

export function sessionQuery(id: string) {
  return {
    queryKey: ["session", id],
    queryFn: () => unwrap(api.GET("/api/v1/sessions/{session_id}", { params: { path: { session_id: id } } })),
  };
}

function Row({ item }: { item: Schemas["SessionItem"] }) {
  const q = useQuery(sessionQuery(item.id));
  return (
    <tr>
      <td>
        <Link href={`/sessions/${item.id}`}>{item.name}</Link>
      </td>
      <td>{q.data?.title ?? (q.isError ? "unavailable" : "…")}</td>
      <td className="num">{q.data?.turn ?? ""}</td>
      <td className="num">{q.data ? q.data.tension.toFixed(2) : ""}</td>
      <td>{new Date(item.created_at).toLocaleString()}</td>
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
  const list = useQuery({
    queryKey: ["sessions"],
    queryFn: () => unwrap(api.GET("/api/v1/sessions", { params: { query: { limit: 200 } } })),
  });
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
              </tr>
            </thead>
            <tbody>
              {list.data.items.map((it) => (
                <Row key={it.id} item={it} />
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
