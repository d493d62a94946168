// The app end to end: sign in, start a story, play turns and watch them arrive over the socket,
// explain an event, survive a server restart, show a broken scenario's field errors, keep users apart.
import { apiGet, checkA11y, chapterTurns, createStory, expect, shot, signIn, test } from "./fixtures";

test("sign in, start a story and see the turns arrive live on another tab", async ({ page, server, context }) => {
  const user = await server.createUser("reader");
  await signIn(page, user);
  await checkA11y(page);
  const sid = await createStory(page, "Live story");

  // a second tab watches: it only learns of new turns over its WebSocket
  const watcher = await context.newPage();
  await signIn(watcher, user);
  await watcher.goto(`/#/sessions/${sid}`);
  await expect(watcher.getByText("Connection: live")).toBeVisible();
  await expect(watcher.getByText("No turns played yet")).toBeVisible();

  await page.getByLabel("Turns", { exact: true }).fill("2");
  await page.getByRole("button", { name: "Play 2 turns" }).click();
  await expect(page.getByRole("heading", { name: /^Turn 2/ })).toBeVisible({ timeout: 120_000 });
  await expect(watcher.getByRole("heading", { name: /^Turn 2/ })).toBeVisible({ timeout: 60_000 });
  expect(await chapterTurns(watcher)).toEqual([1, 2]);

  // the prose shown is the server's prose for each turn
  const narrative = await apiGet(page, `/api/v1/sessions/${sid}/narrative`);
  for (const t of narrative.turns as { turn: number; prose: string }[]) {
    const firstPara = t.prose.split(/\n{2,}/)[0];
    await expect(watcher.locator(`article[data-turn="${t.turn}"] .prose`)).toContainText(firstPara.slice(0, 60));
  }
  await checkA11y(page);
  await shot(watcher, "story-view");
  await watcher.close();

  // the list shows the session with its turn
  await page.getByRole("link", { name: "All stories" }).click();
  const row = page.getByRole("row", { name: /Live story/ });
  await expect(row.getByRole("cell").nth(2)).toHaveText("2");
});

test("explain an event: its chain of causes, as the API gives it", async ({ page, server }) => {
  const user = await server.createUser("explainer");
  await signIn(page, user);
  const sid = await createStory(page, "Why story");
  await page.getByLabel("Turns", { exact: true }).fill("3");
  await page.getByRole("button", { name: "Play 3 turns" }).click();
  await expect(page.getByRole("heading", { name: /^Turn 3/ })).toBeVisible({ timeout: 120_000 });
  // an event of the last turn that has causes, as the API's causal graph says
  const graph = await apiGet(page, `/api/v1/sessions/${sid}/causal-graph`);
  const caused = new Set((graph.links as { target: string }[]).map((l) => l.target));
  const nodes = graph.nodes as { id: string; turn: number; summary: string }[];
  const target = nodes.filter((n) => caused.has(n.id)).sort((a, b) => b.turn - a.turn)[0];
  expect(target, "no event with a cause in three turns").toBeTruthy();
  const expected = (await apiGet(page, `/api/v1/sessions/${sid}/events/${target.id}/explain`)).causes
    .filter((c: { event_id: string }) => c.event_id !== target.id)
    .map((c: { summary: string }) => c.summary);
  expect(expected.length).toBeGreaterThan(0);

  const chapter = page.locator(`article[data-turn="${target.turn}"]`);
  await chapter.scrollIntoViewIfNeeded();
  await chapter.locator("summary").click();
  await chapter.getByRole("button", { name: target.summary, exact: true }).first().click();
  const panel = page.getByRole("region", { name: /^Why:/ });
  await expect(panel.getByRole("heading")).toContainText(target.summary);
  const shown = panel.getByRole("list", { name: "chain of causes" }).getByRole("listitem");
  await expect(shown).toHaveCount(expected.length);
  const texts = await shown.allInnerTexts();
  expected.forEach((summary: string, i: number) => expect(texts[i]).toContain(summary));
  await checkA11y(page);
  await shot(page, "explain");

  // fork at turn 2: a new story of the user's with the first two chapters, then its own way
  await page.getByLabel("Fork at turn").fill("2");
  await page.getByRole("button", { name: "Fork", exact: true }).click();
  await expect(page.getByRole("heading", { name: "Why story (fork at turn 2)", level: 1 })).toBeVisible({ timeout: 90_000 });
  expect(page.url()).not.toContain(sid);
  await expect(page.getByRole("heading", { name: /^Turn 2/ })).toBeVisible();
  expect(await chapterTurns(page)).toEqual([1, 2]);
  await page.getByRole("link", { name: "All stories" }).click();
  await expect(page.getByRole("link", { name: "Why story (fork at turn 2)" })).toBeVisible();
  await expect(page.getByRole("link", { name: "Why story", exact: true })).toBeVisible();
});

test.describe("a restart", () => {
  test.use({ allowConsole: /WebSocket connection to .* failed|Failed to load resource/ });

  test("the server restarts mid-story: the page reconnects, nothing lost or doubled", async ({ page, server }) => {
    const user = await server.createUser("survivor");
    await signIn(page, user);
    await createStory(page, "Enduring story");
    await page.getByLabel("Turns", { exact: true }).fill("2");
    await page.getByRole("button", { name: "Play 2 turns" }).click();
    await expect(page.getByRole("heading", { name: /^Turn 2/ })).toBeVisible({ timeout: 120_000 });

    await server.stop();
    await expect(page.getByText(/Connection: connection lost: reconnecting/)).toBeVisible();
    await server.start();
    await expect(page.getByText("Connection: live")).toBeVisible({ timeout: 120_000 });

    await page.getByRole("button", { name: "Play 2 turns" }).click();
    await expect(page.getByRole("heading", { name: /^Turn 4/ })).toBeVisible({ timeout: 180_000 });
    expect(await chapterTurns(page)).toEqual([1, 2, 3, 4]);
    await shot(page, "after-restart");
    // and a fresh load of the page reads the same four chapters
    await page.reload();
    await expect(page.getByRole("heading", { name: /^Turn 4/ })).toBeVisible({ timeout: 60_000 });
    expect(await chapterTurns(page)).toEqual([1, 2, 3, 4]);
  });
});

test.describe("errors", () => {
  test.use({ allowConsole: /Failed to load resource: the server responded with a status of (404|422)/ });

  test("a broken scenario upload shows the API's field errors", async ({ page, server }) => {
    const user = await server.createUser("uploader");
    await signIn(page, user);
    await page.getByLabel("Upload a YAML scenario").check();
    const broken = [
      "title: Broken",
      "locations:",
      "  - id: hall",
      "    name: Hall",
      "personas:",
      "  - id: ada",
      "    name: Ada",
      "    location: moon",
      "",
    ].join("\n");
    await page.getByLabel("Scenario file (YAML)").setInputFiles({ name: "broken.yaml", mimeType: "text/yaml", buffer: Buffer.from(broken) });
    await page.getByRole("button", { name: "Start the story" }).click();
    const alert = page.getByRole("alert");
    await expect(alert).toContainText("The story could not start");
    const fields = alert.getByRole("list", { name: "field errors" }).getByRole("listitem");
    await expect(fields.first()).toContainText("body.scenario.");
    await expect(alert).toContainText("moon");
    await checkA11y(page);
  });

  test("a second user sees none of the first user's sessions", async ({ page, server, browser }) => {
    const ann = await server.createUser("ann");
    await signIn(page, ann);
    const sid = await createStory(page, "Ann's secret story");

    const other = await browser.newContext({ baseURL: server.url });
    const bobPage = await other.newPage();
    const errors: string[] = [];
    bobPage.on("console", (m) => {
      if (m.type() === "error" && !/status of 404/.test(m.text())) errors.push(m.text());
    });
    await signIn(bobPage, await server.createUser("bob"));
    await expect(bobPage.getByText("No stories yet")).toBeVisible();
    await expect(bobPage.getByText("Ann's secret story")).toHaveCount(0);
    await bobPage.goto(`/#/sessions/${sid}`);
    await expect(bobPage.getByRole("alert").first()).toContainText(/no session|not found/i);
    await expect(bobPage.getByRole("heading", { name: "Ann's secret story" })).toHaveCount(0);
    await expect(bobPage.getByText("Connection: live")).toHaveCount(0);
    await bobPage.screenshot({ path: "test-results/screenshots/second_user_denied.png", fullPage: true });
    expect(errors).toEqual([]);
    await other.close();
  });
});
