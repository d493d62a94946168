// What-if branches: fork with a player action for the fork's next turn, the fork tree, switching
// between branches; the sessions list from one request, forks under their story.
import { apiGet, checkA11y, chapterTurns, createStory, expect, shot, signIn, test } from "./fixtures";

test("fork with a player action, see the tree and switch branches", async ({ page, server }) => {
  const user = await server.createUser("brancher");
  await signIn(page, user);
  const sid = await createStory(page, "Branching story");
  await page.getByLabel("Turns", { exact: true }).fill("2");
  await page.getByRole("button", { name: "Play 2 turns" }).click();
  await expect(page.getByRole("heading", { name: /^Turn 2/ })).toBeVisible({ timeout: 120_000 });
  await expect(page.getByText("No forks yet")).toBeVisible();

  const session = await apiGet(page, `/api/v1/sessions/${sid}`);
  const hero = session.personas[0] as { id: string; name: string };
  await page.getByLabel("Fork at turn").fill("1");
  await page.getByLabel("Player action by").selectOption(hero.id);
  await page.getByLabel("Fork action").selectOption("rest");
  await checkA11y(page);
  const forkPost = page.waitForRequest((r) => r.method() === "POST" && r.url().endsWith(`/api/v1/sessions/${sid}/fork`));
  await page.getByRole("button", { name: "Fork", exact: true }).click();
  expect((await forkPost).postDataJSON()).toEqual({ at_turn: 1, agent_actions: { [hero.id]: { action_type: "rest", rationale: "" } } });
  const forkName = "Branching story (fork at turn 1)";
  await expect(page.getByRole("heading", { name: forkName, level: 1 })).toBeVisible({ timeout: 90_000 });
  const fid = /#\/sessions\/([^/]+)$/.exec(page.url())![1];
  expect(fid).not.toBe(sid);
  await expect.poll(() => chapterTurns(page)).toEqual([1]); // the chapters load after the heading
  const fork = await apiGet(page, `/api/v1/sessions/${fid}`);
  expect(fork.parent).toEqual({ session_id: sid, turn: 1 });

  // the tree: the original as a link, this fork marked as the current one
  const tree = page.getByRole("list", { name: "fork tree" });
  await expect(tree.getByRole("listitem")).toHaveCount(2);
  await expect(tree.getByRole("link", { name: "Branching story", exact: true })).toBeVisible();
  await expect(tree.locator("[aria-current=page]")).toHaveText(forkName);
  await expect(tree.getByRole("listitem").nth(1)).toContainText("from turn 1");

  // the fork's next turn applies the player action; the original's turn 2 had none
  await page.getByRole("button", { name: "Play one turn" }).click();
  await expect(page.getByRole("heading", { name: /^Turn 2/ })).toBeVisible({ timeout: 120_000 });
  const played = (await apiGet(page, `/api/v1/sessions/${fid}/turns?after=1`)).items[0];
  type Ev = { actor?: string; action_type?: string; flags?: string[] };
  const acted = (played.events as Ev[]).find((e) => e.actor === hero.id);
  expect(acted?.action_type).toBe("rest");
  expect(acted?.flags).toContain("player");
  const original = (await apiGet(page, `/api/v1/sessions/${sid}/turns?after=1`)).items[0].events as Ev[];
  expect(original.filter((e) => e.actor === hero.id).every((e) => !(e.flags ?? []).includes("player"))).toBe(true);
  await shot(page, "fork-tree");

  // switch to the original through the tree
  await tree.getByRole("link", { name: "Branching story", exact: true }).click();
  await expect(page.getByRole("heading", { name: "Branching story", level: 1 })).toBeVisible();
  expect(page.url()).toContain(sid);
  await expect(page.getByRole("list", { name: "fork tree" }).locator("[aria-current=page]")).toHaveText("Branching story");

  // the list: every row from the one list answer (no request per session), the fork under its story
  const asked: string[] = [];
  page.on("request", (r) => {
    const path = new URL(r.url()).pathname;
    if (path.startsWith("/api/v1/sessions")) asked.push(path);
  });
  await page.getByRole("link", { name: "All stories" }).click();
  const rows = page.locator("table.session-list tbody tr");
  await expect(rows).toHaveCount(2);
  await expect(rows.nth(0).getByRole("link")).toHaveText("Branching story");
  await expect(rows.nth(1).getByRole("link")).toHaveText(forkName);
  await expect(rows.nth(1)).toContainText("fork of Branching story at turn 1");
  await expect(rows.nth(0).getByRole("cell").nth(2)).toHaveText("2");
  await expect(rows.nth(1).getByRole("cell").nth(2)).toHaveText("2");
  await expect(rows.nth(0).getByRole("cell").nth(3)).toHaveText(session.tension.toFixed(2));
  await expect(rows.nth(1).getByRole("cell").nth(3)).toHaveText(played.tension.toFixed(2));
  expect(asked.filter((p) => p === `/api/v1/sessions/${sid}` || p === `/api/v1/sessions/${fid}`)).toEqual([]);
  await checkA11y(page);
  await shot(page, "sessions-with-forks");
});

test.describe("a fork with a new seed", () => {
  test("fork with a new seed: the fork reports it", async ({ page, server }) => {
    const user = await server.createUser("seeder");
    await signIn(page, user);
    const sid = await createStory(page, "Seeded story");
    await page.getByRole("button", { name: "Play one turn" }).click();
    await expect(page.getByRole("heading", { name: /^Turn 1/ })).toBeVisible({ timeout: 120_000 });
    await page.getByLabel("New seed").fill("12345");
    await page.getByRole("button", { name: "Fork", exact: true }).click();
    const heading = page.getByRole("heading", { name: "Seeded story (fork at turn 1)", level: 1 });
    await expect(heading.or(page.getByRole("alert"))).toBeVisible({ timeout: 90_000 });
    expect(await page.getByRole("alert").count(), await page.getByRole("alert").allInnerTexts().then((t) => t.join())).toBe(0);
    await expect(page.getByText("seed 12345").first()).toBeVisible();
    const fid = /#\/sessions\/([^/]+)$/.exec(page.url())![1];
    expect(fid).not.toBe(sid);
    expect((await apiGet(page, `/api/v1/sessions/${fid}`)).seed).toBe(12345);
  });
});
