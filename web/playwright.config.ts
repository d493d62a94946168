// End-to-end tests in Debian's Chromium (never a browser Playwright downloads) against a real
// `novel-engine serve` that the tests start on a free loopback port (see e2e/server.ts).
import { defineConfig } from "@playwright/test";

export default defineConfig({
  testDir: "e2e",
  // *.spec.ts are the tests; *.bench.ts are benchmarks, run on their own (npm run bench:render)
  testMatch: process.env.NE_BENCH ? "**/*.bench.ts" : "**/*.spec.ts",
  outputDir: "test-results/artifacts",
  workers: 1, // one server, and the machine has two cores
  fullyParallel: false,
  timeout: 240_000,
  expect: { timeout: 30_000 },
  reporter: [["list"]],
  use: {
    browserName: "chromium",
    headless: true,
    viewport: { width: 1280, height: 1400 },
    launchOptions: { executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium", args: ["--no-sandbox"] },
    actionTimeout: 30_000,
    navigationTimeout: 60_000,
  },
});
