// The cast (beliefs with credence, the truth lens) and the causal graph, with their accessibility.
import { apiGet, checkA11y, createStory, expect, shot, signIn, test } from "./fixtures";

test("the cast: a persona's beliefs with credence and the truth-vs-belief lens; the causal graph", async ({ page, server }) => {
  const user = await server.createUser("caster");
  await signIn(page, user);
  const sid = await createStory(page, "Cast story");
  await page.getByLabel("Turns", { exact: true }).fill("2");
  await page.getByRole("button", { name: "Play 2 turns" }).click();
  await expect(page.getByRole("heading", { name: /^Turn 2/ })).toBeVisible({ timeout: 120_000 });

  await page.getByRole("link", { name: "Cast" }).click();
  const agents = (await apiGet(page, `/api/v1/sessions/${sid}/agents`)) as { id: string; name: string; location: string }[];
  const rows = page.locator("table.cast-list tbody tr");
  await expect(rows).toHaveCount(agents.length);
  for (const a of agents) await expect(page.getByRole("row", { name: new RegExp(a.name) })).toContainText(a.location);

  // the persona with the most beliefs about anyone's whereabouts (so the lens has facts to check)
  let best = agents[0];
  let most = -1;
  for (const a of agents) {
    const lens = await apiGet(page, `/api/v1/sessions/${sid}/agents/${a.id}/truth-lens`);
    const n = (lens.rows as { checkable: boolean }[]).filter((r) => r.checkable).length;
    if (n > most) [best, most] = [a, n];
  }
  expect(most).toBeGreaterThan(0);
  await page.getByRole("button", { name: best.name, exact: true }).click();
  const beliefs = page.getByRole("region", { name: `What ${best.name} believes` });
  const api = (await apiGet(page, `/api/v1/sessions/${sid}/agents/${best.id}/beliefs?limit=50`)).beliefs as { key: string; credence: number }[];
  await expect(beliefs.locator("tbody tr")).toHaveCount(api.length);
  await expect(beliefs.locator("tbody tr").first()).toContainText(api[0].credence.toFixed(2));
  await checkA11y(page);

  await page.getByLabel("Truth vs belief lens").check();
  const lens = page.getByRole("region", { name: `Truth vs belief: ${best.name}` });
  await expect(lens.getByText(/checkable beliefs are wrong/)).toBeVisible();
  const lensApi = await apiGet(page, `/api/v1/sessions/${sid}/agents/${best.id}/truth-lens?limit=50`);
  const wrong = (lensApi.rows as { matches: boolean | null }[]).filter((r) => r.matches === false).length;
  await expect(lens.locator("tbody tr.wrong")).toHaveCount(wrong);
  await expect(lens.getByText(`${wrong} of ${most} checkable beliefs are wrong`)).toBeVisible();
  await checkA11y(page);
  await shot(page, "truth-lens");

  await page.getByRole("link", { name: "Causal graph" }).click();
  const graph = await apiGet(page, `/api/v1/sessions/${sid}/causal-graph`);
  await expect(page.getByText(`${graph.nodes.length} events, ${graph.links.length} links`)).toBeVisible();
  await page.getByLabel("From turn").fill("2");
  const inTurn2 = (graph.nodes as { turn: number }[]).filter((n) => n.turn >= 2).length;
  await expect(page.getByText(new RegExp(`^${inTurn2} events,`))).toBeVisible();
  await checkA11y(page);
  await shot(page, "causal-graph");
});
