// Mirrors and pull-through caches (issue 11) on the real stack: a CNCF registry in proxy mode in
// front of the stack's registry (each side behind its own fault proxy), and a plain second
// registry as a static mirror. The proxies' logs say who asked whom; the Engine API says which
// names the images carry afterwards.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { request } from "node:http";
import { after, before, describe, it } from "node:test";
import { startDockerd } from "../../stack/dockerd.js";
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
    reason?: string;
    digest?: string;
    source?: string;
    mirror?: string;
    attempts: Array<{ class: string; mirror?: string }>;
  }>;
  registries: Array<{ registry: string; attempts: number; failures: number; mirrorOf?: string; bytes?: number }>;
}

/** One Engine API call over the stack's socket: status and body. */
function engineApi(socketPath: string, method: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method, path: `/v1.41${path}`, timeout: 10_000 }, (res) => {
      let body = "";
      res.setEncoding("utf8").on("data", (d: string) => (body += d.length + body.length > 1_000_000 ? "" : d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("timeout", () => req.destroy(new Error(`${method} ${path}: no answer`)));
    req.on("error", reject);
    req.end();
  });
}

describe("mirrors and pull-through caches", () => {
  let stack: Stack;
  let files: Awaited<ReturnType<typeof tempDir>>;

  before(async () => {
    stack = await startStack({ mirrors: true, seed: 17 });
    files = await tempDir();
  });
  after(async () => {
    await stack?.stop();
    await files?.remove();
  });

  const cache = () => {
    assert.ok(stack.cache);
    return stack.cache;
  };
  const envWith = (mirror: string, extra: Record<string, string> = {}) =>
    baseEnv({ DOCKER_HOST: stack.engine.dockerHost, ...FAST, PULL_MIRRORS: `${stack.host}=${mirror}`, ...extra });
  const report = async (path: string) => {
    const parsed = JSON.parse(await readFile(path, "utf8")) as JsonReport;
    const validate = compileReportSchema();
    assert.ok(validate(parsed), JSON.stringify(validate.errors));
    return parsed;
  };
  const inspect = (name: string) => engineApi(stack.engine.socketPath, "GET", `/images/${name}/json`);
  /** Removes the images these names point at, whatever other names they have: the next pull must fetch them. */
  const forget = async (names: readonly string[]) => {
    for (const name of names) {
      const found = await inspect(name);
      assert.equal(found.status, 200, `${name} is on the engine`);
      const id = (JSON.parse(found.body) as { Id: string }).Id;
      const removed = await engineApi(stack.engine.socketPath, "DELETE", `/images/${id}?force=1`);
      assert.equal(removed.status, 200, removed.body);
      assert.equal((await inspect(name)).status, 404);
    }
  };

  it("upstream down, the cache warm: every image comes from the cache by digest, no engine request upstream, original names present", async () => {
    const repos = [stack.image("mc-a"), stack.image("mc-b"), stack.image("mc-c")];
    const pushed = await Promise.all(repos.map((r) => stack.pushImage(r, "1", { sizeBytes: 50_000 })));
    const refs = repos.map((r) => stack.ref(r, "1"));
    const env = envWith(cache().host);
    // Warm the cache as an earlier CI run would: through prepull, with upstream healthy.
    const warm = await runCli(refs, { env });
    assert.equal(warm.code, 0, warm.stderr + warm.stdout);
    await forget(refs);
    // The outage: upstream answers 503 to the engine, to prepull and to the cache.
    stack.proxy.addFault({ name: "outage", action: { status: 503 } });
    cache().upstreamProxy.addFault({ name: "outage", action: { status: 503 } });
    stack.proxy.clearLog();
    cache().proxy.clearLog();
    try {
      const json = files.file("outage.json");
      const run = await runCli([...refs, "--json", json], { env });
      assert.equal(run.code, 0, run.stderr + run.stdout);
      assert.equal(stack.proxy.count({ client: "engine" }), 0, "no engine request reached upstream");
      const parsed = await report(json);
      for (const [i, image] of parsed.images.entries()) {
        assert.equal(image.source, "mirror", image.reference);
        assert.equal(image.mirror, cache().host);
        assert.equal(image.digest, pushed[i]?.manifestDigest);
        // The engine pulled it from the cache by digest.
        assert.equal(cache().proxy.count({ client: "engine", kind: "manifest", repository: repos[i], ref: pushed[i]?.manifestDigest }) > 0, true);
        assert.equal((await inspect(refs[i] ?? "")).status, 200, `${refs[i]} carries its own name`);
        assert.equal((await inspect(`${cache().host}/${repos[i]}@${pushed[i]?.manifestDigest}`)).status, 404, "the mirror's name is gone");
      }
      assert.match(run.stdout + run.stderr, /mirror of/);
    } finally {
      stack.proxy.clearFaults();
      cache().upstreamProxy.clearFaults();
    }
  });

  it("the cache down: every image from upstream, the failover spends no attempt", async () => {
    const repos = [stack.image("md-a"), stack.image("md-b")];
    await Promise.all(repos.map((r) => stack.pushImage(r, "1")));
    const refs = repos.map((r) => stack.ref(r, "1"));
    cache().proxy.clearLog();
    cache().proxy.addFault({ name: "cache-down", action: { status: 503 } });
    try {
      const json = files.file("cache-down.json");
      const run = await runCli([...refs, "--json", json], { env: envWith(cache().host, { PULL_RETRIES: "1" }) });
      assert.equal(run.code, 0, run.stderr + run.stdout);
      const parsed = await report(json);
      for (const image of parsed.images) {
        assert.equal(image.source, "upstream");
        assert.equal(image.status, "pulled");
        // PULL_RETRIES=1: had the failover spent the one attempt, the image would have failed.
        assert.equal(image.attempts.filter((a) => a.mirror === undefined).length, 1);
      }
      assert.match(run.stdout + run.stderr, /→ registry/);
      assert.equal(cache().proxy.count({ client: "engine" }), 0, "the engine never tried the cache that answered 503 to its HEAD");
    } finally {
      cache().proxy.clearFaults();
    }
  });

  it("the cache answers its manifest but fails the layers: the engine's failed attempt there spends nothing, upstream serves", async () => {
    const repo = stack.image("mf");
    await stack.pushImage(repo, "1", { sizeBytes: 20_000 });
    cache().proxy.addFault({ name: "blobs-down", match: { kind: "blob", client: "engine" }, action: { status: 503 } });
    try {
      const json = files.file("blobs-down.json");
      const run = await runCli([stack.ref(repo, "1"), "--json", json], { env: envWith(cache().host, { PULL_RETRIES: "1" }) });
      assert.equal(run.code, 0, run.stderr + run.stdout);
      const parsed = await report(json);
      const image = parsed.images[0];
      assert.equal(image?.source, "upstream");
      // PULL_RETRIES=1 and two attempts: the one on the cache did not count.
      assert.deepEqual(
        image?.attempts.map((a) => [a.class, a.mirror]),
        [
          ["transient", cache().host],
          ["pulled", undefined],
        ],
      );
      assert.match(run.stdout + run.stderr, /spent no attempt|no attempt spent/);
    } finally {
      cache().proxy.clearFaults();
    }
  });

  it("the cache lacks one image (its upstream does not have it yet either): that one from upstream, the others from the cache", async () => {
    const repos = [stack.image("ml-a"), stack.image("ml-b")];
    await Promise.all(repos.map((r) => stack.pushImage(r, "1")));
    const refs = repos.map((r) => stack.ref(r, "1"));
    // The cache cannot fetch the second repository from upstream: to the cache, it does not exist.
    cache().upstreamProxy.addFault({
      name: "hidden",
      match: { repository: repos[1] },
      action: { status: 404, body: { errors: [{ code: "MANIFEST_UNKNOWN", message: "manifest unknown" }] } },
    });
    try {
      const json = files.file("lacks.json");
      const run = await runCli([...refs, "--json", json], { env: envWith(cache().host) });
      assert.equal(run.code, 0, run.stderr + run.stdout);
      const parsed = await report(json);
      assert.deepEqual(
        parsed.images.map((i) => i.source),
        ["mirror", "upstream"],
      );
      assert.deepEqual(
        parsed.images[1]?.attempts.map((a) => a.mirror),
        [undefined],
        "no engine attempt was spent on the cache",
      );
    } finally {
      cache().upstreamProxy.clearFaults();
    }
  });

  it("a static mirror serving another digest under the tag is reported, and the image comes from upstream", async () => {
    const mirror = stack.staticMirror;
    assert.ok(mirror);
    const repo = stack.image("mx");
    const real = await stack.pushImage(repo, "1", { sizeBytes: 3000 });
    const other = await mirror.pushImage(repo, "1", { sizeBytes: 4000 });
    assert.notEqual(real.manifestDigest, other.manifestDigest);
    mirror.proxy.clearLog();
    const json = files.file("other-digest.json");
    const run = await runCli([stack.ref(repo, "1"), "--json", json, "--quiet"], { env: envWith(mirror.host) });
    assert.equal(run.code, 0, run.stderr + run.stdout);
    assert.match(run.stdout + run.stderr, new RegExp(`WARNING: .*${other.manifestDigest}.*${real.manifestDigest}`));
    const parsed = await report(json);
    assert.equal(parsed.images[0]?.source, "upstream");
    assert.equal(parsed.images[0]?.digest, real.manifestDigest);
    assert.ok(parsed.images[0]?.reason?.includes(other.manifestDigest));
    assert.equal(mirror.proxy.count({ client: "engine" }), 0, "the engine never pulled the mirror's copy");
  });

  it("--keep-mirror-names keeps the mirror's name beside the original", async () => {
    const repo = stack.image("mk");
    const pushed = await stack.pushImage(repo, "1");
    const run = await runCli([stack.ref(repo, "1"), "--keep-mirror-names"], { env: envWith(cache().host) });
    assert.equal(run.code, 0, run.stderr + run.stdout);
    assert.equal((await inspect(stack.ref(repo, "1"))).status, 200);
    assert.equal((await inspect(`${cache().host}/${repo}@${pushed.manifestDigest}`)).status, 200);
  });

  it("the engine's own registry-mirrors are shown in the summary and the JSON report", async () => {
    // A daemon configured with a Hub mirror (nothing listens there: it is never used for this registry).
    const engine = await startDockerd({ extraArgs: ["--registry-mirror", "http://127.0.0.1:9/"] });
    try {
      const repo = stack.image("me");
      await stack.pushImage(repo, "1");
      const json = files.file("engine-mirrors.json");
      const run = await runCli([stack.ref(repo, "1"), "--json", json], { env: baseEnv({ DOCKER_HOST: engine.dockerHost, ...FAST }) });
      assert.equal(run.code, 0, run.stderr + run.stdout);
      assert.match(run.stdout, /engine registry-mirrors \(dockerd uses them by itself, for Docker Hub only\): http:\/\/127\.0\.0\.1:9\//);
      const parsed = JSON.parse(await readFile(json, "utf8")) as { engineMirrors?: string[] };
      assert.deepEqual(parsed.engineMirrors, ["http://127.0.0.1:9/"]);
    } finally {
      await engine.stop();
    }
  });

  it("a bad --mirror entry is a usage error naming it", async () => {
    const run = await runCli(["--mirror", "docker.io=nodot", "nginx"], { env: baseEnv({ DOCKER_HOST: stack.engine.dockerHost }) });
    assert.equal(run.code, 2);
    assert.match(run.stderr, /--mirror: mirror "docker.io=nodot"/);
  });
});
