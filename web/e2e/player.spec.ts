// A granted player sees only their persona: its beliefs, and a form to queue its next action.
// The story and the other personas stay closed to them (403: players know the session exists).
import { apiGet, checkA11y, createStory, expect, shot, signIn, test } from "./fixtures";

test.use({ allowConsole: /Failed to load resource: the server responded with a status of 404/ });

test("a granted player sees only their persona and can act", async ({ page, server, browser }) => {
  const owner = await server.createUser("owner");
  const player = await server.createUser("player");
  await signIn(page, owner);
  const sid = await createStory(page, "Shared story");
  await page.getByRole("button", { name: "Play one turn" }).click();
  await expect(page.getByRole("heading", { name: /^Turn 1/ })).toBeVisible({ timeout: 120_000 });
  const session = await apiGet(page, `/api/v1/sessions/${sid}`);
  const agent = session.personas[0].id as string;
  const token = await page.evaluate(() => JSON.parse(sessionStorage.getItem("novel-engine.auth")!).token as string);
  const grant = await page.request.put(`/api/v1/sessions/${sid}/agents/${agent}/player`, {
    headers: { Authorization: `Bearer ${token}` },
    data: { username: player.username },
  });
  expect(grant.status()).toBe(200);

  const ctx = await browser.newContext({ baseURL: server.url });
  const p = await ctx.newPage();
  await signIn(p, player);
  await expect(p.getByText("No stories yet")).toBeVisible();
  await p.getByRole("link", { name: `${agent} in Shared story` }).click();
  await expect(p.getByRole("heading", { name: `Playing ${agent}` })).toBeVisible();
  const beliefs = (await apiGet(p, `/api/v1/sessions/${sid}/agents/${agent}/beliefs?limit=50`)).beliefs as unknown[];
  await expect(p.getByRole("region", { name: `What ${agent} believes` }).locator("tbody tr")).toHaveCount(beliefs.length);
  await p.getByRole("combobox").selectOption("observe"); // the only select: the action
  await p.getByRole("button", { name: "Queue action" }).click();
  await expect(p.getByRole("status")).toHaveText("Queued: observe for turn 2.");
  await checkA11y(p);
  await shot(p, "player-view");

  // the player may not read the story, the cast or another persona's beliefs (a player knows the
  // session exists, so the API answers 403 rather than a stranger's 404)
  const other = session.personas[1].id as string;
  const ptoken = await p.evaluate(() => JSON.parse(sessionStorage.getItem("novel-engine.auth")!).token as string);
  for (const path of [`/api/v1/sessions/${sid}`, `/api/v1/sessions/${sid}/agents`, `/api/v1/sessions/${sid}/narrative`,
    `/api/v1/sessions/${sid}/agents/${other}/beliefs`]) {
    expect((await p.request.get(path, { headers: { Authorization: `Bearer ${ptoken}` } })).status(), path).toBe(403);
  }
  await ctx.close();

  // the owner's next turn applies the queued action
  await page.getByRole("button", { name: "Play one turn" }).click();
  await expect(page.getByRole("heading", { name: /^Turn 2/ })).toBeVisible({ timeout: 120_000 });
  const turns = await apiGet(page, `/api/v1/sessions/${sid}/turns?after=1`);
  const acted = (turns.items[0].events as { actor?: string; action_type?: string }[]).find((e) => e.actor === agent);
  expect(acted?.action_type).toBe("observe");
});
