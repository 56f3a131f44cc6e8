// prepull talking to the registry itself (issue 8), on a real dockerd and a real registry behind
// the fault proxy. The proxy log tells prepull's own requests (User-Agent prepull/…) from the
// engine's, so each test asserts what reached the registry from whom, and when.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { after, before, describe, it } from "node:test";
import { startStack, type Stack } from "../../stack/stack.js";
import { compileReportSchema } from "../fixtures/validators.js";
import { baseEnv, runCli, tempDir } from "./run-cli.js";

const FAST = { PULL_BACKOFF_BASE: "0.2", PULL_BACKOFF_MAX: "1", PULL_POLICY: "always", PULL_PREFLIGHT: "on" };

interface JsonReport {
  exitCode: number;
  images: Array<{
    reference: string;
    status: string;
    class: string;
    rule?: string;
    reason?: string;
    resolvedDigest?: string;
    digest?: string;
    attempts: Array<{ class: string }>;
  }>;
  registries: Array<{ registry: string; quota?: { limit: number; remaining?: number; windowSeconds?: number; source?: string } }>;
}

describe("preflight: prepull asks the registry itself", () => {
  let stack: Stack;
  let env: Record<string, string>;
  let files: Awaited<ReturnType<typeof tempDir>>;

  before(async () => {
    stack = await startStack({ auth: true, seed: 11 });
    env = baseEnv({ DOCKER_HOST: stack.engine.dockerHost, ...FAST });
    files = await tempDir();
  });
  after(async () => {
    await stack?.stop();
    await files?.remove();
  });

  const engineRequests = (repository: string) => stack.proxy.count({ repository, client: "engine" });
  const report = async (path: string) => {
    const parsed = JSON.parse(await readFile(path, "utf8")) as JsonReport;
    const validate = compileReportSchema();
    assert.ok(validate(parsed), JSON.stringify(validate.errors));
    return parsed;
  };

  it("a clean batch: one HEAD each from prepull, one pull each from the engine, and the resolved digest in the report", async () => {
    const repos = [stack.image("pf-a"), stack.image("pf-b"), stack.image("pf-c")];
    for (const repo of repos) await stack.pushImage(repo, "1", { sizeBytes: 100_000 });
    const json = files.file("clean.json");
    const run = await runCli([...repos.map((r) => stack.ref(r, "1")), "--json", json], { env });
    assert.equal(run.code, 0, run.stderr);
    for (const repository of repos) {
      assert.equal(stack.proxy.count({ repository, client: "prepull", kind: "manifest", method: "HEAD" }), 1, repository);
      assert.equal(stack.proxy.count({ repository, client: "engine", kind: "manifest", method: "HEAD" }), 1, repository);
    }
    const parsed = await report(json);
    for (const image of parsed.images) {
      assert.equal(image.status, "pulled");
      assert.match(image.resolvedDigest ?? "", /^sha256:[0-9a-f]{64}$/);
    }
  });

  it("an unknown tag, an unknown repository and an image denied without credentials fail at once: zero engine requests", async () => {
    const known = stack.image("pf-known");
    await stack.pushImage(known, "1");
    const missingRepo = stack.image("pf-nothing");
    const auth = stack.auth;
    assert.ok(auth);
    const privateRepo = stack.image("pf-private");
    await auth.pushImage(privateRepo, "1");
    const json = files.file("permanent.json");
    const refs = [stack.ref(known, "nope"), stack.ref(missingRepo, "1"), auth.ref(privateRepo, "1")];
    const run = await runCli([...refs, "--json", json], { env });
    assert.equal(run.code, 1, run.stderr);
    assert.equal(engineRequests(known), 0);
    assert.equal(engineRequests(missingRepo), 0);
    assert.equal(auth.proxy.count({ repository: privateRepo, client: "engine" }), 0);
    const parsed = await report(json);
    assert.deepEqual(
      parsed.images.map((i) => [i.status, i.class, i.attempts.length]),
      refs.map(() => ["failed", "permanent", 0]),
    );
    assert.match(parsed.images[0]?.reason ?? "", /tag "nope"/);
    assert.match(parsed.images[2]?.reason ?? "", /denied .* without credentials/);
  });

  it("an image with no manifest for this CPU is skipped with zero engine requests", async () => {
    const repo = stack.image("pf-armonly");
    await stack.pushPlatformList(repo, "1", ["arm64"]);
    const json = files.file("platform.json");
    const run = await runCli([stack.ref(repo, "1"), "--json", json], { env });
    assert.equal(run.code, 0, run.stderr);
    assert.equal(engineRequests(repo), 0);
    // One HEAD, one GET of the index by digest.
    assert.equal(stack.proxy.count({ repository: repo, client: "prepull", kind: "manifest" }), 2);
    const parsed = await report(json);
    assert.deepEqual([parsed.images[0]?.status, parsed.images[0]?.class, parsed.images[0]?.rule], ["skipped", "skipped-platform", "registry-no-platform"]);
  });

  it("a 429 with Retry-After: no request from prepull or its engine inside the interval, then the batch", async () => {
    const repos = [stack.image("pf-slow-a"), stack.image("pf-slow-b")];
    for (const repo of repos) await stack.pushImage(repo, "1", { sizeBytes: 50_000 });
    const windowMs = 3000;
    const since = stack.proxy.now();
    const remove = stack.proxy.addFault({
      name: "retry-after",
      match: { kind: "manifest", repository: new RegExp(repos.join("|")) },
      when: { untilMs: windowMs },
      action: { status: 429, headers: { "Retry-After": String(windowMs / 1000) } },
    });
    try {
      const run = await runCli(
        repos.map((r) => stack.ref(r, "1")),
        { env },
      );
      assert.equal(run.code, 0, run.stderr);
    } finally {
      remove();
    }
    const entries = stack.proxy.log.filter((e) => e.startedAt >= since && repos.includes(e.repository ?? ""));
    const first429 = entries.find((e) => e.httpStatus === 429);
    assert.ok(first429, "the registry answered 429");
    // Requests already in flight when the first 429 arrived may land; nothing new starts before the interval ends.
    const inside = entries.filter((e) => e.startedAt > (first429.endedAt ?? first429.startedAt) + 50 && e.startedAt < first429.startedAt + windowMs - 100);
    assert.deepEqual(
      inside.map((e) => `${e.client} ${e.method} ${e.path} @${Math.round(e.startedAt - first429.startedAt)}ms`),
      [],
    );
    assert.equal(entries.filter((e) => e.client === "engine" && e.httpStatus === 429).length, 0, "the engine never met the limit");
  });

  it("a registry down for a while: HEAD probes about a second apart, no engine attempt until it answers", async () => {
    const repos = [stack.image("pf-down-a"), stack.image("pf-down-b"), stack.image("pf-down-c")];
    for (const repo of repos) await stack.pushImage(repo, "1", { sizeBytes: 50_000 });
    const since = stack.proxy.now();
    const outageMs = 5000;
    const remove = stack.proxy.addFault({
      name: "outage",
      match: { kind: "manifest", repository: new RegExp(repos.join("|")) },
      when: { untilMs: outageMs },
      action: { status: 503 },
    });
    try {
      const run = await runCli(
        repos.map((r) => stack.ref(r, "1")),
        { env },
      );
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stderr, /gate closed/);
    } finally {
      remove();
    }
    const during = stack.proxy.log.filter((e) => e.startedAt >= since && e.startedAt < since + outageMs && repos.includes(e.repository ?? ""));
    assert.equal(during.filter((e) => e.client === "engine" && e.kind === "manifest").length, 0, "no engine attempt while down");
    const probes = during.filter((e) => e.client === "prepull").map((e) => e.startedAt);
    const gaps = probes.slice(repos.length + 1).map((at, i) => at - (probes[i + repos.length] as number));
    for (const gap of gaps) assert.ok(gap >= 700 && gap <= 1400, `probe spacing ${Math.round(gap)} ms`);
    assert.ok(probes.length <= repos.length + outageMs / 800, `${probes.length} HEADs while down`);
  });

  it("Docker Hub-style quota headers: shown in the summary and report; images beyond the quota fail before any pull", async () => {
    const repos = [stack.image("pf-q1"), stack.image("pf-q2"), stack.image("pf-q3")];
    for (const repo of repos) await stack.pushImage(repo, "1", { sizeBytes: 50_000 });
    const remove = stack.proxy.addFault({
      name: "quota",
      match: { kind: "manifest", repository: new RegExp(repos.join("|")), client: "prepull" },
      action: { rewriteHeaders: { set: { "ratelimit-limit": "100;w=21600", "ratelimit-remaining": "2;w=21600", "docker-ratelimit-source": "198.51.100.9" } } },
    });
    const json = files.file("quota.json");
    try {
      const run = await runCli([...repos.map((r) => stack.ref(r, "1")), "--json", json], { env });
      assert.equal(run.code, 1, run.stderr);
      assert.match(run.stderr, /needs 3 pulls, its quota has 2 left/);
      assert.match(run.stdout, /2 of 100 pulls left per 6 h for 198\.51\.100\.9/);
    } finally {
      remove();
    }
    assert.equal(engineRequests(repos[2] as string), 0);
    const parsed = await report(json);
    assert.deepEqual(
      parsed.images.map((i) => i.status),
      ["pulled", "pulled", "failed"],
    );
    assert.equal(parsed.images[2]?.rule, "quota-plan");
    assert.deepEqual(parsed.registries[0]?.quota, { limit: 100, remaining: 2, windowSeconds: 21600, source: "198.51.100.9" });
  });

  it("with direct access blocked, it says so once and the outcomes are those of preflight off", async () => {
    const good = stack.image("pf-blocked-ok");
    await stack.pushImage(good, "1");
    const missing = stack.image("pf-blocked-missing");
    const refs = [stack.ref(good, "1"), stack.ref(missing, "1")];
    const outcomes = async (extra: Record<string, string>, name: string) => {
      const json = files.file(name);
      const run = await runCli([...refs, "--json", json], { env: { ...env, ...extra } });
      return { run, images: (await report(json)).images.map((i) => [i.status, i.class, i.attempts.length]) };
    };
    const off = await outcomes({ PULL_PREFLIGHT: "off" }, "blocked-off.json");
    const remove = stack.proxy.addFault({ name: "no-direct", match: { client: "prepull" }, action: { reset: true } });
    try {
      const blocked = await outcomes({}, "blocked-on.json");
      assert.equal(blocked.run.code, off.run.code);
      assert.deepEqual(blocked.images, off.images);
      assert.equal((blocked.run.stderr.match(/cannot reach it directly/g) ?? []).length, 1, blocked.run.stderr);
    } finally {
      remove();
    }
  });

  it("--pull always: an image the engine has with the digest the registry names is present, not pulled again", async () => {
    const repo = stack.image("pf-same");
    await stack.pushImage(repo, "1");
    const ref = stack.ref(repo, "1");
    assert.equal((await runCli([ref], { env })).code, 0);
    const before = engineRequests(repo);
    const json = files.file("same.json");
    const run = await runCli([ref, "--json", json], { env });
    assert.equal(run.code, 0, run.stderr);
    assert.equal(engineRequests(repo), before, "no engine request: no Hub pull spent");
    assert.equal((await report(json)).images[0]?.status, "present");
  });
});
