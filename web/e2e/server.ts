// A real `novel-engine serve` for the tests: its own Ray instance, an embedded store in a temporary
// folder, a fixed JWT secret (so tokens outlive a restart), on a free loopback port. Stopped with
// SIGTERM (the server shuts Serve down), then SIGKILL of its own process group if it hangs.
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const REPO = fileURLToPath(new URL("../..", import.meta.url));
export const NOVEL_ENGINE = process.env.NOVEL_ENGINE_BIN ?? join(REPO, ".venv", "bin", "novel-engine");

async function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.once("error", fail);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => ok(port));
    });
  });
}

export class TestServer {
  readonly dataDir = mkdtempSync(join(tmpdir(), "ne-web-e2e-"));
  readonly secret = randomBytes(48).toString("base64url");
  port = 0;
  log = "";
  private proc: ChildProcess | null = null;

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  private env(): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      NOVEL_ENGINE_DATA_DIR: this.dataDir, NOVEL_ENGINE_JWT_SECRET: this.secret, PYTHONUNBUFFERED: "1",
      // Serve's Python proxy: HAProxy's stats and metrics ports are fixed, and other servers on a
      // shared machine (another test run) may hold them
      NOVEL_ENGINE_SERVE_INGRESS: "proxy",
    };
    delete env.RAY_ADDRESS;
    return env;
  }

  /** Start the server; a Ray node that times out starting (a machine under heavy load) is tried again. */
  async start(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.startOnce();
        return;
      } catch (err) {
        if (attempt >= 3 || !/timed out during startup/.test(String(err))) throw err;
        this.log = "";
      }
    }
  }

  private async startOnce(): Promise<void> {
    if (!this.port) this.port = await freePort();
    const proc = spawn(NOVEL_ENGINE, ["serve", "--port", String(this.port), "--dev"], {
      env: this.env(),
      detached: true, // its own process group, so a hung stop can end Ray's children too
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.proc = proc;
    const ready = new Promise<void>((ok, fail) => {
      const onData = (b: Buffer) => {
        this.log += b.toString();
        if (this.log.includes("Novel Engine API:")) ok();
      };
      proc.stdout!.on("data", onData);
      proc.stderr!.on("data", onData);
      proc.once("exit", (code) => fail(new Error(`novel-engine serve exited (${code}):\n${this.log.slice(-3000)}`)));
    });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, fail) => {
      timer = setTimeout(() => fail(new Error(`novel-engine serve did not start in 180 s:\n${this.log.slice(-3000)}`)), 180_000);
    });
    try {
      await Promise.race([ready, timeout]);
    } finally {
      clearTimeout(timer);
    }
    // Serve's proxy learns the app's routes a moment after `serve.run` returns (longer on a loaded machine)
    let last = "no answer";
    for (let i = 0; i < 360; i++) {
      try {
        const r = await fetch(`${this.url}/health`, { signal: AbortSignal.timeout(5_000) });
        if (r.ok) return;
        last = `HTTP ${r.status}`;
      } catch (err) {
        last = String(err);
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    throw new Error(`the server never answered /health (last: ${last}):\n${this.log.slice(-2000)}`);
  }

  async stop(): Promise<void> {
    const proc = this.proc;
    this.proc = null;
    if (!proc || proc.exitCode !== null) return;
    const exited = new Promise<void>((ok) => proc.once("exit", () => ok()));
    proc.kill("SIGTERM");
    const t = setTimeout(() => {
      try {
        process.kill(-proc.pid!, "SIGKILL");
      } catch {
        /* already gone */
      }
    }, 60_000);
    await exited;
    clearTimeout(t);
  }

  /** Create a user with the CLI, against the same store. */
  async createUser(prefix: string, password = "correct horse battery"): Promise<{ username: string; password: string }> {
    const username = `${prefix}${randomBytes(4).toString("hex")}`;
    await new Promise<void>((ok, fail) => {
      const p = spawn(NOVEL_ENGINE, ["users", "create", username, "--password-stdin"], { env: this.env(), stdio: ["pipe", "pipe", "pipe"] });
      let out = "";
      p.stdout!.on("data", (b) => (out += b));
      p.stderr!.on("data", (b) => (out += b));
      p.stdin!.end(`${password}\n`);
      p.once("exit", (code) => (code === 0 ? ok() : fail(new Error(`users create failed (${code}): ${out}`))));
    });
    return { username, password };
  }
}
