// The player's side: the brief, the persona's map as a table, and the story from its point of view.
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { render, screen, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { fakeApi } from "../test-api";
import { WhoIsWhere } from "./MapView";
import type { MapOut } from "./mapModel";
import { PersonaBrief } from "./PersonaBrief";
import { PovStory } from "./PovStory";

describe("PersonaBrief", () => {
  it("shows where the persona is, its goals, relationships and what it perceived, in order", () => {
    render(
      <PersonaBrief
        view={{
          agent_id: "ada",
          name: "Ada",
          turn: 4,
          description: "A scholar.",
          location: "hall",
          location_name: "The Hall",
          status: "active",
          health: 0.75,
          traits: { courage: 0.5 },
          goals: [{ text: "Find the map", priority: 0.9 }],
          relationships: [{ target: "bo", name: "Bo", trust: 0.3, affinity: -0.2 }],
          perceptions: [
            { event_id: "e1", turn: 3, summary: "Bo entered the hall." },
            { event_id: "e2", turn: 4, summary: "A bell rang." },
          ],
          known_people: ["ada", "bo"],
          known_places: ["hall"],
        }}
      />,
    );
    const brief = screen.getByRole("region", { name: "Ada's brief" });
    expect(within(brief).getByTestId("brief-place").textContent).toBe("The Hall");
    expect(brief.textContent).toContain("active, health 0.75");
    expect(within(brief).getByRole("list", { name: "goals" }).textContent).toContain("Find the map");
    expect(within(brief).getByRole("list", { name: "relationships" }).textContent).toBe("Bo: trust +0.30, affinity -0.20");
    const seen = within(brief).getByRole("list", { name: "perceptions" }).querySelectorAll("li");
    expect([...seen].map((li) => li.textContent)).toEqual(["turn 3: Bo entered the hall.", "turn 4: A bell rang."]);
  });
});

describe("WhoIsWhere", () => {
  const map: MapOut = {
    turn: 2,
    pov: "ada",
    places: [
      { id: "hall", name: "Hall", neighbours: ["yard"], occupants: [{ id: "ada", name: "Ada", status: "active", credence: null }] },
      { id: "yard", name: "Yard", neighbours: ["hall"], occupants: [{ id: "bo", name: "Bo", status: null, credence: 0.6 }] },
    ],
  };

  it("marks the persona and says which places are beliefs", () => {
    render(<WhoIsWhere map={map} highlight="ada" />);
    const table = screen.getByRole("table", { name: "Who is where after turn 2 (as Ada believes)" });
    const [hall, yard] = within(table).getAllByRole("row").slice(1);
    expect(hall.className).toBe("here");
    expect(hall.querySelector("mark")?.textContent).toBe("Ada");
    expect(within(hall).getAllByRole("cell").map((c) => c.textContent)).toEqual(["Ada", "Yard"]);
    expect(yard.className).toBe("");
    expect(within(yard).getAllByRole("cell")[0].textContent).toBe("Bo (believed, 0.60)");
  });
});

describe("PovStory", () => {
  it("asks for the persona's point of view and shows its chapters", async () => {
    // jsdom lays nothing out: give the virtualised list's viewport a size so it renders its rows
    for (const dim of ["offsetHeight", "offsetWidth", "clientHeight", "clientWidth"]) {
      Object.defineProperty(HTMLElement.prototype, dim, { configurable: true, get: () => 800 });
    }
    const calls = fakeApi({
      "GET /api/v1/sessions/s1/narrative": (url: URL) => ({
        title: "T",
        text: "",
        turns: url.searchParams.get("pov") === "ada" ? [{ turn: 1, prose: "Ada saw the hall empty.", tension: 0.1 }] : [],
      }),
    });
    const qc = new QueryClient({ defaultOptions: { queries: { retry: false } } });
    render(
      <QueryClientProvider client={qc}>
        <PovStory sessionId="s1" pov="ada" turn={1} />
      </QueryClientProvider>,
    );
    expect(await screen.findByRole("heading", { name: /^Turn 1/ })).toBeTruthy();
    expect(screen.getByText("Ada saw the hall empty.")).toBeTruthy();
    expect(calls).toEqual(["GET /api/v1/sessions/s1/narrative?pov=ada&format=json"]);
  });
});
