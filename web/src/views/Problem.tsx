import { ApiError } from "../api/client";

/** An API error as a person reads it: the problem's detail, then each field error with its path. */
export function Problem({ error, title }: { error: unknown; title?: string }) {
  if (!error) return null;
  const e = error instanceof ApiError ? error : null;
  const detail = (error as Error).message ?? String(error);
  return (
    <div role="alert" className="problem">
      {title && <strong>{title}: </strong>}
      <span>{detail}</span>
      {e && e.errors.length > 0 && (
        <ul aria-label="field errors" className="field-errors">
          {e.errors.map((fe, i) => (
            <li key={i}>
              <code>{fe.path}</code>: {fe.message}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
