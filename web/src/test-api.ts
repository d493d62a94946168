// A fake API for component tests: the typed client (openapi-fetch) captures fetch and Request when
// its module loads, so test-setup.ts installs these dispatchers first; each test then says what the
// routes answer with fakeApi() and reads back what was asked.

type Answer = unknown | ((url: URL, req: Request) => unknown);
let routes: Record<string, Answer> = {};
let calls: string[] = [];

/** Relative URLs (the app's baseUrl is "") resolved against a fixed origin, as a browser would. */
export class RelativeRequest extends Request {
  constructor(input: RequestInfo | URL, init?: RequestInit) {
    super(typeof input === "string" ? new URL(input, "http://app.test/").href : input, init);
  }
}

/** The fetch the client uses in tests: answers from the routes given to :func:`fakeApi` (JSON), else 404. */
export async function fakeFetch(input: RequestInfo | URL): Promise<Response> {
  const req = input instanceof Request ? input : new RelativeRequest(input);
  const url = new URL(req.url);
  calls.push(`${req.method} ${url.pathname}${url.search}`);
  const key = `${req.method} ${url.pathname}`;
  if (!(key in routes)) {
    return new Response(JSON.stringify({ type: "about:blank", title: "Not found", status: 404, detail: `no fake for ${key}` }), {
      status: 404,
      headers: { "content-type": "application/problem+json" },
    });
  }
  const a = routes[key];
  const body = typeof a === "function" ? (a as (u: URL, r: Request) => unknown)(url, req) : a;
  return new Response(JSON.stringify(body), { status: 200, headers: { "content-type": "application/json" } });
}

/** Answer these routes (``"GET /api/v1/sessions"`` -> JSON body); returns the list of requests made. */
export function fakeApi(answers: Record<string, Answer>): string[] {
  routes = answers;
  calls = [];
  return calls;
}
