// Smoke tests of the test bench itself, against the REAL dockerd (Engine API over its unix socket),
// a real registry and the fault proxy. They pin the exact messages dockerd 20.10 gives for each
// fault, which the classifier is built on. Missing binaries make this suite FAIL, never skip.
import assert from "node:assert/strict";
import { request } from "node:http";
import type { IncomingHttpHeaders } from "node:http";
import { after, before, describe, test } from "node:test";
import { formatLog, startFaultProxy } from "../../stack/fault-proxy.js";
import type { FaultProxy, RequestSelector } from "../../stack/fault-proxy.js";
import { makeTar, pushImage } from "../../stack/images.js";
import { startStack } from "../../stack/stack.js";
import type { Stack } from "../../stack/stack.js";
import { findBinary } from "../../stack/util.js";

// --- a tiny Engine API client, local to this test ----------------------------------------------

interface PullResult {
  /** HTTP status of POST /images/create. */
  readonly httpStatus: number;
  /** JSON lines of a 200 stream (or the one JSON body of an error status). */
  readonly lines: readonly Record<string, unknown>[];
  /** The error message: `message` of an error body, or `error` of the stream's last line. */
  readonly error?: string;
  /** Last `status` text of the stream. */
  readonly lastStatus?: string;
  /** ms from the request to the response headers, and to the end of the stream. */
  readonly headersMs: number;
  readonly totalMs: number;
}

function splitReference(reference: string): { fromImage: string; tag: string } {
  const slash = reference.lastIndexOf("/");
  const colon = reference.lastIndexOf(":");
  if (colon > slash) return { fromImage: reference.slice(0, colon), tag: reference.slice(colon + 1) };
  return { fromImage: reference, tag: "latest" };
}

function engineRequest(
  socketPath: string,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  signal?: AbortSignal,
): Promise<{ status: number; headers: IncomingHttpHeaders; body: string; headersMs: number; totalMs: number }> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method, path, headers, ...(signal ? { signal } : {}) }, (res) => {
      const headersMs = Date.now() - started;
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, headersMs, totalMs: Date.now() - started }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

async function pull(stack: Stack, reference: string, options: { registryAuth?: string; signal?: AbortSignal } = {}): Promise<PullResult> {
  const { fromImage, tag } = splitReference(reference);
  const query = new URLSearchParams({ fromImage, tag }).toString();
  const headers: Record<string, string> = options.registryAuth ? { "X-Registry-Auth": options.registryAuth } : {};
  const res = await engineRequest(stack.engine.socketPath, "POST", `/v1.41/images/create?${query}`, headers, options.signal);
  const lines = res.body
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  let error: string | undefined;
  if (res.status !== 200) error = String(lines[0]?.message ?? res.body);
  else {
    const last = lines.at(-1);
    if (last && typeof last.error === "string") error = last.error;
  }
  const lastStatus = [...lines].reverse().find((l) => typeof l.status === "string")?.status as string | undefined;
  return {
    httpStatus: res.status,
    lines,
    ...(error !== undefined ? { error } : {}),
    ...(lastStatus !== undefined ? { lastStatus } : {}),
    headersMs: res.headersMs,
    totalMs: res.totalMs,
  };
}

/** Assertion context: the proxy log of a repository, shown when an assertion fails. */
function logOf(proxy: FaultProxy, filter: RequestSelector): string {
  return `\nproxy log:\n${formatLog(proxy.requests(filter))}`;
}

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

// --- the suite ---------------------------------------------------------------------------------

// A missing stack must count as a FAILED test (a failing before() hook is only "cancelled").
test("the stack's binaries are installed (apt-get install -y docker.io docker-registry apache2-utils)", () => {
  findBinary("dockerd", ["/usr/sbin/dockerd", "/usr/bin/dockerd"]);
  findBinary("docker-registry", ["/usr/bin/docker-registry"]);
  findBinary("htpasswd", ["/usr/bin/htpasswd"], "apt-get install -y apache2-utils");
});

describe("test bench against the real dockerd", { timeout: 120_000 }, () => {
  let stack: Stack;

  before(async () => {
    stack = await startStack({ auth: true, seed: 7 });
  });

  after(async () => {
    await stack?.stop();
  });

  test("a clean pull succeeds; the proxy logs ping, manifest and blob requests", async () => {
    const repo = stack.image("clean");
    const image = await stack.pushImage(repo, "v1", { layers: 2, sizeBytes: 200_000 });
    assert.equal(image.reference, `${stack.proxy.host}/${repo}:v1`);
    assert.equal(stack.proxy.count({ repository: repo }), 0, "seeding must not go through the proxy");

    const result = await pull(stack, image.reference);
    assert.equal(result.httpStatus, 200);
    assert.equal(result.error, undefined, logOf(stack.proxy, { repository: repo }));
    assert.equal(result.lastStatus, `Status: Downloaded newer image for ${image.reference}`);
    assert.ok(result.lines.some((l) => l.status === `Digest: ${image.manifestDigest}`));

    const p = stack.proxy;
    assert.ok(p.count({ kind: "ping", status: 200 }) >= 1);
    assert.deepEqual(
      p.requests({ repository: repo, kind: "manifest" }).map((e) => [e.method, e.ref, e.status]),
      [
        ["HEAD", "v1", 200],
        ["GET", image.manifestDigest, 200],
      ],
      logOf(p, { repository: repo }),
    );
    for (const blob of [{ digest: image.configDigest, size: image.configSize }, ...image.layers]) {
      const hits = p.requests({ repository: repo, kind: "blob", digest: blob.digest });
      assert.equal(hits.length, 1, `one GET of ${blob.digest}${logOf(p, { repository: repo })}`);
      assert.equal(hits[0]?.status, 200);
      assert.equal(hits[0]?.bytes, blob.size);
    }
    assert.equal(image.totalBytes, image.layers[0]!.size + image.layers[1]!.size);
    assert.ok(image.totalBytes > 200_000, "random payload does not compress");
    assert.equal(p.maxConcurrent({ repository: repo, kind: "manifest" }), 1);

    const inspect = await engineRequest(stack.engine.socketPath, "GET", `/v1.41/images/${image.reference}/json`);
    assert.equal(inspect.status, 200);
    const info = JSON.parse(inspect.body) as { Architecture: string; RootFS: { Layers: string[] } };
    assert.equal(info.Architecture, "amd64");
    assert.deepEqual(
      info.RootFS.Layers,
      image.layers.map((l) => l.diffId),
    );

    const again = await pull(stack, image.reference);
    assert.equal(again.lastStatus, `Status: Image is up to date for ${image.reference}`);
  });

  test("manifest 500: HTTP 500 'received unexpected HTTP status: 500 Internal Server Error', HEAD + GET, no blobs", async () => {
    const repo = stack.image("m500");
    const image = await stack.pushImage(repo, "v1");
    const remove = stack.proxy.addFault({ name: "m500", match: { kind: "manifest", repository: repo }, action: { status: 500 } });
    try {
      const result = await pull(stack, image.reference);
      assert.equal(result.httpStatus, 500);
      assert.equal(result.error, "received unexpected HTTP status: 500 Internal Server Error");
      // The daemon does not retry a manifest: one HEAD, then one GET to read the error body.
      assert.deepEqual(
        stack.proxy.requests({ repository: repo }).map((e) => [e.method, e.kind, e.status, e.fault]),
        [
          ["HEAD", "manifest", 500, "m500"],
          ["GET", "manifest", 500, "m500"],
        ],
      );
    } finally {
      remove();
    }
  });

  test("manifest 503 and 429: the status text, and toomanyrequests (Retry-After is dropped)", async () => {
    const repo503 = stack.image("m503");
    const repo429 = stack.image("m429");
    const [i503, i429] = await Promise.all([stack.pushImage(repo503, "v1"), stack.pushImage(repo429, "v1")]);
    stack.proxy.addFault({ match: { kind: "manifest", repository: repo503 }, action: { status: 503 } });
    stack.proxy.addFault({ match: { kind: "manifest", repository: repo429 }, action: { status: 429, headers: { "Retry-After": "7" } } });
    try {
      const r503 = await pull(stack, i503.reference);
      assert.equal(r503.httpStatus, 500);
      assert.equal(r503.error, "received unexpected HTTP status: 503 Service Unavailable");
      const r429 = await pull(stack, i429.reference);
      assert.equal(r429.httpStatus, 500);
      assert.equal(r429.error, "toomanyrequests: too many requests");
      assert.equal(stack.proxy.count({ repository: repo429, kind: "manifest" }), 2);
    } finally {
      stack.proxy.clearFaults();
    }
  });

  test("arm64-only manifest list: HTTP 200 and 'no matching manifest for linux/amd64' in the stream", async () => {
    const repo = stack.image("armonly");
    const list = await stack.pushPlatformList(repo, "v1", ["arm64/v8"]);
    assert.equal(list.images.length, 1);
    assert.equal(list.images[0]?.architecture, "arm64");
    const result = await pull(stack, list.reference);
    assert.equal(result.httpStatus, 200);
    assert.equal(result.error, "no matching manifest for linux/amd64 in the manifest list entries");
    assert.deepEqual(result.lines[0], { status: `Pulling from ${repo}`, id: "v1" });
    assert.equal(stack.proxy.count({ repository: repo, kind: "blob" }), 0, "nothing is downloaded");

    // The same list with an amd64 entry pulls the amd64 image.
    const both = stack.image("multi");
    const multi = await stack.pushPlatformList(both, "v1", ["arm64", "amd64"]);
    const ok = await pull(stack, multi.reference);
    assert.equal(ok.error, undefined);
    assert.ok(ok.lines.some((l) => l.status === `Digest: ${multi.manifestDigest}`));
    const amd64 = multi.images.find((i) => i.architecture === "amd64")!;
    assert.equal(stack.proxy.count({ repository: both, kind: "blob", digest: amd64.layers[0]!.digest }), 1);
  });

  test("unknown tag: HTTP 404 'manifest for <ref> not found: manifest unknown: manifest unknown'", async () => {
    const repo = stack.image("unknown");
    await stack.pushImage(repo, "v1");
    const reference = stack.ref(repo, "nope");
    const result = await pull(stack, reference);
    assert.equal(result.httpStatus, 404);
    assert.equal(result.error, `manifest for ${reference} not found: manifest unknown: manifest unknown`);
  });

  test("401 and 403 on the manifest: 'unauthorized: authentication required' and 'pull access denied … denied: …'", async () => {
    const r401 = stack.image("m401");
    const r403 = stack.image("m403");
    const [i401, i403] = await Promise.all([stack.pushImage(r401, "v1"), stack.pushImage(r403, "v1")]);
    stack.proxy.addFault({ match: { kind: "manifest", repository: r401 }, action: { status: 401 } });
    stack.proxy.addFault({ match: { kind: "manifest", repository: r403 }, action: { status: 403 } });
    try {
      const a = await pull(stack, i401.reference);
      assert.equal(a.httpStatus, 500);
      assert.equal(a.error, "unauthorized: authentication required");
      const b = await pull(stack, i403.reference);
      assert.equal(b.httpStatus, 404);
      assert.equal(
        b.error,
        `pull access denied for ${stack.proxy.host}/${r403}, repository does not exist or may require 'docker login': denied: requested access to the resource is denied`,
      );
    } finally {
      stack.proxy.clearFaults();
    }
  });

  test("a non-JSON 403 body: 'error parsing HTTP 403 response body: …'", async () => {
    const repo = stack.image("html403");
    const image = await stack.pushImage(repo, "v1");
    const remove = stack.proxy.addFault({ match: { kind: "manifest", repository: repo }, action: { status: 403, body: "<html>Forbidden</html>" } });
    try {
      const result = await pull(stack, image.reference);
      assert.equal(result.httpStatus, 500);
      assert.equal(result.error, `error parsing HTTP 403 response body: invalid character '<' looking for beginning of value: "<html>Forbidden</html>"`);
    } finally {
      remove();
    }
  });

  test("reset and close on the manifest: 'connection reset by peer' and 'EOF', exactly one request", async () => {
    const rReset = stack.image("reset");
    const rClose = stack.image("close");
    const [iReset, iClose] = await Promise.all([stack.pushImage(rReset, "v1"), stack.pushImage(rClose, "v1")]);
    stack.proxy.addFault({ match: { kind: "manifest", repository: rReset }, action: { reset: true } });
    stack.proxy.addFault({ match: { kind: "manifest", repository: rClose }, action: { close: true } });
    try {
      const a = await pull(stack, iReset.reference);
      assert.equal(a.httpStatus, 500);
      const head = `Head "http://${stack.proxy.host}/v2/${rReset}/manifests/v1"`;
      assert.match(a.error ?? "", new RegExp(`^${escape(head)}: read tcp 127\\.0\\.0\\.1:\\d+->${escape(stack.proxy.host)}: read: connection reset by peer$`));
      assert.deepEqual(
        stack.proxy.requests({ repository: rReset }).map((e) => [e.method, e.status]),
        [["HEAD", "reset"]],
      );

      const b = await pull(stack, iClose.reference);
      assert.equal(b.httpStatus, 500);
      assert.equal(b.error, `Head "http://${stack.proxy.host}/v2/${rClose}/manifests/v1": EOF`);
      assert.deepEqual(
        stack.proxy.requests({ repository: rClose }).map((e) => [e.method, e.status]),
        [["HEAD", "close"]],
      );
    } finally {
      stack.proxy.clearFaults();
    }
  });

  test("a layer cut off once: the daemon waits 5 s and resumes with a Range request", async () => {
    const repo = stack.image("truncate");
    const image = await stack.pushImage(repo, "v1", { sizeBytes: 1_000_000 });
    const layer = image.layers[0]!;
    const remove = stack.proxy.addFault({ name: "cut", match: { kind: "blob", digest: layer.digest }, when: { times: 1 }, action: { truncate: 300_000 } });
    try {
      const result = await pull(stack, image.reference);
      assert.equal(result.error, undefined, logOf(stack.proxy, { repository: repo }));
      assert.equal(result.lastStatus, `Status: Downloaded newer image for ${image.reference}`);
      assert.ok(result.lines.some((l) => l.status === "Retrying in 5 seconds" && l.id === layer.digest.slice(7, 19)));
      const hits = stack.proxy.requests({ kind: "blob", digest: layer.digest });
      assert.deepEqual(
        hits.map((e) => [e.status, e.bytes, e.range, e.fault]),
        [
          ["truncate", 300_000, undefined, "cut"],
          [206, layer.size - 300_000, "bytes=300000-", undefined],
        ],
        logOf(stack.proxy, { repository: repo }),
      );
    } finally {
      remove();
    }
  });

  test("config blob 500 twice: the daemon's own retries (0.25 s, 0.5 s) get it", async () => {
    const repo = stack.image("config500");
    const image = await stack.pushImage(repo, "v1");
    const remove = stack.proxy.addFault({ match: { kind: "blob", digest: image.configDigest }, when: { times: 2 }, action: { status: 500 } });
    try {
      const result = await pull(stack, image.reference);
      assert.equal(result.error, undefined);
      assert.deepEqual(
        stack.proxy.requests({ digest: image.configDigest }).map((e) => e.status),
        [500, 500, 200],
      );
    } finally {
      remove();
    }
  });

  test("a stalled manifest: no response headers until closeStalled(), then 'Head …: EOF'", async () => {
    const repo = stack.image("stall");
    const image = await stack.pushImage(repo, "v1");
    const remove = stack.proxy.addFault({ match: { kind: "manifest", repository: repo }, action: { stall: true } });
    try {
      const pending = pull(stack, image.reference);
      await stack.proxy.waitFor({ repository: repo, kind: "manifest" });
      await new Promise((resolve) => setTimeout(resolve, 500));
      assert.equal(stack.proxy.requests({ repository: repo })[0]?.endedAt, undefined, "still stalled");
      assert.equal(stack.proxy.closeStalled(), 1);
      const result = await pending;
      assert.ok(result.headersMs >= 500, `headers only after the stall ended (${result.headersMs} ms)`);
      assert.equal(result.httpStatus, 500);
      assert.equal(result.error, `Head "http://${stack.proxy.host}/v2/${repo}/manifests/v1": EOF`);
      assert.equal(stack.proxy.requests({ repository: repo })[0]?.status, "stall");
    } finally {
      remove();
    }
  });

  test("htpasswd registry: X-Registry-Auth pulls; none gives 'no basic auth credentials'; wrong gives unauthorized", async () => {
    const auth = stack.auth!;
    const repo = stack.image("private");
    const image = await auth.pushImage(repo, "v1");
    assert.equal(image.reference, `${auth.host}/${repo}:v1`);

    const ok = await pull(stack, image.reference, { registryAuth: auth.registryAuthHeader });
    assert.equal(ok.error, undefined, logOf(auth.proxy, {}));
    assert.equal(ok.lastStatus, `Status: Downloaded newer image for ${image.reference}`);

    const repo2 = stack.image("private");
    const image2 = await auth.pushImage(repo2, "v1");
    const none = await pull(stack, image2.reference);
    assert.equal(none.httpStatus, 500);
    assert.equal(none.error, `Head "http://${auth.host}/v2/${repo2}/manifests/v1": no basic auth credentials`);
    assert.equal(auth.proxy.count({ repository: repo2 }), 0, "the daemon gives up after the 401 ping");

    const wrong = Buffer.from(JSON.stringify({ username: auth.user, password: "wrong", serveraddress: auth.host }))
      .toString("base64")
      .replace(/\+/g, "-")
      .replace(/\//g, "_");
    const bad = await pull(stack, image2.reference, { registryAuth: wrong });
    assert.equal(bad.httpStatus, 500);
    assert.equal(bad.error, "unauthorized: authentication required");
    assert.deepEqual(
      auth.proxy.requests({ repository: repo2 }).map((e) => [e.method, e.status]),
      [
        ["HEAD", 401],
        ["GET", 401],
      ],
    );
  });
});

describe("fault proxy rules (plain HTTP against the real registry)", { timeout: 60_000 }, () => {
  let stack: Stack;
  let repo: string;
  let blob: { digest: string; size: number };

  before(async () => {
    stack = await startStack({ seed: 3 });
    repo = stack.image("rules");
    const image = await stack.pushImage(repo, "v1", { sizeBytes: 100_000 });
    blob = image.layers[0]!;
  });

  after(async () => {
    await stack?.stop();
  });

  /** GET through the proxy; resolves with the status (or the error code) and the bytes received. */
  function get(path: string, options: { host?: string; abortAfterMs?: number; method?: string } = {}): Promise<{ status: number | string; bytes: number }> {
    const [hostname, port] = (options.host ?? stack.proxy.host).split(":");
    return new Promise((resolve) => {
      let bytes = 0;
      let status: number | string = "no response";
      const req = request({ host: hostname, port: Number(port), path, method: options.method ?? "GET", agent: false }, (res) => {
        status = res.statusCode ?? 0;
        res.on("data", (chunk: Buffer) => (bytes += chunk.length));
        res.on("end", () => resolve({ status, bytes }));
        res.on("error", () => resolve({ status: `${status}+cut`, bytes }));
        res.on("close", () => resolve({ status: res.complete ? status : `${status}+cut`, bytes }));
      });
      req.on("error", (error: NodeJS.ErrnoException) => resolve({ status: status === "no response" ? (error.code ?? "error") : `${status}+cut`, bytes }));
      if (options.abortAfterMs !== undefined) setTimeout(() => req.destroy(), options.abortAfterMs);
      req.end();
    });
  }

  test("times, time windows and kind/method matching", async () => {
    const p = stack.proxy;
    const manifest = `/v2/${repo}/manifests/v1`;
    p.addFault({ name: "twice", match: { kind: "manifest", repository: repo, method: "GET" }, when: { times: 2 }, action: { status: 502 } });
    assert.deepEqual(
      [(await get(manifest)).status, (await get(manifest, { method: "HEAD" })).status, (await get(manifest)).status, (await get(manifest)).status],
      [502, 200, 502, 200],
    );
    p.clearFaults();
    p.addFault({ name: "window", match: { kind: "ping" }, when: { afterMs: 150, untilMs: 400 }, action: { status: 503 } });
    const statuses: (number | string)[] = [(await get("/v2/")).status];
    await new Promise((resolve) => setTimeout(resolve, 250));
    statuses.push((await get("/v2/")).status);
    await new Promise((resolve) => setTimeout(resolve, 250));
    statuses.push((await get("/v2/")).status);
    assert.deepEqual(statuses, [200, 503, 200]);
    p.clearFaults();
  });

  test("probability follows the seed: two proxies with one seed inject the same pattern", async () => {
    const patterns: string[] = [];
    for (let round = 0; round < 2; round++) {
      const proxy = await startFaultProxy({ target: stack.registry.host, seed: 99 });
      try {
        proxy.addFault({ match: { kind: "ping" }, when: { probability: 0.5 }, action: { status: 500 } });
        let pattern = "";
        for (let i = 0; i < 16; i++) pattern += (await get("/v2/", { host: proxy.host })).status === 500 ? "x" : ".";
        patterns.push(pattern);
      } finally {
        await proxy.stop();
      }
    }
    assert.equal(patterns[0], patterns[1]);
    assert.match(patterns[0] ?? "", /x/);
    assert.match(patterns[0] ?? "", /\./);
  });

  test("admitPerSecond: a brownout lets n requests a second through and answers 503 to the rest", async () => {
    const p = stack.proxy;
    const since = p.now();
    const remove = p.addFault({ name: "brownout", match: { kind: "ping" }, action: { admitPerSecond: 2 } });
    try {
      const results = await Promise.all(Array.from({ length: 6 }, () => get("/v2/")));
      assert.deepEqual(results.map((r) => r.status).sort(), [200, 200, 503, 503, 503, 503]);
      assert.equal(p.count({ kind: "ping", since, fault: "brownout" }), 4);
      assert.equal(p.count({ kind: "ping", since, fault: false }), 2);
      assert.ok(p.maxConcurrent({ kind: "ping", since }) >= 1);
    } finally {
      remove();
    }
  });

  test("truncate and stallAfterBytes cut a blob; closeStalled() releases the stall", async () => {
    const p = stack.proxy;
    const path = `/v2/${repo}/blobs/${blob.digest}`;
    const removeCut = p.addFault({ match: { digest: blob.digest }, when: { times: 1 }, action: { truncate: 1000 } });
    const cut = await get(path);
    assert.deepEqual(cut, { status: "200+cut", bytes: 1000 });
    removeCut();
    assert.deepEqual(await get(path), { status: 200, bytes: blob.size });

    p.addFault({ name: "stall-body", match: { digest: blob.digest }, when: { times: 1 }, action: { stall: true, stallAfterBytes: 4096 } });
    const since = p.now();
    const pending = get(path);
    const [entry] = await p.waitFor({ digest: blob.digest, since, fault: "stall-body" });
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(entry?.endedAt, undefined);
    assert.equal(entry?.bytes, 4096);
    assert.equal(p.closeStalled(), 1);
    assert.deepEqual(await pending, { status: "200+cut", bytes: 4096 });
    assert.equal(entry?.status, "stall");
    p.clearFaults();
  });

  test("client aborts are logged and harmless; maxConcurrent sees overlapping requests", async () => {
    const p = stack.proxy;
    const since = p.now();
    p.addFault({ name: "slow", match: { kind: "ping" }, when: { times: 3 }, action: { delayMs: 300 } });
    const [aborted, ...rest] = await Promise.all([get("/v2/", { abortAfterMs: 50 }), get("/v2/"), get("/v2/")]);
    assert.equal(aborted?.status, "ECONNRESET");
    assert.deepEqual(
      rest.map((r) => r.status),
      [200, 200],
    );
    await new Promise((resolve) => setTimeout(resolve, 50));
    const pings = p.requests({ kind: "ping", since });
    assert.deepEqual(pings.map((e) => e.status).sort(), [200, 200, "aborted"]);
    assert.equal(p.maxConcurrent({ kind: "ping", since }), 3);
    assert.equal(pings[2]?.inFlightAtStart, 2);
    p.clearFaults();
    // Sequential requests never overlap.
    const since2 = p.now();
    await get("/v2/");
    await get("/v2/");
    assert.equal(p.maxConcurrent({ kind: "ping", since: since2 }), 1);
  });

  test("uploads pass through the proxy (Host is kept, so Location points back at it)", async () => {
    const p = stack.proxy;
    const pushed = await pushImage(p.host, stack.image("via-proxy"), "v1");
    assert.ok(p.count({ repository: pushed.repository, kind: "upload", method: "PUT", status: 201 }) >= 2);
    const fetched = await get(`/v2/${pushed.repository}/manifests/v1`);
    assert.equal(fetched.status, 200);
  });

  test("stop() ends stalled requests and is idempotent", async () => {
    const proxy = await startFaultProxy({ target: stack.registry.host });
    proxy.addFault({ match: { kind: "any" }, action: { stall: true } });
    const pending = get("/v2/", { host: proxy.host });
    await proxy.waitFor({ kind: "ping" });
    await Promise.all([proxy.stop(), proxy.stop()]);
    const result = await pending;
    assert.ok(result.status === "ECONNRESET" || result.status === "no response", String(result.status));
    assert.equal(proxy.log[0]?.status, "stall");
  });

  test("bad rules fail when added, naming the option", () => {
    assert.throws(
      () => stack.proxy.addFault({ name: "p", when: { probability: 2 }, action: { status: 500 } }),
      /fault rule "p": probability must be in \[0, 1\]/,
    );
    assert.throws(() => stack.proxy.addFault({ action: { status: 1000 } }), /status must be an HTTP status/);
    assert.throws(() => stack.proxy.addFault({ action: { truncate: -1 } }), /truncate must be an integer >= 0/);
  });

  test("a missing binary fails with what to install", () => {
    assert.throws(() => findBinary("pp-no-such-daemon", []), {
      message: "pp-no-such-daemon not found: install it with `apt-get install -y docker.io docker-registry`",
    });
  });

  test("makeTar writes valid ustar headers", () => {
    const tar = makeTar([{ name: "a.txt", content: Buffer.from("hello") }]);
    assert.equal(tar.length, 512 + 512 + 1024);
    assert.equal(tar.subarray(257, 262).toString(), "ustar");
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : tar[i]!;
    assert.equal(parseInt(tar.subarray(148, 154).toString(), 8), sum);
    assert.equal(tar.subarray(512, 517).toString(), "hello");
  });
});
