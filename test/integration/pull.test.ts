// The core promises, proven on a real dockerd and a real registry behind our fault proxy: every
// assertion is on what the user sees (exit code, output, report files) and on what the registry
// saw (the proxy's request log).
import assert from "node:assert/strict";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { startStack, type Stack } from "../../stack/stack.js";
import { compileReportSchema, parseJUnit } from "../fixtures/validators.js";
import { baseEnv, runCli, tempDir } from "./run-cli.js";

/** Short waits so a retry test takes a second, not a minute; the schedule itself is unit-tested. */
const FAST = { PULL_BACKOFF_BASE: "0.2", PULL_BACKOFF_MAX: "1", PULL_POLICY: "always" };

interface JsonReport {
  exitCode: number;
  images: Array<{ reference: string; status: string; class: string; reason?: string; attempts: Array<{ class: string; message?: string }> }>;
}

describe("prepull on a real engine and registry", () => {
  let stack: Stack;
  let env: Record<string, string>;
  let files: Awaited<ReturnType<typeof tempDir>>;

  before(async () => {
    stack = await startStack({ auth: true, seed: 7 });
    env = baseEnv({ DOCKER_HOST: stack.engine.dockerHost, ...FAST });
    files = await tempDir();
  });
  after(async () => {
    await stack?.stop();
    await files?.remove();
  });

  /** HEAD requests on a tag's manifest: one per engine pull attempt (see stack/README.md). */
  const attemptsOn = (repository: string) => stack.proxy.count({ repository, kind: "manifest", method: "HEAD" });

  it("pulls several images in one run, each exactly once, and writes the reports", async () => {
    const repos = [stack.image("alpha"), stack.image("beta"), stack.image("gamma")];
    for (const repo of repos) await stack.pushImage(repo, "1", { sizeBytes: 200_000 });
    const json = files.file("clean.json");
    const junit = files.file("clean.xml");
    const pulled = files.file("clean.txt");
    const refs = repos.map((r) => stack.ref(r, "1"));
    // The same image spelled twice is pulled once.
    const run = await runCli([...refs, `${stack.host}/${repos[0]}:1`, "--json", json, "--junit", junit, "--pulled", pulled], { env });
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(repos.map(attemptsOn), [1, 1, 1]);
    const report = JSON.parse(await readFile(json, "utf8")) as JsonReport;
    const validate = compileReportSchema();
    assert.ok(validate(report), JSON.stringify(validate.errors));
    assert.deepEqual(
      report.images.map((i) => [i.reference, i.status]),
      refs.map((r) => [r, "pulled"]),
    );
    assert.equal(await readFile(pulled, "utf8"), refs.map((r) => `${r}\n`).join(""));
    const xml = parseJUnit(await readFile(junit, "utf8")) as { testsuites: { testsuite: { tests: string; failures: string } } };
    assert.equal(xml.testsuites.testsuite.tests, "3");
    assert.equal(xml.testsuites.testsuite.failures, "0");
    assert.match(run.stdout, /3 pulled/);
  });

  it("rides out a window of manifest 500s and succeeds", async () => {
    const repo = stack.image("flaky");
    await stack.pushImage(repo, "1");
    stack.proxy.addFault({ match: { kind: "manifest", repository: repo }, when: { untilMs: 1500 }, action: { status: 500 } });
    const json = files.file("flaky.json");
    const run = await runCli([stack.ref(repo, "1"), "--json", json], { env });
    assert.equal(run.code, 0, run.stderr);
    assert.ok(attemptsOn(repo) >= 2, `expected retries, saw ${attemptsOn(repo)} attempts`);
    const report = JSON.parse(await readFile(json, "utf8")) as JsonReport;
    const attempts = report.images[0]?.attempts ?? [];
    assert.equal(attempts.length, attemptsOn(repo));
    assert.deepEqual(
      attempts.map((a) => a.class),
      [...Array(attempts.length - 1).fill("transient"), "pulled"],
    );
    assert.match(attempts[0]?.message ?? "", /received unexpected HTTP status: 500 Internal Server Error/);
    assert.match(run.stderr, /\[transient\]: received unexpected HTTP status: 500/);
  });

  it("tries an unknown tag exactly once and exits 1", async () => {
    const repo = stack.image("known");
    await stack.pushImage(repo, "1");
    const run = await runCli([stack.ref(repo, "does-not-exist")], { env });
    assert.equal(run.code, 1);
    assert.equal(attemptsOn(repo), 1);
    assert.match(run.stderr, /FAILED .*does-not-exist after 1 attempt \[permanent\]: manifest for .* not found: manifest unknown/);
  });

  it("skips an image with no manifest for this architecture, after one attempt, and exits 0", async () => {
    const repo = stack.image("armonly");
    await stack.pushPlatformList(repo, "1", ["arm64"]);
    const run = await runCli([stack.ref(repo, "1")], { env });
    assert.equal(run.code, 0, run.stderr);
    assert.equal(attemptsOn(repo), 1);
    assert.match(run.stderr, /skipped .*: no matching manifest for linux\/amd64 in the manifest list entries/);
    assert.match(run.stdout, /1 skipped/);
  });

  for (const status of [401, 403]) {
    it(`gives up on a ${status} from the registry after one attempt`, async () => {
      const repo = stack.image(`denied${status}`);
      await stack.pushImage(repo, "1");
      stack.proxy.addFault({ match: { kind: "manifest", repository: repo }, action: { status } });
      const run = await runCli([stack.ref(repo, "1")], { env });
      assert.equal(run.code, 1);
      assert.equal(attemptsOn(repo), 1);
      assert.match(run.stderr, /\[permanent\]/);
    });
  }

  it("retries a reset connection", async () => {
    const repo = stack.image("reset");
    await stack.pushImage(repo, "1");
    stack.proxy.addFault({ match: { kind: "manifest", repository: repo, method: "HEAD" }, when: { times: 2 }, action: { reset: true } });
    const run = await runCli([stack.ref(repo, "1")], { env });
    assert.equal(run.code, 0, run.stderr);
    assert.equal(attemptsOn(repo), 3);
    assert.match(run.stderr, /connection reset by peer/);
  });

  it("survives a layer cut off once (the engine resumes it)", async () => {
    const repo = stack.image("cut");
    const image = await stack.pushImage(repo, "1", { sizeBytes: 400_000 });
    const layer = image.layers[0]?.digest;
    assert.ok(layer);
    stack.proxy.addFault({ match: { kind: "blob", digest: layer }, when: { times: 1 }, action: { truncate: 100_000 } });
    const run = await runCli([stack.ref(repo, "1")], { env, timeoutMs: 90_000 });
    assert.equal(run.code, 0, run.stderr);
    assert.equal(stack.proxy.count({ kind: "blob", digest: layer, status: "truncate" }), 1);
    assert.ok(stack.proxy.count({ kind: "blob", digest: layer }) >= 2);
  });

  it("pulls from a password-protected registry with credentials from config.json, and never prints the secret", async () => {
    const auth = stack.auth;
    assert.ok(auth);
    const repo = stack.image("private");
    await auth.pushImage(repo, "1");
    const ref = auth.ref(repo, "1");

    const anonymous = await runCli([ref], { env });
    assert.equal(anonymous.code, 1, "without credentials the pull must fail");

    const configDir = join(files.path, "docker-config");
    await mkdir(configDir, { recursive: true });
    const token = Buffer.from(`${auth.user}:${auth.password}`).toString("base64");
    await writeFile(join(configDir, "config.json"), JSON.stringify({ auths: { [auth.host]: { auth: token } } }));
    const json = files.file("private.json");
    const junit = files.file("private.xml");
    const run = await runCli([ref, "--verbose", "--json", json, "--junit", junit], { env: { ...env, DOCKER_CONFIG: configDir } });
    assert.equal(run.code, 0, run.stderr);
    const everything = [run.stdout, run.stderr, anonymous.stdout, anonymous.stderr, await readFile(json, "utf8"), await readFile(junit, "utf8")].join("\n");
    for (const secret of [auth.password, token, auth.registryAuthHeader]) assert.equal(everything.includes(secret), false, "a secret leaked into the output");
  });

  it("exits 3 with a clear message when the engine cannot be reached", async () => {
    const json = files.file("unreachable.json");
    const socket = join(files.path, "no-engine.sock");
    const run = await runCli([stack.ref(stack.image("any"), "1"), "--json", json], { env: { ...env, DOCKER_HOST: `unix://${socket}` } });
    assert.equal(run.code, 3);
    assert.match(run.stdout + run.stderr, new RegExp(`unix://${socket.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}`));
    assert.match(run.stdout + run.stderr, /is dockerd running\?/i);
    const report = JSON.parse(await readFile(json, "utf8")) as JsonReport;
    assert.equal(report.exitCode, 3);
    assert.equal(report.images[0]?.class, "engine-unreachable");
  });

  it("rejects an invalid reference with exit 2 before any request reaches the engine", async () => {
    // A socket that stands in for the engine and counts who knocks.
    const socket = join(files.path, "counting.sock");
    let connections = 0;
    const server = createServer((c) => {
      connections++;
      c.destroy();
    });
    await new Promise<void>((resolve) => server.listen(socket, resolve));
    try {
      const good = stack.ref(stack.image("fine"), "1");
      for (const args of [
        [good, "Bad/Name:1"],
        [good, "--", "-rf"],
        ["--file", files.file("missing-list.txt")],
      ]) {
        const run = await runCli(args, { env: { ...env, DOCKER_HOST: `unix://${socket}` } });
        assert.equal(run.code, 2, `${args.join(" ")}: ${run.stderr}`);
      }
      const bad = await runCli([good, "Bad/Name:1"], { env: { ...env, DOCKER_HOST: `unix://${socket}` } });
      assert.match(bad.stderr, /invalid image reference "Bad\/Name:1": repository name must be lowercase/);
      assert.match(bad.stderr, /nothing was pulled/);
      const dash = await runCli(["--", "-rf"], { env: { ...env, DOCKER_HOST: `unix://${socket}` } });
      assert.match(dash.stderr, /"-rf"/);
      assert.equal(connections, 0);
    } finally {
      server.close();
    }
  });

  it("rejects a bad PULL_* value with exit 2, naming the variable", async () => {
    const run = await runCli([stack.ref(stack.image("x"), "1")], { env: { ...env, PULL_RETRIES: "lots" } });
    assert.equal(run.code, 2);
    assert.match(run.stderr, /PULL_RETRIES="lots" is not a whole number/);
  });

  it("reads the list from --file and from stdin", async () => {
    const [a, b] = [stack.image("fromfile"), stack.image("fromstdin")];
    await stack.pushImage(a, "1");
    await stack.pushImage(b, "1");
    const list = files.file("images.txt");
    await writeFile(list, `# images for the batch\n${stack.ref(a, "1")}  # inline comment\n\n`);
    const run = await runCli(["--file", list, "-"], { env, stdin: `${stack.ref(b, "1")}\n` });
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual([attemptsOn(a), attemptsOn(b)], [1, 1]);
    const c = stack.image("fromdashfile");
    await stack.pushImage(c, "1");
    const dash = await runCli(["--file", "-"], { env, stdin: `${stack.ref(c, "1")}\n` });
    assert.equal(dash.code, 0, dash.stderr);
    assert.equal(attemptsOn(c), 1);
  });

  it("on SIGINT cancels the pulls, still writes complete reports, and exits 130", async () => {
    const repo = stack.image("stuck");
    await stack.pushImage(repo, "1");
    stack.proxy.addFault({ match: { kind: "manifest", repository: repo }, action: { stall: true } });
    const json = files.file("sigint.json");
    const junit = files.file("sigint.xml");
    const run = await runCli([stack.ref(repo, "1"), "--json", json, "--junit", junit], {
      env,
      onSpawn: (child) => {
        void stack.proxy.waitFor({ repository: repo, kind: "manifest" }, { count: 1, timeoutMs: 30_000 }).then(() => child.kill("SIGINT"));
      },
    });
    stack.proxy.closeStalled();
    assert.equal(run.code, 130, run.stderr);
    const report = JSON.parse(await readFile(json, "utf8")) as JsonReport & { interrupted?: string };
    const validate = compileReportSchema();
    assert.ok(validate(report), JSON.stringify(validate.errors));
    assert.equal(report.interrupted, "SIGINT");
    assert.equal(report.images[0]?.class, "aborted");
    const xml = parseJUnit(await readFile(junit, "utf8")) as { testsuites: { testsuite: { failures: string } } };
    assert.equal(xml.testsuites.testsuite.failures, "1");
  });
});
