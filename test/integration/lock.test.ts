// The lock file on the real stack (issue 12): --lock records the digests the registry names,
// --locked pulls exactly those through the engine by digest and tags them with the original
// names, and fails an image whose tag moved in the registry since, or that the lock misses.
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { after, before, describe, it } from "node:test";
import { connectEngine, type DockerEngine } from "../../src/engine/client.js";
import { startStack, type Stack } from "../../stack/stack.js";
import { compileReportSchema } from "../fixtures/validators.js";
import { baseEnv, runCli, tempDir } from "./run-cli.js";
import { ref } from "../fixtures/values.js";

const HEADER = "# prepull-lock v1";

interface JsonReport {
  exitCode: number;
  images: Array<{
    reference: string;
    status: string;
    class: string;
    rule?: string;
    reason?: string;
    digest?: string;
    resolvedDigest?: string;
    attempts: unknown[];
  }>;
}

/** The data lines of a lock file: reference → digest. */
const lockLines = (text: string) =>
  new Map(
    text
      .split("\n")
      .filter((l) => l !== "" && !l.startsWith("#"))
      .map((l) => l.split(" ") as [string, string]),
  );

describe("lock file: --lock and --locked", () => {
  let stack: Stack;
  let engine: DockerEngine;
  let files: Awaited<ReturnType<typeof tempDir>>;
  const env = (extra: Record<string, string> = {}) =>
    baseEnv({
      DOCKER_HOST: stack.engine.dockerHost,
      PULL_PREFLIGHT: "on",
      PULL_POLICY: "always",
      PULL_BACKOFF_BASE: "0.1",
      PULL_BACKOFF_MAX: "0.2",
      PULL_RETRIES: "2",
      ...extra,
    });
  const report = async (path: string) => {
    const parsed = JSON.parse(await readFile(path, "utf8")) as JsonReport;
    const validate = compileReportSchema();
    assert.ok(validate(parsed), JSON.stringify(validate.errors));
    return parsed;
  };
  const localDigests = async (reference: string) => {
    const found = await engine.inspectImage(ref(reference));
    assert.ok(found.ok, found.ok ? "" : found.error);
    return found.value;
  };

  before(async () => {
    stack = await startStack({ seed: 12 });
    const connected = await connectEngine({ env: { DOCKER_HOST: stack.engine.dockerHost } });
    assert.ok(connected.ok);
    engine = connected.value;
    files = await tempDir();
  });
  after(async () => {
    await stack?.stop();
    await files?.remove();
  });

  it("--lock writes each image's digest as the registry names it, the same with preflight off (the engine's), and for present images", async () => {
    const a = await stack.pushImage(stack.image("lock-a"), "1");
    const b = await stack.pushImage(stack.image("lock-b"), "2");
    const refs = [stack.ref(a.repository, "1"), stack.ref(b.repository, "2")];
    // Then already present under --pull missing: the digest comes from the engine's RepoDigests.
    for (const [preflight, policy] of [
      ["on", "always"],
      ["off", "always"],
      ["off", "missing"],
    ] as const) {
      const lock = files.file(`written-${preflight}-${policy}.lock`);
      const run = await runCli([...refs, "--lock", lock], { env: env({ PULL_PREFLIGHT: preflight, PULL_POLICY: policy }) });
      assert.equal(run.code, 0, run.stderr);
      const text = await readFile(lock, "utf8");
      assert.equal(text.split("\n")[0], HEADER);
      assert.deepEqual(
        lockLines(text),
        new Map([
          [refs[0], a.manifestDigest],
          [refs[1], b.manifestDigest],
        ]),
        text,
      );
    }
  });

  it("--lock on a failing run still writes the file: the images it got, and the one it did not as a comment", async () => {
    const good = await stack.pushImage(stack.image("lock-good"), "1");
    const missing = stack.ref(stack.image("lock-nothing"), "1");
    const lock = files.file("partial.lock");
    const run = await runCli([stack.ref(good.repository, "1"), missing, "--lock", lock], { env: env() });
    assert.equal(run.code, 1, run.stderr);
    const text = await readFile(lock, "utf8");
    assert.deepEqual(lockLines(text), new Map([[stack.ref(good.repository, "1"), good.manifestDigest]]));
    assert.ok(text.includes(`# not locked: ${missing} (failed: permanent)`), text);
    // The next job is told why, by the file's line.
    const locked = await runCli([missing, "--locked", lock], { env: env() });
    assert.equal(locked.code, 1);
    assert.match(locked.stderr + locked.stdout, /is not in the lock file .*partial\.lock: the run that wrote it could not lock it \(line 5 says why\)/);
  });

  it("an image with no manifest for this platform is locked by its index digest, and skipped again under --locked", async () => {
    const list = await stack.pushPlatformList(stack.image("lock-armonly"), "1", ["arm64"]);
    const image = stack.ref(list.repository, "1");
    const lock = files.file("armonly.lock");
    const first = await runCli([image, "--lock", lock], { env: env() });
    assert.equal(first.code, 0, first.stderr);
    assert.deepEqual(lockLines(await readFile(lock, "utf8")), new Map([[image, list.manifestDigest]]));
    const json = files.file("armonly.json");
    const again = await runCli([image, "--locked", lock, "--json", json], { env: env() });
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(
      (await report(json)).images.map((i) => [i.status, i.class]),
      [["skipped", "skipped-platform"]],
    );
  });

  it("--lock with the engine unreachable still writes the lock: every image listed as not locked, exit 3", async () => {
    const image = stack.ref(stack.image("lock-unreachable"), "1");
    const lock = files.file("unreachable.lock");
    const run = await runCli([image, "--lock", lock], { env: env({ DOCKER_HOST: `unix://${files.file("no-such.sock")}` }) });
    assert.equal(run.code, 3, run.stderr);
    const text = await readFile(lock, "utf8");
    assert.equal(text.split("\n")[0], HEADER);
    assert.deepEqual(lockLines(text), new Map());
    assert.ok(text.includes(`# not locked: ${image} (failed: engine-unreachable)`), text);
  });

  it("--locked pulls the locked digest through the engine and names it with the original tag", async () => {
    const pushed = await stack.pushImage(stack.image("lock-pin"), "1");
    const original = stack.ref(pushed.repository, "1");
    const lock = files.file("pin.lock");
    await writeFile(lock, `${HEADER}\n${original} ${pushed.manifestDigest}\n`);
    assert.equal(await localDigests(original), undefined, "the engine does not have it yet");
    const since = stack.proxy.now();
    const json = files.file("pin.json");
    const run = await runCli([original, "--locked", lock, "--json", json], { env: env() });
    assert.equal(run.code, 0, run.stderr);
    const engineManifests = stack.proxy.log.filter(
      (e) => e.startedAt >= since && e.client === "engine" && e.kind === "manifest" && e.repository === pushed.repository,
    );
    assert.ok(engineManifests.length > 0);
    assert.deepEqual([...new Set(engineManifests.map((e) => e.ref))], [pushed.manifestDigest], "the engine asked for the digest, never the tag");
    const tagged = await localDigests(original);
    const byDigest = await localDigests(`${stack.host}/${pushed.repository}@${pushed.manifestDigest}`);
    assert.ok(tagged && byDigest);
    assert.equal(tagged.id, byDigest.id, "the tag names the locked image");
    assert.ok(tagged.repoDigests.includes(`${stack.host}/${pushed.repository}@${pushed.manifestDigest}`), tagged.repoDigests.join());
    const image = (await report(json)).images[0];
    assert.deepEqual([image?.reference, image?.status, image?.digest], [original, "pulled", pushed.manifestDigest]);
  });

  it("--locked after the tag moved in the registry: that image fails naming both digests, with no engine request; the others are used", async () => {
    const moving = await stack.pushImage(stack.image("lock-moving"), "1");
    const steady = await stack.pushImage(stack.image("lock-steady"), "1");
    const refs = [stack.ref(moving.repository, "1"), stack.ref(steady.repository, "1")];
    const lock = files.file("moved.lock");
    const first = await runCli([...refs, "--lock", lock], { env: env() });
    assert.equal(first.code, 0, first.stderr);
    const moved = await stack.pushImage(moving.repository, "1");
    assert.notEqual(moved.manifestDigest, moving.manifestDigest);
    const since = stack.proxy.now();
    const json = files.file("moved.json");
    const run = await runCli([...refs, "--locked", lock, "--json", json], { env: env() });
    assert.equal(run.code, 1, run.stderr);
    const parsed = await report(json);
    const [failed, unmoved] = parsed.images;
    assert.deepEqual([failed?.status, failed?.class, failed?.rule, failed?.attempts.length], ["failed", "permanent", "lock-tag-moved", 0]);
    assert.ok(failed?.reason?.startsWith(`tag moved from ${moving.manifestDigest} to ${moved.manifestDigest}`), failed?.reason);
    assert.ok(run.stdout.includes(`tag moved from ${moving.manifestDigest} to ${moved.manifestDigest}`) || run.stderr.includes("tag moved from"), run.stdout);
    assert.equal(stack.proxy.log.filter((e) => e.startedAt >= since && e.client === "engine" && e.repository === moving.repository).length, 0);
    // Already on the engine from the locking run, with the locked digest: not pulled again.
    assert.equal(unmoved?.status, "present");

    // Without preflight nothing can tell that the tag moved: prepull says so, and pulls the locked digest.
    const unchecked = await runCli([...refs, "--locked", lock], { env: env({ PULL_PREFLIGHT: "off" }) });
    assert.equal(unchecked.code, 0, unchecked.stderr);
    assert.match(
      unchecked.stderr,
      /warning: --locked with --preflight off: the locked digests are pulled without asking the registries whether the tags moved/,
    );
    const local = await localDigests(refs[0] ?? "");
    assert.ok(local?.repoDigests.includes(`${stack.host}/${moving.repository}@${moving.manifestDigest}`), local?.repoDigests.join());
  });

  it("--locked with an image the lock misses fails that image naming the lock file; a bad lock file is a usage error naming file and line", async () => {
    const locked = await stack.pushImage(stack.image("lock-in"), "1");
    const other = await stack.pushImage(stack.image("lock-out"), "1");
    const lock = files.file("missing.lock");
    await writeFile(lock, `${HEADER}\n${stack.ref(locked.repository, "1")} ${locked.manifestDigest}\n`);
    const json = files.file("missing.json");
    const run = await runCli([stack.ref(locked.repository, "1"), stack.ref(other.repository, "1"), "--locked", lock, "--json", json], { env: env() });
    assert.equal(run.code, 1, run.stderr);
    const [inLock, outOfLock] = (await report(json)).images;
    assert.equal(inLock?.status, "pulled");
    assert.deepEqual([outOfLock?.status, outOfLock?.rule], ["failed", "lock-missing"]);
    assert.ok(outOfLock?.reason?.startsWith(`${stack.ref(other.repository, "1")} is not in the lock file ${lock}`), outOfLock?.reason);
    assert.equal(stack.proxy.count({ repository: other.repository, client: "engine" }), 0);

    const bad = files.file("bad.lock");
    await writeFile(bad, `${HEADER}\n${stack.ref(locked.repository, "1")} sha256:nothex\n`);
    const refused = await runCli([stack.ref(locked.repository, "1"), "--locked", bad], { env: env() });
    assert.equal(refused.code, 2);
    assert.ok(refused.stderr.includes(`${bad}:2: invalid digest for ${stack.ref(locked.repository, "1")}`), refused.stderr);
  });
});
