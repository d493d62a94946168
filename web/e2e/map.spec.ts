// The map of places with who is where (a played persona highlighted), the player's own view (brief,
// perceptions, their map, the story as they saw it), and the narrator / point-of-view toggle.
import type { Page } from "@playwright/test";
import { apiGet, checkA11y, createStory, expect, shot, signIn, test } from "./fixtures";

type Place = { id: string; name: string; neighbours: string[]; occupants: { id: string; name: string; credence: number | null }[] };

async function grant(page: Page, sid: string, agent: string, username: string): Promise<void> {
  const token = await page.evaluate(() => JSON.parse(sessionStorage.getItem("novel-engine.auth")!).token as string);
  const r = await page.request.put(`/api/v1/sessions/${sid}/agents/${agent}/player`, {
    headers: { Authorization: `Bearer ${token}` },
    data: { username },
  });
  expect(r.status()).toBe(200);
}

test.use({ allowConsole: /Failed to load resource: the server responded with a status of 403/ });

test("the map, the player's view and the point-of-view story", async ({ page, server, browser }) => {
  const owner = await server.createUser("mapper");
  const player = await server.createUser("wanderer");
  await signIn(page, owner);
  const sid = await createStory(page, "Mapped story");
  await page.getByLabel("Turns", { exact: true }).fill("2");
  await page.getByRole("button", { name: "Play 2 turns" }).click();
  await expect(page.getByRole("heading", { name: /^Turn 2/ })).toBeVisible({ timeout: 120_000 });
  const session = await apiGet(page, `/api/v1/sessions/${sid}`);
  const hero = session.personas[0] as { id: string; name: string };
  const other = session.personas[1] as { id: string; name: string };
  await grant(page, sid, hero.id, player.username);

  // the owner's map: every place, everyone where the API says, the played persona highlighted
  await page.getByRole("link", { name: "Map" }).click();
  await expect(page.getByRole("heading", { name: "Map", level: 1 })).toBeVisible();
  const truth = (await apiGet(page, `/api/v1/sessions/${sid}/map`)).places as Place[];
  const agents = (await apiGet(page, `/api/v1/sessions/${sid}/agents`)) as { id: string; name: string; location: string }[];
  const table = page.getByRole("table", { name: "Who is where after turn 2" });
  await expect(table.locator("tbody tr")).toHaveCount(truth.length);
  for (const a of agents) {
    const place = truth.find((p) => p.id === a.location)!;
    await expect(table.locator(`tr[data-place="${place.id}"]`)).toContainText(a.name);
  }
  const heroPlace = truth.find((p) => p.occupants.some((o) => o.id === hero.id))!;
  await expect(table.locator("tr.here")).toHaveCount(1);
  await expect(table.locator(`tr[data-place="${heroPlace.id}"] mark`)).toHaveText(hero.name);
  await expect(page.getByRole("status")).toHaveText(`${hero.name} is at ${heroPlace.name}`);
  await expect(page.locator(".cy.map canvas").first()).toBeVisible(); // Cytoscape drew the graph
  await checkA11y(page);
  await shot(page, "map");
  await page.getByLabel("Highlight").selectOption(other.id);
  await expect(table.locator("mark")).toHaveText(other.name);

  // the owner toggles the story between the narrator and a persona's point of view
  await page.getByRole("link", { name: "Story" }).click();
  await expect(page.getByRole("heading", { name: /^Turn 2/ })).toBeVisible();
  const narrated = (await apiGet(page, `/api/v1/sessions/${sid}/narrative`)).turns as { turn: number; prose: string }[];
  const pov = (await apiGet(page, `/api/v1/sessions/${sid}/narrative?pov=${hero.id}`)).turns as { turn: number; prose: string }[];
  expect(pov.length).toBeGreaterThan(0);
  const first = (t: { prose: string }) => t.prose.split(/\n{2,}/)[0].slice(0, 60);
  // a paragraph only the point of view tells (the narrator's prose has no such sentence)
  const everything = narrated.map((t) => t.prose).join("\n\n");
  const own = pov.flatMap((t) => t.prose.split(/\n{2,}/).map((para) => ({ turn: t.turn, para: para.slice(0, 60) }))).find((x) => x.para.length > 20 && !everything.includes(x.para));
  expect(own, "the point of view tells nothing the narrator does not").toBeTruthy();
  await page.getByLabel("Tell the story as").selectOption(hero.id);
  await expect(page.locator(`.pov-story[data-pov="${hero.id}"] article[data-turn="${own!.turn}"] .prose`)).toContainText(own!.para);
  await checkA11y(page);
  await shot(page, "pov-story");
  await page.getByLabel("Tell the story as").selectOption("");
  await expect(page.locator(`article[data-turn="1"] .prose`)).toContainText(first(narrated[0]));
  await expect(page.getByText(own!.para)).toHaveCount(0);

  // the player: their brief, what they perceived, their map and their story, nothing else
  const ctx = await browser.newContext({ baseURL: server.url });
  const p = await ctx.newPage();
  await signIn(p, player);
  await p.getByRole("link", { name: `${hero.id} in Mapped story` }).click();
  await expect(p.getByRole("heading", { name: `Playing ${hero.id}` })).toBeVisible();
  const view = await apiGet(p, `/api/v1/sessions/${sid}/agents/${hero.id}/view?limit=30`);
  const brief = p.getByRole("region", { name: `${hero.name}'s brief` });
  await expect(brief.getByTestId("brief-place")).toHaveText(heroPlace.name);
  const seen = brief.getByRole("list", { name: "perceptions" }).getByRole("listitem");
  await expect(seen).toHaveCount(view.perceptions.length);
  expect(view.perceptions.length).toBeGreaterThan(0);
  await expect(seen.last()).toContainText(view.perceptions[view.perceptions.length - 1].summary);

  const believed = (await apiGet(p, `/api/v1/sessions/${sid}/map?pov=${hero.id}`)).places as Place[];
  const mine = p.getByRole("table", { name: `Who is where after turn 2 (as ${hero.name} believes)` });
  await expect(mine.locator(`tr[data-place="${heroPlace.id}"] mark`)).toHaveText(hero.name);
  const guesses = believed.flatMap((pl) => pl.occupants.filter((o) => o.credence !== null).map((o) => ({ place: pl.id, o })));
  await expect(mine.getByText(/believed, /)).toHaveCount(guesses.length);
  for (const g of guesses) await expect(mine.locator(`tr[data-place="${g.place}"]`)).toContainText(`${g.o.name} (believed, ${g.o.credence!.toFixed(2)})`);

  const story = p.getByRole("region", { name: `The story as ${hero.name} saw it` });
  await expect(story.locator(`article[data-turn="${pov[0].turn}"] .prose`)).toContainText(first(pov[0]));
  await checkA11y(p);
  await shot(p, "player-brief-map-pov");
  // the truth stays the owner's
  const ptoken = await p.evaluate(() => JSON.parse(sessionStorage.getItem("novel-engine.auth")!).token as string);
  for (const path of [`/api/v1/sessions/${sid}/map`, `/api/v1/sessions/${sid}/map?pov=${other.id}`, `/api/v1/sessions/${sid}/agents/${other.id}/view`]) {
    expect((await p.request.get(path, { headers: { Authorization: `Bearer ${ptoken}` } })).status(), path).toBe(403);
  }
  await ctx.close();
});
