// The built CLI against an engine no real daemon imitates: a fake Docker API on a unix socket that
// quotes the credentials it was sent back in its errors, sends lines without end, thousands of
// layer ids and 2 MB error messages; plus hostile inputs (a corrupt config.json, a hanging
// credential helper, compose service names that try to start workflow commands). Every assertion
// is on what a CI job sees: exit code, stdout and stderr, and the report files.
import assert from "node:assert/strict";
import { chmod, mkdir, readFile, stat, writeFile } from "node:fs/promises";
import http from "node:http";
import { delimiter, dirname, join } from "node:path";
import { after, before, beforeEach, describe, it } from "node:test";
import { compileReportSchema, parseJUnit } from "../fixtures/validators.js";
import { baseEnv, runCli, tempDir } from "./run-cli.js";

type Route = (req: http.IncomingMessage, res: http.ServerResponse, auth: string | undefined) => void;

const PASSWORD = "s3cr3t-P@ss/word+hostile";
const TOKEN = "identity-token-hostile-0123";
const HOST_PASSWORD = "docker-host-pw-hostile";
const b64 = (text: string) => Buffer.from(text).toString("base64");

/** Every spelling of a secret an engine could quote: raw, JSON-escaped, base64 / base64url, padded or not. */
function forms(header: string | undefined): string[] {
  const out = [PASSWORD, TOKEN, encodeURIComponent(PASSWORD), b64(`alice:${PASSWORD}`), b64(`alice:${PASSWORD}`).replace(/=+$/, "")];
  if (header) {
    const bare = header.replace(/=+$/, "");
    const standard = bare.replace(/-/g, "+").replace(/_/g, "/");
    out.push(header, bare, standard, standard + "=".repeat((4 - (standard.length % 4)) % 4));
  }
  return out;
}

const line = (value: object) => `${JSON.stringify(value)}\r\n`;
const SUCCESS =
  line({ status: "Pulling from x", id: "1" }) +
  line({ status: "Downloading", progressDetail: { current: 10.5, total: 20.25 }, id: "aaa" }) +
  line({ status: "Pull complete", id: "aaa" }) +
  line({ status: "Digest: <b>not-a-digest</b>" }) +
  line({ status: "Status: Downloaded newer image for x" });

describe("prepull against a hostile engine (fake Docker API on a unix socket)", () => {
  let files: Awaited<ReturnType<typeof tempDir>>;
  let server: http.Server;
  let socket: string;
  let route: Route;
  /** X-Registry-Auth headers the engine received. */
  let headers: string[];
  /** Images a pull was asked for: the fake engine shows them afterwards, as a real one would after a clean stream. */
  const created = new Set<string>();
  const validate = compileReportSchema();

  before(async () => {
    files = await tempDir();
    socket = files.file("engine.sock");
    server = http.createServer((req, res) => {
      if (req.url === "/version") {
        res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify({ ApiVersion: "1.41", Version: "20.10.24" }));
        return;
      }
      if (req.url?.includes("/images/") && req.url.endsWith("/json")) {
        // The image is there once a pull of it was asked for (prepull inspects only after a clean stream).
        const name = decodeURIComponent(req.url.replace(/^\/v[\d.]+\/images\//, "").replace(/\/json$/, ""));
        if (created.has(name))
          res
            .writeHead(200, { "Content-Type": "application/json" })
            .end(JSON.stringify({ Id: "sha256:" + "f".repeat(64), RepoDigests: [], Os: "linux", Architecture: "amd64" }));
        else res.writeHead(404).end(JSON.stringify({ message: "No such image" }));
        return;
      }
      if (req.url?.includes("/images/create?")) {
        const query = new URLSearchParams(req.url.slice(req.url.indexOf("?") + 1));
        created.add(`${query.get("fromImage") ?? ""}:${query.get("tag") ?? "latest"}`);
      }
      const auth = req.headers["x-registry-auth"];
      const header = typeof auth === "string" ? auth : undefined;
      if (header) headers.push(header);
      route(req, res, header);
    });
    await new Promise<void>((resolve) => server.listen(socket, resolve));
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await files.remove();
  });
  beforeEach(() => {
    headers = [];
    route = (_req, res) => res.writeHead(200).end(SUCCESS);
  });

  let n = 0;
  async function dockerConfig(config: unknown): Promise<string> {
    const dir = files.file(`config-${n++}`);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, "config.json"), typeof config === "string" ? config : JSON.stringify(config));
    return dir;
  }
  const outputs = () => {
    const id = n++;
    return { json: files.file(`r${id}.json`), junit: files.file(`r${id}.xml`), pulled: files.file(`p${id}.txt`), summary: files.file(`s${id}.md`) };
  };
  const engineEnv = (extra: Record<string, string> = {}) => baseEnv({ DOCKER_HOST: `unix://${socket}`, PULL_RETRIES: "1", ...extra });
  async function everything(
    out: ReturnType<typeof outputs>,
    stdout: string,
    stderr: string,
  ): Promise<Record<"stdout" | "stderr" | "json" | "junit" | "pulled" | "summary", string>> {
    const read = (path: string) => readFile(path, "utf8").catch(() => "");
    return { stdout, stderr, json: await read(out.json), junit: await read(out.junit), pulled: await read(out.pulled), summary: await read(out.summary) };
  }

  it("masks the password, identity token and X-Registry-Auth (every base64 spelling) the engine quotes back, on every output", async () => {
    const config = await dockerConfig({ auths: { "basic.example": { auth: b64(`alice:${PASSWORD}`) }, "token.example": { identitytoken: TOKEN } } });
    route = (req, res, header) => {
      const decoded = header ? Buffer.from(header, "base64url").toString("utf8") : "";
      const quoted = `${forms(header).join(" ")} ${decoded}`;
      if (req.url?.includes("http-error")) {
        res.writeHead(500, { "Content-Type": "application/json" }).end(JSON.stringify({ message: `unauthorized: ${quoted}` }));
      } else {
        res
          .writeHead(200)
          .end(line({ status: `Waiting ${quoted}`, id: "layer1" }) + line({ errorDetail: { message: `denied: ${quoted}` }, error: `denied: ${quoted}` }));
      }
    };
    const out = outputs();
    const result = await runCli(
      [
        "-v",
        "--json",
        out.json,
        "--junit",
        out.junit,
        "--pulled",
        out.pulled,
        "basic.example/http-error:1",
        "basic.example/stream-error:1",
        "token.example/stream-error:1",
      ],
      { env: engineEnv({ DOCKER_CONFIG: config, GITHUB_ACTIONS: "true", GITHUB_STEP_SUMMARY: out.summary }) },
    );
    assert.equal(result.code, 1, result.stderr);
    assert.equal(headers.length, 3, "the engine was sent credentials for every image");
    const all = await everything(out, result.stdout, result.stderr);
    for (const header of headers) {
      for (const form of forms(header)) {
        for (const [name, text] of Object.entries(all)) assert.ok(!text.includes(form), `${name} leaks ${form}`);
      }
    }
    assert.match(all.stdout, /::error title=prepull%3A basic\.example\/http-error%3A1::permanent: unauthorized: \*\*\*/);
    assert.match(all.json, /denied: \*\*\*/);
    assert.equal(validate(JSON.parse(all.json)), true, JSON.stringify(validate.errors));
    parseJUnit(all.junit);
  });

  it("never quotes a password in DOCKER_HOST, in messages or reports", async () => {
    const out = outputs();
    const result = await runCli(["--json", out.json, "--junit", out.junit, "r.example/a:1"], {
      env: baseEnv({ DOCKER_HOST: `tcp://admin:${HOST_PASSWORD}@127.0.0.1:2375`, GITHUB_ACTIONS: "true", GITHUB_STEP_SUMMARY: out.summary }),
    });
    assert.equal(result.code, 3);
    for (const [name, text] of Object.entries(await everything(out, result.stdout, result.stderr)))
      assert.ok(!text.includes(HOST_PASSWORD), `${name} leaks the DOCKER_HOST password`);
    assert.match(await readFile(out.json, "utf8"), /tcp:\/\/admin:\*\*\*@127\.0\.0\.1:2375/);
  });

  it("fails an attempt whose line has no end after 1 MiB, with a clear reason and bounded effort", async () => {
    route = (_req, res) => {
      res.writeHead(200);
      const block = "x".repeat(64 * 1024);
      // 50 MB without a newline, written as the socket drains; the old buffer did not finish in 60 s.
      let sent = 0;
      const pump = () => {
        while (sent < 800 && !res.destroyed && res.write(block)) sent++;
        if (sent < 800 && !res.destroyed) res.once("drain", pump);
        else res.end();
      };
      pump();
    };
    const out = outputs();
    const started = Date.now();
    const peak = { rssKb: 0 };
    const result = await runCli(["--json", out.json, "r.example/long-line:1"], {
      env: engineEnv(),
      timeoutMs: 60_000,
      onSpawn: (child) => watchRss(child, peak),
    });
    assert.equal(result.code, 1, result.stderr);
    assert.ok(Date.now() - started < 30_000, "a bound, far above the normal ~1 s");
    // A ceiling, not a measurement: the old buffer needed 204 MB for a 10 MB line.
    assert.ok(peak.rssKb > 0 && peak.rssKb < 200 * 1024, `peak RSS ${peak.rssKb} kB`);
    const report = JSON.parse(await readFile(out.json, "utf8")) as { images: Array<{ attempts: Array<{ message: string }> }> };
    assert.match(report.images[0]?.attempts[0]?.message ?? "", /pull-stream line longer than 1 MiB/);
  });

  it("handles SIGTERM while the engine floods the stream with distinct layer ids: exit 143, reports written", async () => {
    route = (_req, res) => {
      res.writeHead(200);
      let i = 0;
      const pump = () => {
        let chunk = "";
        for (let k = 0; k < 500; k++) chunk += line({ status: "Downloading", progressDetail: { current: i, total: 1e6 }, id: `layer-${i++ % 900}` });
        if (!res.destroyed && res.write(chunk)) setImmediate(pump);
        else if (!res.destroyed) res.once("drain", pump);
      };
      pump();
    };
    const out = outputs();
    let killedAt = 0;
    const result = await runCli(["--json", out.json, "--junit", out.junit, "r.example/flood:1"], {
      env: engineEnv(),
      onSpawn: (child) => {
        setTimeout(() => {
          killedAt = Date.now();
          child.kill("SIGTERM");
        }, 1500);
      },
    });
    assert.equal(result.code, 143, result.stderr);
    assert.ok(Date.now() - killedAt < 10_000, "exited long after SIGTERM");
    const report = JSON.parse(await readFile(out.json, "utf8")) as { interrupted?: string };
    assert.equal(report.interrupted, "SIGTERM");
    parseJUnit(await readFile(out.junit, "utf8"));
  });

  it("records a 1 MB engine error in small reports and a step summary under 1 MiB, saying what was cut", async () => {
    // Just under the 1 MiB line cap: the longest message prepull reads at all (a 2 MB line fails as too long).
    route = (_req, res) => res.writeHead(200).end(line({ error: `manifest unknown: ${"m".repeat(1_000_000)}` }));
    const out = outputs();
    const images = Array.from({ length: 3 }, (_, i) => `r.example/big-error-${i}:1`);
    const result = await runCli(["--json", out.json, "--junit", out.junit, ...images], {
      env: engineEnv({ GITHUB_ACTIONS: "true", GITHUB_STEP_SUMMARY: out.summary }),
    });
    assert.equal(result.code, 1);
    for (const path of [out.json, out.junit, out.summary]) {
      const size = (await stat(path)).size;
      assert.ok(size < 200_000, `${path}: ${size} bytes`);
    }
    assert.ok(result.stdout.length < 200_000);
    assert.match(await readFile(out.json, "utf8"), /more characters cut/);
    assert.equal(validate(JSON.parse(await readFile(out.json, "utf8"))), true);
  });

  it("keeps the JSON valid against its schema when the engine sends an odd digest and fractional byte counts", async () => {
    const out = outputs();
    const result = await runCli(["--json", out.json, "r.example/odd:1"], { env: engineEnv() });
    assert.equal(result.code, 0, result.stderr);
    const report = JSON.parse(await readFile(out.json, "utf8")) as { images: Array<{ digest?: string; bytes: number }> };
    assert.equal(validate(report), true, JSON.stringify(validate.errors));
    assert.equal(report.images[0]?.digest, undefined);
    assert.equal(report.images[0]?.bytes, 20);
  });

  it("honours a deadline past Node's 2^31-1 ms timer limit (it used to end every image after ~1 ms)", async () => {
    const result = await runCli(["r.example/deadline:1"], { env: engineEnv({ PULL_DEADLINE: "2147484" }) });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /1 pulled/);
  });

  it("refuses one path for two outputs with exit 2, before contacting the engine", async () => {
    const path = files.file("same.out");
    const result = await runCli(["--json", path, "--junit", path, "r.example/a:1"], { env: engineEnv() });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /--json and --junit name the same file/);
    assert.equal(headers.length, 0);
  });

  it("warns once about a corrupt config.json and pulls anonymously; only an image that needs credentials fails", async () => {
    const config = await dockerConfig(`{"auths": {"r.example": {"auth": "${b64(`alice:${PASSWORD}`)}"}, ${PASSWORD}`);
    route = (req, res, header) => {
      if (header) return res.writeHead(500).end(JSON.stringify({ message: "credentials were sent" }));
      if (req.url?.includes("private")) return res.writeHead(200).end(line({ error: "unauthorized: authentication required" }));
      res.writeHead(200).end(SUCCESS);
    };
    const out = outputs();
    const result = await runCli(["--json", out.json, "r.example/public-a:1", "r.example/public-b:1", "other.example/public:1", "r.example/private:1"], {
      env: engineEnv({ DOCKER_CONFIG: config }),
    });
    assert.equal(result.code, 1, result.stderr);
    assert.equal(result.stderr.match(/warning: cannot use the Docker config/g)?.length, 1, result.stderr);
    assert.ok(!result.stderr.includes(PASSWORD));
    const report = JSON.parse(await readFile(out.json, "utf8")) as { images: Array<{ reference: string; status: string; class: string }> };
    assert.deepEqual(
      report.images.map((i) => [i.reference, i.status, i.class]),
      [
        ["r.example/public-a:1", "pulled", "pulled"],
        ["r.example/public-b:1", "pulled", "pulled"],
        ["other.example/public:1", "pulled", "pulled"],
        ["r.example/private:1", "failed", "permanent"],
      ],
    );
  });

  async function hangingHelper(): Promise<{ env: Record<string, string>; pids: string }> {
    const bin = files.file(`bin-${n++}`);
    await mkdir(bin, { recursive: true });
    const pids = files.file(`helper-${n++}.pid`);
    const helper = join(bin, "docker-credential-hang");
    // The helper and a child of it both hang; both pids are written once they run.
    await writeFile(
      helper,
      `#!/usr/bin/env node
const child = require("node:child_process").spawn(process.execPath, ["-e", "setTimeout(() => {}, 120000)"], { stdio: "ignore" });
require("node:fs").writeFileSync(${JSON.stringify(pids)}, process.pid + " " + child.pid);
setTimeout(() => {}, 120000);
`,
    );
    await chmod(helper, 0o755);
    const config = await dockerConfig({ credsStore: "hang" });
    return { pids, env: engineEnv({ DOCKER_CONFIG: config, PATH: [bin, dirname(process.execPath), process.env.PATH ?? ""].join(delimiter) }) };
  }

  /** Sends `signals` once the helper runs; resolves with the time the first was sent. */
  function signalWhenHelperRuns(pids: string, signals: NodeJS.Signals[]) {
    const sent = { at: 0 };
    const onSpawn = (child: import("node:child_process").ChildProcess) => {
      const poll = setInterval(() => {
        void readFile(pids, "utf8").then(
          (text) => {
            if (!text.includes(" ")) return;
            clearInterval(poll);
            sent.at = Date.now();
            for (const signal of signals) child.kill(signal);
          },
          () => undefined,
        );
      }, 50);
    };
    return { sent, onSpawn };
  }

  it("exits 143 at once on SIGTERM while a credential helper hangs, and leaves neither the helper nor its child behind", async () => {
    const { env, pids } = await hangingHelper();
    const out = outputs();
    const { sent, onSpawn } = signalWhenHelperRuns(pids, ["SIGTERM"]);
    const result = await runCli(["--json", out.json, "r.example/a:1"], { env, onSpawn });
    assert.equal(result.code, 143, result.stderr);
    // The helper's own timeout is 30 s; CI runners SIGKILL a few seconds after SIGTERM.
    assert.ok(Date.now() - sent.at < 5_000, `exit took ${Date.now() - sent.at} ms after SIGTERM`);
    await assertAllGone(pids);
    assert.equal((JSON.parse(await readFile(out.json, "utf8")) as { interrupted?: string }).interrupted, "SIGTERM");
  });

  it("leaves no credential helper running after a second signal makes it exit at once", async () => {
    const { env, pids } = await hangingHelper();
    const { onSpawn } = signalWhenHelperRuns(pids, ["SIGINT", "SIGINT"]);
    const result = await runCli(["r.example/a:1"], { env, onSpawn });
    assert.equal(result.code, 130, result.stderr);
    await assertAllGone(pids);
  });

  it("prints compose service names with newlines or escapes as text, never as a workflow command", async () => {
    const dir = files.file(`compose-${n++}`);
    await mkdir(dir, { recursive: true });
    await writeFile(
      join(dir, "compose.yaml"),
      'services:\n  "evil\\n::error::pwned\\u001b[31m":\n    build: .\n  app:\n    image: "r.example/app:1"\n  "x\\n::warning::also":\n    image: "${UNSET_VAR}r.example/b:1"\n',
    );
    const result = await runCli(["--compose", dir], { env: engineEnv({ GITHUB_ACTIONS: "true" }) });
    assert.equal(result.code, 0, result.stderr);
    for (const text of [result.stdout, result.stderr]) {
      for (const printed of text.split("\n")) {
        assert.doesNotMatch(printed.trimStart(), /^::(error|warning)::(pwned|also)/, printed);
        assert.ok(!printed.includes("\u001b"), `raw escape in ${JSON.stringify(printed)}`);
      }
    }
    assert.match(result.stderr, /not pullable: service "evil\\n::error::pwned\\u001b\[31m"/);
  });
});

/** Samples the child's resident memory from /proc until it exits, keeping the peak. */
function watchRss(child: import("node:child_process").ChildProcess, peak: { rssKb: number }): void {
  const timer = setInterval(() => {
    void readFile(`/proc/${child.pid}/status`, "utf8").then(
      (status) => {
        const kb = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0);
        peak.rssKb = Math.max(peak.rssKb, kb);
      },
      () => undefined,
    );
  }, 20);
  child.on("exit", () => clearInterval(timer));
}

async function assertAllGone(pidsFile: string): Promise<void> {
  const pids = (await readFile(pidsFile, "utf8")).split(" ").map(Number);
  // SIGKILL is delivered at once, but the kernel reaps the process a moment later.
  for (let i = 0; i < 100 && pids.some(alive); i++) await new Promise((resolve) => setTimeout(resolve, 20));
  assert.deepEqual(pids.filter(alive), [], "a credential helper process is still running");
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
