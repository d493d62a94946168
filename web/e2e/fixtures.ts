// Shared fixtures: one server for the run; a page that records console errors (a test fails on
// any it did not expect), saves a screenshot at the end, and fails on a blank or error page.
import AxeBuilder from "@axe-core/playwright";
import { test as base, expect, type Page } from "@playwright/test";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { TestServer } from "./server";

export const SHOTS = fileURLToPath(new URL("../test-results/screenshots", import.meta.url));

type Fixtures = { allowConsole: RegExp | null; consoleErrors: string[] };
type WorkerFixtures = { server: TestServer };

export const test = base.extend<Fixtures, WorkerFixtures>({
  server: [
    async ({}, use) => {
      const s = new TestServer();
      await s.start();
      await use(s);
      await s.stop();
    },
    { scope: "worker", timeout: 240_000 },
  ],
  allowConsole: [null, { option: true }],
  baseURL: async ({ server }, use) => use(server.url),
  consoleErrors: async ({}, use) => use([]),
  page: async ({ page, allowConsole, consoleErrors }, use, info) => {
    page.on("console", (m) => {
      if (m.type() === "error" && !(allowConsole && allowConsole.test(m.text()))) consoleErrors.push(m.text());
    });
    page.on("pageerror", (e) => consoleErrors.push(`page error: ${e.message}`));
    await use(page);
    mkdirSync(SHOTS, { recursive: true });
    await page.screenshot({ path: join(SHOTS, `${info.titlePath.slice(1).join(" - ").replace(/[^\w-]+/g, "_")}.png`), fullPage: true });
    const text = (await page.locator("body").innerText()).trim();
    expect(text.length, "the page is blank").toBeGreaterThan(0);
    await expect(page.getByText("Something went wrong")).toHaveCount(0);
    expect(consoleErrors, "console errors").toEqual([]);
  },
});

export { expect };

/** axe-core on the page as it is: no serious or critical violations. */
export async function checkA11y(page: Page): Promise<void> {
  const r = await new AxeBuilder({ page }).analyze();
  const bad = r.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  expect(bad.map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`)).toEqual([]);
}

export async function signIn(page: Page, user: { username: string; password: string }): Promise<void> {
  await page.goto("/");
  await page.getByLabel("Username").fill(user.username);
  await page.getByLabel("Password").fill(user.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("heading", { name: "Your stories" })).toBeVisible();
}

/** Start a story from the first built-in template with a seed; returns its session id. */
export async function createStory(page: Page, name: string, seed = 7): Promise<string> {
  await page.getByLabel("Name").fill(name);
  await page.getByLabel("Seed").fill(String(seed));
  await page.getByRole("button", { name: "Start the story" }).click();
  await expect(page.getByRole("heading", { name, level: 1 })).toBeVisible({ timeout: 90_000 });
  await expect(page.getByText("Connection: live")).toBeVisible();
  const m = /#\/sessions\/([^/]+)$/.exec(page.url());
  expect(m).not.toBeNull();
  return m![1];
}

/** The turns of the chapters on the page, in order. */
export async function chapterTurns(page: Page): Promise<number[]> {
  return (await page.locator("article.chapter").evaluateAll((els) => els.map((e) => Number(e.getAttribute("data-turn")))));
}

/** Save a screenshot of the page as it is now (besides the one every test saves at its end). */
export async function shot(page: Page, name: string): Promise<void> {
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

/** GET an API path as the user signed in on ``page`` (its token from sessionStorage). */
export async function apiGet(page: Page, path: string): Promise<any> {
  const token = await page.evaluate(() => JSON.parse(sessionStorage.getItem("novel-engine.auth")!).token as string);
  const r = await page.request.get(path, { headers: { Authorization: `Bearer ${token}` } });
  expect(r.status(), await r.text()).toBe(200);
  return r.json();
}
