import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { render, screen, within } from "@testing-library/react";
import type { ReactNode } from "react";
import { describe, expect, it } from "vitest";
import { Router } from "wouter";
import { memoryLocation } from "wouter/memory-location";
import { fakeApi } from "../test-api";
import { Branches } from "./Branches";
import { Sessions } from "./Sessions";

const item = (id: string, name: string, extra: object = {}) => ({
  id,
  name,
  created_at: "2026-12-06T10:00:00.000Z",
  turn: 3,
  tension: 0.25,
  title: "The Dragon",
  seed: 7,
  parent: null,
  ...extra,
});

const page = {
  items: [
    item("root1", "Root story"),
    item("other", "Other story", { turn: 5, tension: 0.5 }),
    item("fork1", "Root story (fork at turn 2)", { turn: 2, seed: 99, parent: { session_id: "root1", turn: 2 } }),
  ],
  total: 3,
  offset: 0,
  limit: 200,
};

function wrap(ui: ReactNode, path = "/") {
  const qc = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  return render(
    <QueryClientProvider client={qc}>
      <Router hook={memoryLocation({ path }).hook}>{ui}</Router>
    </QueryClientProvider>,
  );
}

describe("Sessions", () => {
  it("lists every session from one request, forks under their parent", async () => {
    const calls = fakeApi({
      "GET /api/v1/sessions": page,
      "GET /api/v1/sessions/playing": [],
      "GET /api/v1/sessions/catalog": { templates: [{ name: "fantasy_world", title: "The Dragon", style: "epic", personas: 4, locations: 5 }], llms: ["offline"], max_agents: 10 },
    });
    wrap(<Sessions />);
    const table = await screen.findByRole("table");
    const rows = within(table).getAllByRole("row").slice(1); // after the header
    expect(rows.map((r) => within(r).getByRole("link").textContent)).toEqual(["Root story", "Root story (fork at turn 2)", "Other story"]);
    expect(rows[1].textContent).toContain("fork of Root story at turn 2");
    expect(rows[1].getAttribute("data-depth")).toBe("1");
    const cells = within(rows[2]).getAllByRole("cell").map((c) => c.textContent);
    expect([cells[1], cells[2], cells[3], cells[5]]).toEqual(["The Dragon", "5", "0.50", "7"]);
    // one list request; no request per session
    expect(calls.filter((c) => c.startsWith("GET /api/v1/sessions?"))).toEqual(["GET /api/v1/sessions?limit=200"]);
    expect(calls.some((c) => /\/api\/v1\/sessions\/(root1|fork1|other)/.test(c))).toBe(false);
  });
});

describe("Branches", () => {
  it("shows the tree of the story on screen, the current one marked, the others as links", async () => {
    fakeApi({ "GET /api/v1/sessions": page });
    wrap(<Branches sessionId="fork1" />);
    const tree = await screen.findByRole("list", { name: "fork tree" });
    const items = within(tree).getAllByRole("listitem");
    expect(items).toHaveLength(2); // "Other story" is another tree
    expect(within(items[0]).getByRole("link").textContent).toBe("Root story");
    expect(items[1].querySelector("[aria-current=page]")?.textContent).toBe("Root story (fork at turn 2)");
    expect(items[1].textContent).toContain("from turn 2");
    expect(items[1].textContent).toContain("seed 99");
  });

  it("says there are no forks yet for a story without any", async () => {
    fakeApi({ "GET /api/v1/sessions": page });
    wrap(<Branches sessionId="other" />);
    expect(await screen.findByText(/No forks yet/)).toBeTruthy();
  });
});
