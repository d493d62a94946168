// The typed REST client: openapi-fetch over the generated schema, so a changed route or body
// fails `tsc`. Every non-2xx answer becomes an ApiError carrying the problem's detail and field errors.
import createClient, { type Middleware } from "openapi-fetch";
import type { components, paths } from "./schema";

export type Schemas = components["schemas"];
export type SessionOut = Schemas["SessionOut"];
export type TurnOut = Schemas["TurnOut"];
export type AgentOut = Schemas["AgentOut"];
export type BeliefOut = Schemas["BeliefOut"];
export type CatalogOut = Schemas["CatalogOut"];
export type CreateSession = Schemas["CreateSession"];

export interface FieldError {
  path: string;
  message: string;
}

/** An error answer of the API (an RFC 9457 problem), or a network failure (status 0). */
export class ApiError extends Error {
  readonly status: number;
  readonly title: string;
  readonly errors: FieldError[];

  constructor(status: number, title: string, detail: string, errors: FieldError[] = []) {
    super(detail);
    this.name = "ApiError";
    this.status = status;
    this.title = title;
    this.errors = errors;
  }
}

/** Build an ApiError from whatever the server sent (a problem document, or anything else). */
export function problemOf(status: number, body: unknown): ApiError {
  if (body && typeof body === "object") {
    const p = body as { title?: unknown; detail?: unknown; errors?: unknown };
    const errors = Array.isArray(p.errors)
      ? p.errors.filter((e): e is FieldError => !!e && typeof e.path === "string" && typeof e.message === "string")
      : [];
    const detail = typeof p.detail === "string" ? p.detail : `request failed (${status})`;
    return new ApiError(status, typeof p.title === "string" ? p.title : "Error", detail, errors);
  }
  return new ApiError(status, "Error", typeof body === "string" && body ? body : `request failed (${status})`);
}

let token: string | null = null;
let onUnauthorized: (() => void) | null = null;

/** Set the bearer token sent on every request (null: signed out). */
export function setToken(t: string | null): void {
  token = t;
}

/** Called when the API answers 401 to an authenticated request (an expired token). */
export function setUnauthorizedHandler(fn: (() => void) | null): void {
  onUnauthorized = fn;
}

const auth: Middleware = {
  onRequest({ request }) {
    if (token) request.headers.set("Authorization", `Bearer ${token}`);
    return request;
  },
  onResponse({ response }) {
    if (response.status === 401 && token && onUnauthorized) onUnauthorized();
    return response;
  },
};

export const api = createClient<paths>({ baseUrl: "" });
api.use(auth);

/** The data of an openapi-fetch answer, or throw its problem as an ApiError. */
export async function unwrap<T>(call: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  let res: { data?: T; error?: unknown; response: Response };
  try {
    res = await call;
  } catch (err) {
    throw new ApiError(0, "Network error", `the server did not answer (${(err as Error).message})`);
  }
  if (!res.response.ok) throw problemOf(res.response.status, res.error);
  return res.data as T;
}

/** GET a text resource with the token (e.g. the Markdown export, which the typed client parses as JSON). */
export async function getText(path: string): Promise<string> {
  const headers: Record<string, string> = token ? { Authorization: `Bearer ${token}` } : {};
  const r = await fetch(path, { headers });
  if (!r.ok) {
    let body: unknown = null;
    try {
      body = await r.json();
    } catch {
      body = null;
    }
    throw problemOf(r.status, body);
  }
  return r.text();
}
