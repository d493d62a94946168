// Benchmark, not a test (run with `npm run bench:render`): the time from opening a story's page to
// its last chapter on screen, for a 100-turn story and, as the baseline in the same run, a 1-turn
// one. Prints the figures with the load average and writes them to ../bench-results/web-render.json.
import { mkdirSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { createStory, expect, signIn, test } from "./fixtures";

async function timeToLastChapter(page: import("@playwright/test").Page, sid: string, last: number): Promise<number> {
  await page.goto("/#/");
  await expect(page.getByRole("heading", { name: "Your stories" })).toBeVisible();
  const t0 = await page.evaluate(() => performance.now());
  await page.evaluate((sid) => (window.location.hash = `#/sessions/${sid}`), sid);
  await page.locator(`article[data-turn="${last}"]`).waitFor({ timeout: 60_000 });
  return (await page.evaluate(() => performance.now())) - t0;
}

test("render a 100-turn story", async ({ page, server }) => {
  test.setTimeout(1_200_000);
  await signIn(page, await server.createUser("bench"));
  const token = await page.evaluate(() => JSON.parse(sessionStorage.getItem("novel-engine.auth")!).token as string);
  const headers = { Authorization: `Bearer ${token}` };
  const ids: Record<number, string> = {};
  for (const turns of [1, 100]) {
    await page.goto("/#/");
    ids[turns] = await createStory(page, `Bench ${turns}`);
    for (let i = 0; i < turns; i++) {
      const r = await page.request.post(`/api/v1/sessions/${ids[turns]}/turns`, { headers, data: {} });
      expect(r.status()).toBe(200);
    }
  }
  const runs: Record<string, number[]> = { "1": [], "100": [] };
  for (let i = 0; i < 3; i++) for (const turns of [1, 100]) runs[turns].push(await timeToLastChapter(page, ids[turns], turns));
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const result = {
    what: "ms from opening the story view to its last chapter on screen (median of 3, warm cache)",
    turns_100_ms: Math.round(median(runs["100"])),
    baseline_turns_1_ms: Math.round(median(runs["1"])),
    runs,
    loadavg: loadavg().map((x) => Number(x.toFixed(2))),
  };
  console.log(JSON.stringify(result));
  mkdirSync("../bench-results", { recursive: true });
  writeFileSync("../bench-results/web-render.json", JSON.stringify(result, null, 1) + "\n");
});
