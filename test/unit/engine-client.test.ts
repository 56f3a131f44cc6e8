import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, afterEach, before, beforeEach, describe, it } from "node:test";
import { connectEngine, type DockerEngine } from "../../src/engine/client.js";
import { registryAuthHeader, type CredentialStore, type RegistryAuth } from "../../src/engine/credentials.js";
import type { AttemptOutcome, PullProgress } from "../../src/engine/engine.js";
import type { Reference, Result } from "../../src/types.js";

// A fake engine: a real HTTP server on a unix socket, answering /version and scripted pulls, so the
// client's sockets, chunking and aborts are the real thing.

const SECRET = "pa55-W0rd-never-printed";
const DIGEST = "sha256:4959ce8823fb3869b58c86c128a73d953a844ad781f9e97cfbbde2c0c569efff";
const line = (value: object) => JSON.stringify(value) + "\r\n";
const downloading = (id: string, current: number, total: number) => line({ status: "Downloading", progressDetail: { current, total }, id });

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

interface Seen {
  readonly method: string;
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
}

interface FakeEngine {
  readonly socket: string;
  readonly seen: Seen[];
  /** Resolves when the client closes the connection of the latest request. */
  closed: Promise<void>;
  version: Handler;
  route: Handler;
  /** When set, GET /images/…/json answers it: the image the engine shows after a pull. */
  image?: object;
}

let dir: string;
let fake: FakeEngine;
let server: http.Server;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "prepull-engine-"));
  fake = {
    socket: join(dir, "engine.sock"),
    seen: [],
    closed: Promise.resolve(),
    version: (_req, res) => json(res, 200, { ApiVersion: "1.41", Version: "20.10.24", Os: "linux", Arch: "amd64", MinAPIVersion: "1.12" }),
    route: (_req, res) => json(res, 404, { message: "page not found" }),
  };
  server = http.createServer((req, res) => {
    fake.seen.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers });
    fake.closed = new Promise((resolve) => res.on("close", () => resolve()));
    if (req.url === "/version") fake.version(req, res);
    else if (fake.image && req.method === "GET" && /^\/v[\d.]+\/images\/.*\/json$/.test(req.url ?? "")) json(res, 200, fake.image);
    else fake.route(req, res);
  });
  await new Promise<void>((resolve) => server.listen(fake.socket, resolve));
});

after(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await rm(dir, { recursive: true, force: true });
});

afterEach(() => {
  fake.seen.length = 0;
  fake.version = (_req, res) => json(res, 200, { ApiVersion: "1.41", Version: "20.10.24", Os: "linux", Arch: "amd64" });
  fake.route = (_req, res) => json(res, 404, { message: "page not found" });
  delete fake.image;
});

function json(res: http.ServerResponse, status: number, body: unknown) {
  res.writeHead(status, { "Content-Type": "application/json" });
  res.end(JSON.stringify(body));
}

/** Answers 200 and writes the chunks one by one, a tick apart, then ends unless told not to. */
function streaming(chunks: readonly string[], options: { end?: boolean; afterChunks?: (res: http.ServerResponse) => void } = {}): Handler {
  return (_req, res) => {
    res.writeHead(200, { "Content-Type": "application/json" });
    let i = 0;
    const next = () => {
      if (res.destroyed) return;
      const chunk = chunks[i++];
      if (chunk !== undefined) {
        res.write(chunk);
        setTimeout(next, 2);
      } else if (options.afterChunks) options.afterChunks(res);
      else if (options.end !== false) res.end();
    };
    next();
  };
}

const ref = (over: Partial<Reference> = {}): Reference => {
  const base = { input: "127.0.0.1:5000/team/app:v1", registry: "127.0.0.1:5000", repository: "team/app", tag: "v1", ...over };
  return { ...base, canonical: `${base.registry}/${base.repository}${base.tag ? `:${base.tag}` : ""}${base.digest ? `@${base.digest}` : ""}` };
};

const noCredentials: CredentialStore = { forRegistry: async () => ({ ok: true, value: undefined }) };
const basic: RegistryAuth = { kind: "basic", username: "alice", password: SECRET, serverAddress: "127.0.0.1:5000" };

async function connect(options: { credentials?: CredentialStore; timeoutMs?: number } = {}): Promise<DockerEngine> {
  const connected = await connectEngine({
    env: { DOCKER_HOST: `unix://${fake.socket}` },
    credentials: options.credentials ?? noCredentials,
    timeoutMs: options.timeoutMs ?? 2000,
  });
  assert.ok(connected.ok, connected.ok ? "" : connected.error.message);
  return connected.value;
}

interface Watched {
  readonly outcome: AttemptOutcome;
  readonly progress: PullProgress[];
  readonly events: string[];
}

async function watchPull(engine: DockerEngine, reference: Reference, signal: AbortSignal = new AbortController().signal): Promise<Watched> {
  const progress: PullProgress[] = [];
  const events: string[] = [];
  const outcome = await engine.pull({
    reference,
    signal,
    onAnswer: () => events.push("answer"),
    onProgress: (p) => {
      events.push("progress");
      progress.push(p);
    },
  });
  return { outcome, progress, events };
}

function assertNoSecret(outcome: AttemptOutcome | string) {
  const text = typeof outcome === "string" ? outcome : JSON.stringify(outcome);
  for (const secret of [SECRET, registryAuthHeader(basic)]) assert.ok(!text.includes(secret), `leaked a secret: ${text}`);
}

describe("engine client: connecting", () => {
  it("speaks the server's API version when it is older than ours", async () => {
    const engine = await connect();
    assert.deepEqual(engine.info, {
      address: `unix://${fake.socket}`,
      apiVersion: "1.41",
      serverApiVersion: "1.41",
      serverVersion: "20.10.24",
      os: "linux",
      arch: "amd64",
    });
    assert.deepEqual(
      fake.seen.map((s) => s.url),
      ["/version"],
    );
  });

  it("speaks our newest version to a newer server", async () => {
    fake.version = (_req, res) => json(res, 200, { ApiVersion: "1.51", Version: "28.2.2" });
    assert.equal((await connect()).info.apiVersion, "1.45");
  });

  it("compares versions as numbers: 1.9 is older than 1.24", async () => {
    fake.version = (_req, res) => json(res, 200, { ApiVersion: "1.9" });
    const connected = await connectEngine({ env: { DOCKER_HOST: `unix://${fake.socket}` }, credentials: noCredentials });
    assert.ok(!connected.ok);
    assert.equal(connected.error.reason, "unsupported");
    assert.match(connected.error.message, /speaks API 1\.9, older than the 1\.24.*upgrade Docker/);
  });

  it("speaks a version given with stray spaces in its canonical form, so request paths stay valid", async () => {
    fake.version = (_req, res) => json(res, 200, { ApiVersion: " 1.41 " });
    const engine = await connect();
    assert.equal(engine.info.apiVersion, "1.41");
    // The request goes out (the fake engine answers it 404) instead of Node refusing its path.
    const { outcome } = await watchPull(engine, ref());
    assert.ok(!outcome.ok && outcome.kind === "engine" && outcome.httpStatus === 404, JSON.stringify(outcome));
    assert.ok(fake.seen.some((s) => s.url.startsWith("/v1.41/images/create?")));
  });

  it("accepts exactly 1.24", async () => {
    fake.version = (_req, res) => json(res, 200, { ApiVersion: "1.24" });
    assert.equal((await connect()).info.apiVersion, "1.24");
  });

  it("says a server that does not answer /version like an engine is not one", async () => {
    for (const answer of [(res: http.ServerResponse) => json(res, 404, { message: "nope" }), (res: http.ServerResponse) => json(res, 200, { Version: "x" })]) {
      fake.version = (_req, res) => answer(res);
      const connected = await connectEngine({ env: { DOCKER_HOST: `unix://${fake.socket}` }, credentials: noCredentials });
      assert.ok(!connected.ok);
      assert.equal(connected.error.reason, "protocol");
      assert.match(connected.error.message, /not a Docker engine: check DOCKER_HOST/);
    }
  });

  it("names the address and asks whether dockerd runs when the socket is missing", async () => {
    const missing = join(dir, "missing.sock");
    const connected = await connectEngine({ env: { DOCKER_HOST: `unix://${missing}` }, credentials: noCredentials });
    assert.ok(!connected.ok);
    assert.equal(connected.error.reason, "unreachable");
    assert.equal(connected.error.address, `unix://${missing}`);
    assert.equal(
      connected.error.message,
      `engine unreachable: cannot connect to the Docker engine at unix://${missing}, from DOCKER_HOST (connect ENOENT ${missing}): is dockerd running? Check DOCKER_HOST.`,
    );
  });

  it("gives up on an engine that does not answer /version in time", async () => {
    fake.version = () => undefined;
    const connected = await connectEngine({ env: { DOCKER_HOST: `unix://${fake.socket}` }, credentials: noCredentials, timeoutMs: 100 });
    assert.ok(!connected.ok);
    assert.match(connected.error.message, /^engine unreachable: .*no answer within 100 ms/);
    await fake.closed;
  });

  it("reports a bad DOCKER_HOST before connecting", async () => {
    const connected = await connectEngine({ env: { DOCKER_HOST: "ssh://build@host" }, credentials: noCredentials });
    assert.ok(!connected.ok);
    assert.equal(connected.error.reason, "config");
    assert.match(connected.error.message, /DOCKER_HOST="ssh:\/\/build@host"/);
  });

  it("stops when the caller's signal is already aborted", async () => {
    const connected = await connectEngine({ env: { DOCKER_HOST: `unix://${fake.socket}` }, credentials: noCredentials, signal: AbortSignal.abort() });
    assert.ok(!connected.ok);
    assert.deepEqual(fake.seen, []);
  });
});

/** What the engine shows after a pull of the default reference on this linux/amd64 engine. */
const PULLED_IMAGE = {
  Id: "sha256:8a87d4ee9ef6283707075daeb8b31c70209d2e473081bfa0802e3b399de93594",
  RepoDigests: [`127.0.0.1:5000/team/app@${DIGEST}`],
  Architecture: "amd64",
  Os: "linux",
};

describe("engine client: pulling", () => {
  beforeEach(() => {
    fake.image = PULLED_IMAGE;
  });
  const SUCCESS = [
    line({ status: "Pulling from team/app", id: "v1" }),
    line({ status: "Pulling fs layer", progressDetail: {}, id: "aaaaaaaaaaaa" }),
    downloading("aaaaaaaaaaaa", 1000, 3000),
    // A line cut in two chunks, and a chunk holding the end of one line and a whole other.
    downloading("aaaaaaaaaaaa", 2000, 3000).slice(0, 25),
    downloading("aaaaaaaaaaaa", 2000, 3000).slice(25) + line({ status: "Download complete", progressDetail: {}, id: "aaaaaaaaaaaa" }),
    line({ status: "Pull complete", progressDetail: {}, id: "aaaaaaaaaaaa" }),
    line({ status: `Digest: ${DIGEST}` }),
    line({ status: "Status: Downloaded newer image for 127.0.0.1:5000/team/app:v1" }),
  ];

  it("pulls through POST /v<version>/images/create and reports digest and bytes", async () => {
    const engine = await connect();
    fake.route = streaming(SUCCESS);
    const { outcome, progress, events } = await watchPull(engine, ref());
    assert.deepEqual(outcome, { ok: true, digest: DIGEST, bytes: 3000, upToDate: false, platform: "linux/amd64" });
    const pull = fake.seen.at(-2);
    assert.equal(pull?.method, "POST");
    assert.equal(pull?.url, "/v1.41/images/create?fromImage=127.0.0.1%3A5000%2Fteam%2Fapp&tag=v1");
    assert.equal(pull?.headers["x-registry-auth"], undefined);
    assert.equal(events[0], "answer");
    assert.equal(events.filter((e) => e === "answer").length, 1);
    assert.deepEqual(
      progress.map((p) => p.bytes),
      [0, 0, 1000, 2000, 3000, 3000, 3000, 3000],
    );
    assert.deepEqual(progress[2], { status: "Downloading", id: "aaaaaaaaaaaa", bytes: 1000, total: 3000, phase: "downloading" });
    assert.deepEqual(
      progress.map((p) => p.phase),
      ["resolving", "downloading", "downloading", "downloading", "extracting", "extracting", "extracting", "extracting"],
    );
  });

  it("reports an image that was already up to date", async () => {
    const engine = await connect();
    fake.route = streaming([
      line({ status: "Pulling from team/app", id: "v1" }),
      line({ status: `Digest: ${DIGEST}` }),
      line({ status: "Status: Image is up to date for 127.0.0.1:5000/team/app:v1" }),
    ]);
    assert.deepEqual((await watchPull(engine, ref())).outcome, { ok: true, digest: DIGEST, bytes: 0, upToDate: true, platform: "linux/amd64" });
  });

  it("pulls by digest when the reference has both a tag and a digest", async () => {
    const engine = await connect();
    fake.route = streaming(SUCCESS);
    await watchPull(engine, ref({ digest: DIGEST }));
    const url = new URL(`http://x${fake.seen.at(-2)?.url}`);
    assert.equal(url.searchParams.get("fromImage"), "127.0.0.1:5000/team/app");
    assert.equal(url.searchParams.get("tag"), DIGEST);
  });

  it("sends X-Registry-Auth for the image's registry when there are credentials", async () => {
    const asked: string[] = [];
    const credentials: CredentialStore = {
      forRegistry: async (registry) => {
        asked.push(registry);
        return { ok: true, value: basic };
      },
    };
    const engine = await connect({ credentials });
    fake.route = streaming(SUCCESS);
    const { outcome } = await watchPull(engine, ref({ registry: "docker.io", repository: "library/alpine" }));
    assert.ok(outcome.ok);
    assert.deepEqual(asked, ["docker.io"]);
    assert.equal(fake.seen.at(-2)?.headers["x-registry-auth"], registryAuthHeader(basic));
  });

  it("returns the engine's message and status for an HTTP error, without calling onAnswer", async () => {
    const engine = await connect();
    const message = "manifest for 127.0.0.1:5000/team/app:nope not found: manifest unknown: manifest unknown";
    fake.route = (_req, res) => json(res, 404, { message });
    const { outcome, events } = await watchPull(engine, ref({ tag: "nope" }));
    assert.deepEqual(outcome, { ok: false, kind: "engine", httpStatus: 404, message, bytes: 0, answered: false });
    assert.deepEqual(events, []);
  });

  it("keeps a non-JSON error body as the message, and reads at most 64 KiB of it", async () => {
    const engine = await connect();
    fake.route = (_req, res) => {
      res.writeHead(500, { "Content-Type": "text/plain" });
      res.write("x".repeat(200_000));
      // Never ends: the client must stop reading on its own.
    };
    const { outcome } = await watchPull(engine, ref());
    assert.ok(!outcome.ok && outcome.kind === "engine");
    assert.equal(outcome.httpStatus, 500);
    // 64 KiB read, 500 characters kept, and the cut is said.
    assert.equal(outcome.message, `${"x".repeat(500)} …[${64 * 1024 - 500} more characters cut]`);
  });

  it("fails on an error line although the HTTP status was 200, keeping bytes and answered", async () => {
    const engine = await connect();
    fake.route = streaming([
      line({ status: "Pulling from team/app", id: "v1" }),
      downloading("aaaaaaaaaaaa", 262394, 262394),
      line({ status: "Download complete", progressDetail: {}, id: "aaaaaaaaaaaa" }),
      line({ errorDetail: { message: "unknown blob" }, error: "unknown blob" }),
    ]);
    const { outcome, progress } = await watchPull(engine, ref());
    assert.deepEqual(outcome, { ok: false, kind: "engine", httpStatus: 200, message: "unknown blob", bytes: 262394, answered: true });
    assert.equal(progress.length, 3, "the error line is not progress");
  });

  it("takes a clean stream without a final status (podman's shape) as success once the engine shows the image", async () => {
    const engine = await connect();
    fake.route = streaming([
      line({ status: "Pulling fs layer", progressDetail: {}, id: "0cb088307c5a" }),
      line({ status: "Download complete", progressDetail: {}, id: "0cb088307c5a" }),
      line({ status: "Download complete", progressDetail: {}, id: "cafb9898d137" }),
    ]);
    const { outcome, events } = await watchPull(engine, ref());
    // No "Digest:" line: the engine's one repo digest for this repository stands in.
    assert.deepEqual(outcome, { ok: true, digest: DIGEST, bytes: 0, upToDate: false, platform: "linux/amd64" });
    assert.equal(events[0], "answer");
    assert.equal(fake.seen.at(-1)?.url, "/v1.41/images/127.0.0.1%3A5000/team/app%3Av1/json");
  });

  it("does not call a clean stream a success when the engine then does not have the image", async () => {
    const engine = await connect();
    delete fake.image;
    fake.route = (req, res) =>
      req.method === "POST"
        ? streaming([line({ status: "Pulling from team/app", id: "v1" }), downloading("aaaaaaaaaaaa", 10, 3000)])(req, res)
        : json(res, 404, { message: "No such image" });
    const { outcome } = await watchPull(engine, ref());
    assert.ok(!outcome.ok && outcome.kind === "engine");
    assert.equal(outcome.bytes, 10);
    assert.match(outcome.message, /without an error, but does not have the image afterwards/);
  });

  it("does not call a final 'Status:' line a success when the engine shows the image for another platform", async () => {
    const engine = await connect();
    fake.image = { ...PULLED_IMAGE, Architecture: "arm64" };
    fake.route = streaming(SUCCESS);
    const { outcome } = await watchPull(engine, ref());
    assert.ok(!outcome.ok && outcome.kind === "engine");
    assert.equal(outcome.message, "no matching image for linux/amd64: the engine pulled 127.0.0.1:5000/team/app:v1 but has it for linux/arm64");
  });

  it("asks for the requested platform and holds the pulled image to it, variant included", async () => {
    const engine = await connect();
    fake.image = { ...PULLED_IMAGE, Architecture: "arm", Variant: "v7" };
    fake.route = streaming(SUCCESS);
    const { outcome } = await engine
      .pull({ reference: ref(), signal: new AbortController().signal, platform: { os: "linux", architecture: "arm", variant: "v7" } })
      .then((o) => ({ outcome: o }));
    assert.deepEqual(outcome, { ok: true, digest: DIGEST, bytes: 3000, upToDate: false, platform: "linux/arm/v7" });
    assert.equal(new URL(`http://x${fake.seen.at(-2)?.url}`).searchParams.get("platform"), "linux/arm/v7");
    const v6 = await engine.pull({ reference: ref(), signal: new AbortController().signal, platform: { os: "linux", architecture: "arm", variant: "v6" } });
    assert.ok(!v6.ok && v6.kind === "engine");
    assert.match(v6.message, /^no matching image for linux\/arm\/v6: .* but has it for linux\/arm\/v7$/);
  });

  it("fails on an error line anywhere, even when the stream then ends with a final status", async () => {
    const engine = await connect();
    fake.route = streaming([
      line({ status: "Pulling from team/app", id: "v1" }),
      line({ error: "unexpected EOF", errorDetail: { message: "unexpected EOF" } }),
      ...SUCCESS.slice(-2),
    ]);
    const { outcome } = await watchPull(engine, ref());
    assert.ok(!outcome.ok && outcome.kind === "engine");
    assert.equal(outcome.message, "unexpected EOF");
  });

  it("reports a lost connection when the engine dies mid-stream, without credentials in the message", async () => {
    const engine = await connect({ credentials: { forRegistry: async () => ({ ok: true, value: basic }) } });
    fake.route = streaming([line({ status: "Pulling from team/app", id: "v1" }), downloading("aaaaaaaaaaaa", 500, 3000)], {
      afterChunks: (res) => res.socket?.destroy(),
    });
    const { outcome } = await watchPull(engine, ref());
    assert.ok(!outcome.ok && outcome.kind === "lost", JSON.stringify(outcome));
    assert.equal(outcome.answered, true);
    assert.equal(outcome.bytes, 500);
    assert.equal("httpStatus" in outcome, false, "a lost connection has no status to misread");
    assert.match(outcome.message, /^engine connection lost: .*during the pull of 127\.0\.0\.1:5000\/team\/app:v1 after 500 bytes/);
    assertNoSecret(outcome);
  });

  it("reports a lost connection when the engine closes before answering", async () => {
    const engine = await connect();
    fake.route = (req) => req.socket.destroy();
    const { outcome } = await watchPull(engine, ref());
    assert.ok(!outcome.ok && outcome.kind === "lost");
    assert.equal(outcome.answered, false);
    assert.match(outcome.message, /engine connection lost: .*before it answered/);
  });

  it("aborts mid-stream: closes the connection and reports bytes, answered and the stalled layer", async () => {
    const engine = await connect();
    fake.route = streaming(
      [
        line({ status: "Pulling from team/app", id: "v1" }),
        downloading("aaaaaaaaaaaa", 100, 3000),
        downloading("bbbbbbbbbbbb", 700, 700),
        line({ status: "Download complete", progressDetail: {}, id: "bbbbbbbbbbbb" }),
      ],
      { end: false },
    );
    const controller = new AbortController();
    const pulling = watchPull(engine, ref(), controller.signal);
    while (fake.seen.length < 2) await new Promise((resolve) => setTimeout(resolve, 5));
    await new Promise((resolve) => setTimeout(resolve, 50));
    controller.abort();
    const { outcome } = await pulling;
    assert.deepEqual(outcome, { ok: false, kind: "aborted", bytes: 800, answered: true, lastLayer: "aaaaaaaaaaaa", lastStatus: "Download complete" });
    await fake.closed;
  });

  it("aborts before the engine answered (a stalled manifest sends no headers)", async () => {
    const engine = await connect();
    fake.route = () => undefined;
    const controller = new AbortController();
    const pulling = watchPull(engine, ref(), controller.signal);
    while (fake.seen.length < 2) await new Promise((resolve) => setTimeout(resolve, 5));
    controller.abort();
    const { outcome, events } = await pulling;
    assert.deepEqual(outcome, { ok: false, kind: "aborted", bytes: 0, answered: false, lastLayer: undefined, lastStatus: undefined });
    assert.deepEqual(events, []);
    await fake.closed;
  });

  it("does not even ask when the signal is already aborted", async () => {
    const engine = await connect();
    const { outcome } = await watchPull(engine, ref(), AbortSignal.abort());
    assert.equal(outcome.ok, false);
    assert.equal(!outcome.ok && outcome.kind, "aborted");
    assert.deepEqual(
      fake.seen.map((s) => s.url),
      ["/version"],
    );
  });

  it("reports the engine as unreachable when its socket is gone", async () => {
    const engine = await connect();
    server.close();
    try {
      const { outcome } = await watchPull(engine, ref());
      assert.ok(!outcome.ok && outcome.kind === "unreachable", JSON.stringify(outcome));
      assert.match(
        outcome.message,
        /^engine unreachable: cannot connect to the Docker engine at unix:\/\/.*engine\.sock \(connect (ENOENT|ECONNREFUSED) .*is dockerd running\?/,
      );
    } finally {
      await new Promise<void>((resolve) => server.listen(fake.socket, resolve));
    }
  });

  it("turns a credential failure into a typed outcome that does not leak the secret", async () => {
    const credentials: CredentialStore = {
      forRegistry: async () => ({
        ok: false,
        error: { message: "credential helper docker-credential-x failed for 127.0.0.1:5000: it is not on PATH", retryable: false },
      }),
    };
    const engine = await connect({ credentials });
    const { outcome } = await watchPull(engine, ref());
    assert.ok(!outcome.ok && outcome.kind === "credentials");
    assert.equal(outcome.retryable, false);
    assert.match(outcome.message, /^cannot pull 127\.0\.0\.1:5000\/team\/app:v1: credential helper docker-credential-x/);
    assert.equal(fake.seen.length, 1, "no pull request without the credentials");
  });

  it("rejects (a bug, not an outcome) when a progress callback throws, and closes the stream", async () => {
    const engine = await connect();
    fake.route = streaming(SUCCESS, { end: false });
    const pulling = engine.pull({
      reference: ref(),
      signal: new AbortController().signal,
      onProgress: () => {
        throw new Error("consumer bug");
      },
    });
    await assert.rejects(pulling, /consumer bug/);
    await fake.closed;
  });
});

describe("engine client: local images", () => {
  const INSPECT = {
    Id: "sha256:8a87d4ee9ef6283707075daeb8b31c70209d2e473081bfa0802e3b399de93594",
    RepoDigests: [`127.0.0.1:5000/team/app@${DIGEST}`],
    Architecture: "amd64",
    Os: "linux",
  };

  it("inspects GET /v<version>/images/<name>/json by tag, or by digest when there is one", async () => {
    const engine = await connect();
    fake.route = (_req, res) => json(res, 200, INSPECT);
    const found = await engine.inspectImage(ref());
    assert.deepEqual(found, { ok: true, value: { id: INSPECT.Id, repoDigests: INSPECT.RepoDigests, architecture: "amd64", os: "linux", variant: undefined } });
    await engine.inspectImage(ref({ digest: DIGEST }));
    assert.deepEqual(
      fake.seen.slice(1).map((s) => s.url),
      ["/v1.41/images/127.0.0.1%3A5000/team/app%3Av1/json", `/v1.41/images/127.0.0.1%3A5000/team/app%40${DIGEST.replace(":", "%3A")}/json`],
    );
  });

  it("answers hasImage: 200 true, 404 false, anything else an error naming the image", async () => {
    const engine = await connect();
    fake.route = (_req, res) => json(res, 200, INSPECT);
    assert.equal(await engine.hasImage(ref()), true);
    fake.route = (_req, res) => json(res, 404, { message: "No such image: 127.0.0.1:5000/team/app:v1" });
    assert.equal(await engine.hasImage(ref()), false);
    fake.route = (_req, res) => json(res, 500, { message: "layer store broken" });
    await assert.rejects(engine.hasImage(ref()), /HTTP 500 when asked for 127\.0\.0\.1:5000\/team\/app:v1: layer store broken/);
  });

  it("answers hasImage for a platform: an image filed for another platform is not here", async () => {
    const engine = await connect();
    fake.route = (_req, res) => json(res, 200, { ...INSPECT, Architecture: "arm64", Variant: "v8" });
    assert.equal(await engine.hasImage(ref()), false, "the engine is linux/amd64");
    assert.equal(await engine.hasImage(ref(), undefined, { os: "linux", architecture: "arm64" }), true);
    assert.equal(await engine.hasImage(ref(), undefined, { os: "linux", architecture: "arm", variant: "v7" }), false);
    // An engine that does not describe the image's platform cannot be held to one.
    fake.route = (_req, res) => json(res, 200, { Id: INSPECT.Id });
    assert.equal(await engine.hasImage(ref(), undefined, { os: "linux", architecture: "arm64" }), true);
  });

  it("reports an inspect answer that is not the expected JSON", async () => {
    const engine = await connect();
    fake.route = (_req, res) => json(res, 200, ["not", "an", "image"]);
    const found: Result<unknown, string> = await engine.inspectImage(ref());
    assert.ok(!found.ok);
    assert.match(found.error, /not the expected JSON/);
  });

  it("tags an image: POST /images/<source>/tag with repo and tag; a refusal names both names", async () => {
    const engine = await connect();
    fake.route = (_req, res) => {
      res.writeHead(201);
      res.end();
    };
    const source = `127.0.0.1:6000/proxy/team/app@${DIGEST}`;
    assert.deepEqual(await engine.tag(source, ref()), { ok: true, value: undefined });
    assert.equal(fake.seen.at(-1)?.method, "POST");
    assert.equal(
      fake.seen.at(-1)?.url,
      `/v1.41/images/127.0.0.1%3A6000/proxy/team/app%40${DIGEST.replace(":", "%3A")}/tag?repo=127.0.0.1%3A5000%2Fteam%2Fapp&tag=v1`,
    );
    fake.route = (_req, res) => json(res, 404, { message: `No such image: ${source}` });
    const refused = await engine.tag(source, ref());
    assert.ok(!refused.ok);
    assert.match(refused.error, /HTTP 404 when asked to tag .* as 127\.0\.0\.1:5000\/team\/app:v1: No such image/);
  });

  it("removes a name, never the layers: DELETE /images/<name>?noprune=1; a refusal is an error", async () => {
    const engine = await connect();
    fake.route = (_req, res) => json(res, 200, [{ Untagged: "127.0.0.1:6000/team/app:v1" }]);
    assert.deepEqual(await engine.removeImage("127.0.0.1:6000/team/app:v1"), { ok: true, value: undefined });
    assert.equal(fake.seen.at(-1)?.method, "DELETE");
    assert.equal(fake.seen.at(-1)?.url, "/v1.41/images/127.0.0.1%3A6000/team/app%3Av1?noprune=1");
    fake.route = (_req, res) => json(res, 409, { message: "conflict: unable to remove repository reference (must force)" });
    const refused = await engine.removeImage("127.0.0.1:6000/team/app:v1");
    assert.ok(!refused.ok);
    assert.match(refused.error, /HTTP 409 .*must force/);
  });

  it("gives up on an inspect that does not answer in time", async () => {
    const engine = await connect({ timeoutMs: 100 });
    fake.route = () => undefined;
    const found = await engine.inspectImage(ref());
    assert.ok(!found.ok);
    assert.match(found.error, /cannot check whether the engine has 127\.0\.0\.1:5000\/team\/app:v1: .*no answer within 100 ms/);
  });
});
