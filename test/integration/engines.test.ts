// The core promises on a second engine, a real podman 4.3 (`podman system service` started by the
// harness, same registry and fault proxy), and docker contexts on the harness's dockerd. What
// differs from dockerd is said where it is asserted; README "Engines" lists it too.
import assert from "node:assert/strict";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { formatLog } from "../../stack/fault-proxy.js";
import { startStack, type Stack } from "../../stack/stack.js";
import { compileReportSchema } from "../fixtures/validators.js";
import { baseEnv, runCli, tempDir, type CliResult } from "./run-cli.js";

const FAST = { PULL_BACKOFF_BASE: "0.2", PULL_BACKOFF_MAX: "1", PULL_POLICY: "always", PULL_PARALLEL: "2" };

interface JsonReport {
  exitCode: number;
  interrupted?: string;
  images: Array<{ reference: string; status: string; class: string; digest?: string; platform?: string; attempts: Array<{ class: string; message?: string }> }>;
}

async function readReport(path: string): Promise<JsonReport> {
  const report = JSON.parse(await readFile(path, "utf8")) as JsonReport;
  const validate = compileReportSchema();
  assert.ok(validate(report), JSON.stringify(validate.errors));
  return report;
}

describe("prepull on podman's Docker-compatible API", () => {
  let stack: Stack;
  let env: Record<string, string>;
  let files: Awaited<ReturnType<typeof tempDir>>;

  before(async () => {
    stack = await startStack({ engine: "podman", seed: 13 });
    env = baseEnv({ DOCKER_HOST: stack.engine.dockerHost, ...FAST });
    files = await tempDir();
  });
  after(async () => {
    stack?.proxy.closeStalled();
    await stack?.stop();
    await files?.remove();
  });

  // podman asks for a manifest with one GET (dockerd: HEAD, then GET by digest): one per attempt.
  const attemptsOn = (repository: string, tag = "1") => stack.proxy.count({ repository, kind: "manifest", ref: tag });
  const why = (run: CliResult, repository?: string) =>
    `exit ${run.code}\n--- stderr\n${run.stderr}\n--- proxy\n${formatLog(stack.proxy.requests(repository ? { repository } : {}))}`;

  it("pulls a clean batch, each image once, though podman sends no final status line", async () => {
    const repos = [stack.image("alpha"), stack.image("beta"), stack.image("gamma")];
    for (const repo of repos) await stack.pushImage(repo, "1", { sizeBytes: 200_000, layers: 2 });
    const json = files.file("clean.json");
    const run = await runCli([...repos.map((r) => stack.ref(r, "1")), "--json", json], { env });
    assert.equal(run.code, 0, why(run));
    assert.deepEqual(
      repos.map((r) => attemptsOn(r)),
      [1, 1, 1],
    );
    const report = await readReport(json);
    assert.deepEqual(
      report.images.map((i) => [i.status, i.platform]),
      repos.map(() => ["pulled", "linux/amd64"]),
    );
    assert.match(run.stdout, /3 pulled/);
  });

  it("rides out a window of manifest 500s (podman does not retry them itself)", async () => {
    const repo = stack.image("flaky");
    await stack.pushImage(repo, "1");
    // By count, not by time: on a loaded machine a time window may close before the first attempt.
    stack.proxy.addFault({ match: { kind: "manifest", repository: repo }, when: { times: 2 }, action: { status: 500 } });
    const json = files.file("flaky.json");
    const run = await runCli([stack.ref(repo, "1"), "--json", json], { env });
    assert.equal(run.code, 0, why(run, repo));
    const attempts = (await readReport(json)).images[0]?.attempts ?? [];
    assert.equal(attemptsOn(repo), 3, why(run, repo));
    assert.deepEqual(
      attempts.map((a) => a.class),
      ["transient", "transient", "pulled"],
    );
    // podman 4.3 wraps the registry's status in its own words, inside a 200 stream.
    assert.match(
      attempts[0]?.message ?? "",
      /^initializing source docker:\/\/.*: reading manifest 1 in .*: received unexpected HTTP status: 500 Internal Server Error$/,
    );
  });

  it("tries an unknown tag once and exits 1", async () => {
    const repo = stack.image("known");
    await stack.pushImage(repo, "1");
    const run = await runCli([stack.ref(repo, "nope")], { env });
    assert.equal(run.code, 1, why(run, repo));
    assert.equal(attemptsOn(repo, "nope"), 1);
    assert.match(run.stderr, /FAILED .*:nope after 1 attempt \[permanent\]: .*manifest unknown/);
  });

  for (const status of [401, 403]) {
    it(`gives up on a ${status} from the registry after one attempt`, async () => {
      const repo = stack.image(`denied${status}`);
      await stack.pushImage(repo, "1");
      stack.proxy.addFault({ match: { kind: "manifest", repository: repo }, action: { status } });
      const run = await runCli([stack.ref(repo, "1")], { env });
      assert.equal(run.code, 1, why(run, repo));
      assert.equal(attemptsOn(repo), 1);
      assert.match(
        run.stderr,
        status === 401 ? /\[permanent\]: .*unauthorized: authentication required/ : /\[permanent\]: .*denied: requested access to the resource is denied/,
      );
    });
  }

  it("skips an arm64-only image after one attempt (podman's own words for a missing platform)", async () => {
    const repo = stack.image("armonly");
    await stack.pushPlatformList(repo, "1", ["arm64"]);
    const run = await runCli([stack.ref(repo, "1")], { env });
    assert.equal(run.code, 0, why(run, repo));
    assert.equal(attemptsOn(repo), 1);
    assert.match(run.stderr, /skipped .*: .*no image found in manifest list for architecture amd64/);
    assert.match(run.stdout, /1 skipped/);
  });

  it("absorbs a short rate limit inside podman: it retries 429 itself (2 s, 4 s ...), so prepull sees one slow success", async () => {
    const repo = stack.image("quota");
    await stack.pushImage(repo, "1");
    stack.proxy.addFault({ match: { kind: "manifest", repository: repo }, when: { times: 2 }, action: { status: 429 } });
    const json = files.file("quota.json");
    const run = await runCli([stack.ref(repo, "1"), "--json", json], { env, timeoutMs: 60_000 });
    assert.equal(run.code, 0, why(run, repo));
    assert.equal(stack.proxy.count({ repository: repo, kind: "manifest", status: 429 }), 2);
    assert.equal(attemptsOn(repo), 3, "two 429s and the GET that succeeded, all in one podman pull");
    assert.deepEqual(
      (await readReport(json)).images[0]?.attempts.map((a) => a.class),
      ["pulled"],
    );
  });

  it("aborts a pull whose manifest never comes (podman answers 200 at once, then stays silent) as stalled", async () => {
    const repo = stack.image("stuck");
    await stack.pushImage(repo, "1");
    stack.proxy.addFault({ name: "stall", match: { kind: "manifest", repository: repo }, action: { stall: true } });
    const json = files.file("stall.json");
    const run = await runCli([stack.ref(repo, "1"), "--json", json], { env: { ...env, PULL_STALL_TIMEOUT: "2", PULL_RETRIES: "1" } });
    stack.proxy.closeStalled();
    assert.equal(run.code, 1, why(run, repo));
    const image = (await readReport(json)).images[0];
    assert.equal(image?.class, "stalled");
    // No progress line yet, so no layer to name: the wait is for the registry's answer.
    assert.match(image?.attempts[0]?.message ?? "", /^no progress for 2(\.\d)?s waiting for the registry's answer/);
  });

  it("with --pull missing, finds what podman already has (for this platform) and does not pull it again", async () => {
    const repo = stack.image("present");
    await stack.pushImage(repo, "1");
    const ref = stack.ref(repo, "1");
    const first = await runCli([ref], { env });
    assert.equal(first.code, 0, why(first, repo));
    const json = files.file("present.json");
    const second = await runCli([ref, "--pull", "missing", "--json", json], { env });
    assert.equal(second.code, 0, why(second, repo));
    assert.equal(attemptsOn(repo), 1, "no second pull");
    assert.equal((await readReport(json)).images[0]?.status, "present");
  });

  it("pulls the platform asked for from a two-platform index, and reports it", async () => {
    const repo = stack.image("two");
    await stack.pushPlatformList(repo, "1", ["amd64", "arm64"]);
    const json = files.file("two.json");
    const run = await runCli([stack.ref(repo, "1"), "--platform", "linux/arm64", "--json", json], { env });
    assert.equal(run.code, 0, why(run, repo));
    assert.deepEqual(
      (await readReport(json)).images.map((i) => [i.status, i.platform]),
      [["pulled", "linux/arm64"]],
    );
  });

  it("on SIGINT cancels the pulls, still writes the report, and exits 130", async () => {
    const repo = stack.image("sigint");
    await stack.pushImage(repo, "1");
    stack.proxy.addFault({ match: { kind: "manifest", repository: repo }, action: { stall: true } });
    const json = files.file("sigint.json");
    const run = await runCli([stack.ref(repo, "1"), "--json", json], {
      env,
      onSpawn: (child) => {
        void stack.proxy.waitFor({ repository: repo, kind: "manifest" }, { count: 1, timeoutMs: 30_000 }).then(() => child.kill("SIGINT"));
      },
    });
    stack.proxy.closeStalled();
    assert.equal(run.code, 130, why(run, repo));
    const report = await readReport(json);
    assert.equal(report.interrupted, "SIGINT");
    assert.equal(report.images[0]?.class, "aborted");
  });
});

describe("platforms and docker contexts, on the harness's dockerd", () => {
  let stack: Stack;
  let files: Awaited<ReturnType<typeof tempDir>>;
  let config: string;

  /** Writes a context the way `docker context create NAME --docker host=HOST` stores it. */
  async function createContext(name: string, host: string): Promise<void> {
    const dir = join(config, "contexts", "meta", createHash("sha256").update(name).digest("hex"));
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, "meta.json"), JSON.stringify({ Name: name, Metadata: {}, Endpoints: { docker: { Host: host, SkipTLSVerify: false } } }));
  }

  before(async () => {
    stack = await startStack({ seed: 17 });
    files = await tempDir();
    config = join(files.path, "docker-config");
    await createContext("harness", stack.engine.dockerHost);
    await createContext("gone", `unix://${join(files.path, "gone.sock")}`);
  });
  after(async () => {
    await stack?.stop();
    await files?.remove();
  });

  // No DOCKER_HOST: the engine is found through the context store only.
  const env = (extra: Record<string, string> = {}) => baseEnv({ DOCKER_CONFIG: config, ...FAST, ...extra });

  it("pulls through the context named by DOCKER_CONTEXT, by config.json's currentContext, and by --context", async () => {
    const repo = stack.image("ctx");
    await stack.pushImage(repo, "1");
    const ref = stack.ref(repo, "1");
    const byEnv = await runCli([ref], { env: env({ DOCKER_CONTEXT: "harness" }) });
    assert.equal(byEnv.code, 0, byEnv.stderr);
    await writeFile(join(config, "config.json"), JSON.stringify({ currentContext: "harness" }));
    const byConfig = await runCli([ref], { env: env() });
    assert.equal(byConfig.code, 0, byConfig.stderr);
    // --context beats DOCKER_HOST, as with the docker CLI.
    const byFlag = await runCli([ref, "--context", "harness"], { env: env({ DOCKER_HOST: `unix://${join(files.path, "nothing.sock")}` }) });
    assert.equal(byFlag.code, 0, byFlag.stderr);
    assert.equal(stack.proxy.count({ repository: repo, kind: "manifest", method: "HEAD" }), 3);
    await writeFile(join(config, "config.json"), "{}");
  });

  const onDockerd = (extra: Record<string, string> = {}) => baseEnv({ DOCKER_HOST: stack.engine.dockerHost, ...FAST, ...extra });
  const pullsOf = (repository: string) => stack.proxy.count({ repository, kind: "manifest", method: "HEAD" });

  it("pulls an arm64-only image with --platform, and holds --pull missing to the platform", async () => {
    const repo = stack.image("armonly");
    await stack.pushPlatformList(repo, "1", ["arm64"]);
    const ref = stack.ref(repo, "1");
    const json = files.file("arm.json");
    const arm = await runCli([ref, "--platform", "linux/arm64", "--json", json], { env: onDockerd() });
    assert.equal(arm.code, 0, arm.stderr);
    assert.deepEqual(
      (await readReport(json)).images.map((i) => [i.status, i.platform]),
      [["pulled", "linux/arm64"]],
    );
    // Present for linux/arm64 ...
    const again = await runCli([ref, "--json", json], { env: onDockerd({ PULL_POLICY: "missing", PULL_PLATFORM: "linux/arm64" }) });
    assert.equal(again.code, 0, again.stderr);
    assert.equal((await readReport(json)).images[0]?.status, "present");
    assert.equal(pullsOf(repo), 1);
    // ... but not for the engine's own linux/amd64: the pull is tried, and the image skipped.
    const own = await runCli([ref, "--json", json], { env: onDockerd({ PULL_POLICY: "missing" }) });
    assert.equal(own.code, 0, own.stderr);
    assert.deepEqual(
      (await readReport(json)).images.map((i) => i.status),
      ["skipped"],
    );
    assert.equal(pullsOf(repo), 2);
  });

  it("pulls a compose service's image for its platform:, while the other services keep the engine's", async () => {
    const arm = stack.image("composearm");
    const plain = stack.image("composeplain");
    await stack.pushPlatformList(arm, "1", ["arm64"]);
    await stack.pushImage(plain, "1");
    const compose = files.file("compose.yml");
    await writeFile(
      compose,
      `services:\n  arm:\n    image: ${stack.ref(arm, "1")}\n    platform: linux/arm64\n  plain:\n    image: ${stack.ref(plain, "1")}\n`,
    );
    const json = files.file("compose.json");
    const run = await runCli(["--compose", compose, "--json", json], { env: onDockerd() });
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(
      (await readReport(json)).images.map((i) => [i.status, i.platform]),
      [
        ["pulled", "linux/arm64"],
        ["pulled", "linux/amd64"],
      ],
    );
  });

  it("does not take a two-platform image pulled for amd64 as present for arm64", async () => {
    const repo = stack.image("two");
    await stack.pushPlatformList(repo, "1", ["amd64", "arm64"]);
    const ref = stack.ref(repo, "1");
    const json = files.file("two.json");
    const first = await runCli([ref, "--json", json], { env: onDockerd() });
    assert.equal(first.code, 0, first.stderr);
    assert.equal((await readReport(json)).images[0]?.platform, "linux/amd64");
    const arm = await runCli([ref, "--pull", "missing", "--platform", "linux/arm64", "--json", json], { env: onDockerd() });
    assert.equal(arm.code, 0, arm.stderr);
    assert.deepEqual(
      (await readReport(json)).images.map((i) => [i.status, i.platform]),
      [["pulled", "linux/arm64"]],
    );
    assert.equal(pullsOf(repo), 2);
  });

  it("exits 3 naming the context and how it was chosen when its engine is not there", async () => {
    const run = await runCli([stack.ref(stack.image("any"), "1")], { env: env({ DOCKER_CONTEXT: "gone" }) });
    assert.equal(run.code, 3, run.stderr);
    assert.match(run.stdout + run.stderr, /gone\.sock, from docker context "gone" \(chosen by DOCKER_CONTEXT\)/);
    const missing = await runCli([stack.ref(stack.image("any"), "1"), "--context", "nope"], { env: env() });
    assert.equal(missing.code, 3, missing.stderr);
    assert.match(missing.stdout + missing.stderr, /docker context "nope" \(chosen by --context\) cannot be used: it does not exist/);
  });
});
