// prepull's registry client against the real registries of the harness: the plain one (through
// the fault proxy), the htpasswd one (Basic) and the token-auth one (Bearer JWTs from the harness's
// issuer, verified by the registry itself). Assertions are on the typed results and on what the
// registry side saw (the proxy log, the issuer log).
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, request as httpRequest, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { FakeClock } from "../../src/clock/fake.js";
import { createCredentialStore } from "../../src/engine/credentials.js";
import { createRegistryClient, hasPlatform, type ManifestResult, type RegistryClientOptions } from "../../src/registry/index.js";
import { formatLog } from "../../stack/fault-proxy.js";
import { startStack, type Stack } from "../../stack/stack.js";

const START = 1_000_000;

describe("registry client on the real registries", () => {
  let stack: Stack;
  let root: string;
  const clients: Array<{ close(): void }> = [];

  before(async () => {
    stack = await startStack({ auth: true, tokenAuth: true, seed: 5 });
    root = await mkdtemp(join(tmpdir(), "prepull-regclient-"));
  });
  after(async () => {
    for (const client of clients) client.close();
    stack?.proxy.closeStalled();
    await stack?.stop();
    if (root) await rm(root, { recursive: true, force: true });
  });

  /** A client with a fake clock (for `until` and token expiry) and no proxy variables. */
  function client(extra: Partial<RegistryClientOptions> = {}) {
    const made = createRegistryClient({ clock: new FakeClock(START), env: {}, certsDir: join(root, "no-certs"), ...extra });
    clients.push(made);
    return made;
  }

  let configs = 0;
  /** A credential store reading a Docker config with these `auths`. */
  async function store(auths: Record<string, unknown>) {
    const dir = join(root, `config-${configs++}`);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, "config.json"), JSON.stringify({ auths }));
    return createCredentialStore({ env: { DOCKER_CONFIG: dir } });
  }
  const basicEntry = (user: string, password: string) => ({ auth: Buffer.from(`${user}:${password}`).toString("base64") });

  const target = (host: string, repository: string, ref: { tag?: string; digest?: string }) => ({ registry: host, repository, ...ref });
  const expectOk = (result: ManifestResult) => {
    assert.equal(result.kind, "ok", JSON.stringify(result));
    return result as Extract<ManifestResult, { kind: "ok" }>;
  };

  describe("manifests on the plain registry", () => {
    it("resolves a tag with one HEAD carrying all four media types, and no GET", async () => {
      const repo = stack.image("tag");
      const pushed = await stack.pushImage(repo, "v1");
      const regClient = client();
      const ok = expectOk(await regClient.resolveManifest(target(stack.host, repo, { tag: "v1" })));
      assert.equal(ok.digest, pushed.manifestDigest);
      assert.equal(ok.via, "head");
      assert.equal(ok.isIndex, false);
      assert.equal(ok.mediaType, "application/vnd.docker.distribution.manifest.v2+json");
      const manifests = stack.proxy.requests({ repository: repo, kind: "manifest" });
      assert.deepEqual(
        manifests.map((e) => e.method),
        ["HEAD"],
        formatLog(manifests),
      );
    });

    it("resolves a digest reference and an OCI index, and reads the index's platforms once", async () => {
      const repo = stack.image("index");
      const list = await stack.pushPlatformList(repo, "multi", ["amd64", "arm64"], { format: "oci" });
      const regClient = client();
      const byTag = expectOk(await regClient.resolveManifest(target(stack.host, repo, { tag: "multi" })));
      assert.equal(byTag.digest, list.manifestDigest);
      assert.equal(byTag.isIndex, true);
      assert.equal(byTag.mediaType, "application/vnd.oci.image.index.v1+json");
      const byDigest = expectOk(await regClient.resolveManifest(target(stack.host, repo, { digest: list.manifestDigest })));
      assert.equal(byDigest.digest, list.manifestDigest);

      const first = await regClient.platformsOf({ registry: stack.host, repository: repo }, list.manifestDigest);
      const second = await regClient.platformsOf({ registry: stack.host, repository: repo }, list.manifestDigest);
      assert.equal(first.kind, "ok", JSON.stringify(first));
      assert.deepEqual(second, first);
      const platforms = first.kind === "ok" ? (first.platforms ?? []) : [];
      assert.ok(hasPlatform(platforms, { os: "linux", architecture: "arm64" }));
      assert.ok(!hasPlatform(platforms, { os: "linux", architecture: "s390x" }));
      assert.equal(
        stack.proxy.count({ repository: repo, kind: "manifest", method: "GET", ref: list.manifestDigest }),
        1,
        "the index is fetched once per digest",
      );
    });

    it("says manifest-unknown for a missing tag, and name-unknown when the registry's body says so", async () => {
      const repo = stack.image("missing");
      await stack.pushImage(repo, "v1");
      const regClient = client();
      const missingTag = await regClient.resolveManifest(target(stack.host, repo, { tag: "nope" }));
      assert.equal(missingTag.kind, "not-found", JSON.stringify(missingTag));
      assert.equal(missingTag.kind === "not-found" && missingTag.reason, "manifest-unknown");

      const ghost = stack.image("ghost");
      const remove = stack.proxy.addFault({
        name: "name-unknown",
        match: { kind: "manifest", repository: ghost },
        action: { status: 404, body: { errors: [{ code: "NAME_UNKNOWN", message: "repository name not known to registry" }] } },
      });
      try {
        const missingRepo = await regClient.resolveManifest(target(stack.host, ghost, { tag: "v1" }));
        assert.equal(missingRepo.kind === "not-found" && missingRepo.reason, "name-unknown", JSON.stringify(missingRepo));
        assert.deepEqual(
          stack.proxy.requests({ repository: ghost }).map((e) => e.method),
          ["HEAD", "GET"],
          "one HEAD, one GET for the error body",
        );
      } finally {
        remove();
      }
    });

    it("falls back to GET and hashes the body only when the HEAD names no digest", async () => {
      const repo = stack.image("nodigest");
      const pushed = await stack.pushImage(repo, "v1");
      const remove = stack.proxy.addFault({
        name: "strip-digest",
        match: { kind: "manifest", repository: repo },
        action: { rewriteHeaders: { remove: ["docker-content-digest"] } },
      });
      try {
        const regClient = client();
        const byTag = expectOk(await regClient.resolveManifest(target(stack.host, repo, { tag: "v1" })));
        assert.equal(byTag.via, "get");
        assert.equal(byTag.digest, pushed.manifestDigest);
        const byDigest = expectOk(await regClient.resolveManifest(target(stack.host, repo, { digest: pushed.manifestDigest })));
        assert.equal(byDigest.via, "head", "a digest reference needs no GET");
        assert.deepEqual(
          stack.proxy.requests({ repository: repo }).map((e) => `${e.method} ${e.ref}`),
          ["HEAD v1", "GET v1", `HEAD ${pushed.manifestDigest}`],
        );
      } finally {
        remove();
      }
    });
  });

  describe("throttling and outages seen through the fault proxy", () => {
    it("reads Retry-After in seconds into `until` on the injected clock", async () => {
      const repo = stack.image("throttled");
      await stack.pushImage(repo, "v1");
      const remove = stack.proxy.addFault({
        match: { kind: "manifest", repository: repo, method: "HEAD" },
        action: { status: 429, headers: { "Retry-After": "8" } },
      });
      try {
        const result = await client().resolveManifest(target(stack.host, repo, { tag: "v1" }));
        assert.equal(result.kind, "throttled", JSON.stringify(result));
        if (result.kind !== "throttled") return;
        assert.equal(result.until, START + 8_000);
        assert.equal(result.throttle.kind, "generic");
        assert.equal(stack.proxy.count({ repository: repo, kind: "manifest" }), 1, "a 429 is not retried by the client");
      } finally {
        remove();
      }
    });

    it("reads Retry-After as an HTTP date against the answer's own Date header", async () => {
      const repo = stack.image("throttled-date");
      await stack.pushImage(repo, "v1");
      const served = Date.UTC(2026, 11, 1, 12, 0, 0);
      const remove = stack.proxy.addFault({
        match: { kind: "manifest", repository: repo, method: "HEAD" },
        action: { status: 429, headers: { Date: new Date(served).toUTCString(), "Retry-After": new Date(served + 30_000).toUTCString() } },
      });
      try {
        const result = await client().resolveManifest(target(stack.host, repo, { tag: "v1" }));
        assert.equal(result.kind === "throttled" && result.until, START + 30_000, JSON.stringify(result));
      } finally {
        remove();
      }
    });

    it("reports a 503 as unavailable and Hub-style quota headers on a success", async () => {
      const repo = stack.image("quota");
      const pushed = await stack.pushImage(repo, "v1");
      const regClient = client();
      const down = stack.proxy.addFault({ match: { kind: "manifest", repository: repo }, when: { times: 1 }, action: { status: 503 } });
      const outage = await regClient.resolveManifest(target(stack.host, repo, { tag: "v1" }));
      down();
      assert.equal(outage.kind === "unavailable" && outage.status, 503, JSON.stringify(outage));

      const quota = { "ratelimit-limit": "100;w=21600", "ratelimit-remaining": "20;w=21600", "docker-ratelimit-source": "203.0.113.7" };
      const remove = stack.proxy.addFault({ match: { kind: "manifest", repository: repo }, action: { rewriteHeaders: { set: quota } } });
      try {
        const ok = expectOk(await regClient.resolveManifest(target(stack.host, repo, { tag: "v1" })));
        assert.equal(ok.digest, pushed.manifestDigest);
        assert.deepEqual(ok.quota, { limit: 100, remaining: 20, windowSeconds: 21600, source: "203.0.113.7" });
        assert.deepEqual(regClient.lastQuota(stack.host), ok.quota);
      } finally {
        remove();
      }
    });

    it("answers unreachable when nothing listens, and when the HEAD is never answered", async () => {
      const closed = await client().resolveManifest(target("127.0.0.1:1", "x", { tag: "v1" }));
      assert.equal(closed.kind, "unreachable", JSON.stringify(closed));
      assert.match(closed.kind === "unreachable" ? closed.cause : "", /ECONNREFUSED/);

      const repo = stack.image("stalled");
      await stack.pushImage(repo, "v1");
      const remove = stack.proxy.addFault({ match: { kind: "manifest", repository: repo }, action: { stall: true } });
      try {
        const stalled = await client({ timeoutMs: 500 }).resolveManifest(target(stack.host, repo, { tag: "v1" }));
        assert.equal(stalled.kind, "unreachable", JSON.stringify(stalled));
        assert.match(stalled.kind === "unreachable" ? stalled.cause : "", /within 500 ms/);
      } finally {
        remove();
        stack.proxy.closeStalled();
      }
    });

    it("sends plain-HTTP requests through an HTTP proxy when one is chosen", async () => {
      const repo = stack.image("proxied");
      const pushed = await stack.pushImage(repo, "v1");
      const seen: string[] = [];
      const forwardProxy = await startForwardProxy(seen);
      try {
        const proxyUrl = new URL(`http://127.0.0.1:${(forwardProxy.address() as { port: number }).port}`);
        const ok = expectOk(await client({ proxyFor: () => proxyUrl }).resolveManifest(target(stack.host, repo, { tag: "v1" })));
        assert.equal(ok.digest, pushed.manifestDigest);
        assert.deepEqual(seen, [`GET http://${stack.host}/v2/`, `HEAD http://${stack.host}/v2/${repo}/manifests/v1`]);
      } finally {
        await new Promise((resolve) => forwardProxy.close(resolve));
      }
    });
  });

  describe("Basic auth on the htpasswd registry", () => {
    it("resolves with the right credentials and says denied, credentials sent or not, otherwise", async () => {
      const auth = stack.auth!;
      const repo = stack.image("private");
      const pushed = await auth.pushImage(repo, "v1");
      const right = client({ credentials: await store({ [auth.host]: basicEntry(auth.user, auth.password) }) });
      assert.equal(expectOk(await right.resolveManifest(target(auth.host, repo, { tag: "v1" }))).digest, pushed.manifestDigest);

      const wrong = await client({ credentials: await store({ [auth.host]: basicEntry(auth.user, "wrong-password-123") }) }).resolveManifest(
        target(auth.host, repo, { tag: "v1" }),
      );
      assert.equal(wrong.kind, "denied", JSON.stringify(wrong));
      assert.equal(wrong.kind === "denied" && wrong.credentialsSent, true);
      assert.equal(wrong.kind === "denied" && wrong.anonymousWorks, false);
      assert.ok(!JSON.stringify(wrong).includes("wrong-password-123"), "the password never appears in a result");

      const none = await client().resolveManifest(target(auth.host, repo, { tag: "v1" }));
      assert.equal(none.kind === "denied" && none.credentialsSent, false, JSON.stringify(none));
      const heads = auth.proxy.requests({ repository: repo, kind: "manifest" }).map((e) => `${e.method} ${e.status}`);
      // right: 200; wrong: 401, then one anonymous try (401); none: 401. Nothing is retried blindly.
      assert.deepEqual(heads, ["HEAD 200", "HEAD 401", "HEAD 401", "HEAD 401"], formatLog(auth.proxy.requests({ repository: repo })));
    });
  });

  describe("Bearer tokens on the token-auth registry", () => {
    it("gets an anonymous token for a public repository and is denied a private one", async () => {
      const token = stack.token!;
      const publicRepo = `public-${stack.image("anon")}`;
      const privateRepo = stack.image("closed");
      const pushed = await token.pushImage(publicRepo, "v1");
      await token.pushImage(privateRepo, "v1");
      const regClient = client();
      assert.equal(expectOk(await regClient.resolveManifest(target(token.host, publicRepo, { tag: "v1" }))).digest, pushed.manifestDigest);
      const denied = await regClient.resolveManifest(target(token.host, privateRepo, { tag: "v1" }));
      assert.equal(denied.kind, "denied", JSON.stringify(denied));
      assert.equal(denied.kind === "denied" && denied.credentialsSent, false);
      assert.equal(token.proxy.count({ repository: privateRepo, kind: "manifest" }), 1, "a fresh token that is not enough is not asked for again");
      const grants = token.issuer.log.filter((e) => e.scopes.some((s) => s.includes(publicRepo)));
      assert.deepEqual(
        grants.map((e) => [e.grant, e.service]),
        [["anonymous", token.issuer.service]],
      );
    });

    it("uses Basic credentials at the realm, caches the token per scope, and refreshes it after a 401", async () => {
      const token = stack.token!;
      const repo = stack.image("bearer");
      const pushed = await token.pushImage(repo, "v1");
      const clock = new FakeClock(START);
      const regClient = client({ clock, credentials: await store({ [token.host]: basicEntry(token.user, token.password) }) });
      const requestsFor = () => token.issuer.log.filter((e) => e.scopes.includes(`repository:${repo}:pull`));

      assert.equal(expectOk(await regClient.resolveManifest(target(token.host, repo, { tag: "v1" }))).digest, pushed.manifestDigest);
      assert.equal(expectOk(await regClient.resolveManifest(target(token.host, repo, { tag: "v1" }))).digest, pushed.manifestDigest);
      assert.deepEqual(
        requestsFor().map((e) => e.grant),
        ["basic"],
        "the second HEAD reuses the cached token",
      );

      await clock.advance(300_000); // the issuer's expires_in
      expectOk(await regClient.resolveManifest(target(token.host, repo, { tag: "v1" })));
      assert.equal(requestsFor().length, 2, "an expired token is asked for again");

      // A 401 without a challenge (gcr.io does this): the ping's challenge is used for a new token.
      const remove = token.proxy.addFault({
        match: { kind: "manifest", repository: repo, method: "HEAD" },
        when: { times: 1 },
        action: { status: 401, headers: { "WWW-Authenticate": "" } },
      });
      try {
        expectOk(await regClient.resolveManifest(target(token.host, repo, { tag: "v1" })));
        assert.equal(requestsFor().length, 3);
      } finally {
        remove();
      }
    });

    it("shares one ping and one token request among parallel resolves of one repository", async () => {
      const token = stack.token!;
      const repo = stack.image("parallel");
      await token.pushImage(repo, "v1");
      const regClient = client({ credentials: await store({ [token.host]: basicEntry(token.user, token.password) }) });
      const pingsBefore = token.proxy.count({ kind: "ping" });
      const results = await Promise.all(Array.from({ length: 5 }, () => regClient.resolveManifest(target(token.host, repo, { tag: "v1" }))));
      assert.deepEqual(
        results.map((r) => r.kind),
        ["ok", "ok", "ok", "ok", "ok"],
      );
      assert.equal(token.proxy.count({ kind: "ping" }) - pingsBefore, 1);
      assert.equal(token.issuer.log.filter((e) => e.scopes.includes(`repository:${repo}:pull`)).length, 1);
    });

    it("learns the scheme from the manifest's 401 when the ping teaches nothing (a 404 on /v2/)", async () => {
      const token = stack.token!;
      const repo = stack.image("noping");
      const pushed = await token.pushImage(repo, "v1");
      const remove = token.proxy.addFault({ match: { kind: "ping" }, action: { status: 404 } });
      try {
        const regClient = client({ credentials: await store({ [token.host]: basicEntry(token.user, token.password) }) });
        assert.equal(expectOk(await regClient.resolveManifest(target(token.host, repo, { tag: "v1" }))).digest, pushed.manifestDigest);
        assert.deepEqual(
          token.proxy.requests({ repository: repo }).map((e) => `${e.method} ${e.status}`),
          ["HEAD 401", "HEAD 200"],
        );
      } finally {
        remove();
      }
    });

    it("exchanges an identity token with the OAuth2 refresh-token POST", async () => {
      const token = stack.token!;
      const repo = stack.image("identity");
      const pushed = await token.pushImage(repo, "v1");
      const regClient = client({ credentials: await store({ [token.host]: { identitytoken: token.issuer.identityToken } }) });
      assert.equal(expectOk(await regClient.resolveManifest(target(token.host, repo, { tag: "v1" }))).digest, pushed.manifestDigest);
      const grants = token.issuer.log.filter((e) => e.scopes.includes(`repository:${repo}:pull`));
      assert.deepEqual(
        grants.map((e) => [e.method, e.grant]),
        [["POST", "refresh_token"]],
      );
    });

    it("says denied at the token stage for a wrong password, and that anonymous access works for a public image", async () => {
      const token = stack.token!;
      const repo = `public-${stack.image("stale")}`;
      await token.pushImage(repo, "v1");
      const secret = "stale-password-456";
      const regClient = client({ credentials: await store({ [token.host]: basicEntry(token.user, secret) }) });
      const result = await regClient.resolveManifest(target(token.host, repo, { tag: "v1" }));
      assert.equal(result.kind, "denied", JSON.stringify(result));
      if (result.kind !== "denied") return;
      assert.equal(result.stage, "token");
      assert.equal(result.credentialsSent, true);
      assert.equal(result.anonymousWorks, true);
      assert.ok(!JSON.stringify(result).includes(secret));
    });
  });
});

/** A minimal forward proxy for absolute-form http:// requests; records "METHOD URL". */
async function startForwardProxy(seen: string[]): Promise<Server> {
  const server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    const url = new URL(req.url ?? "");
    const upstream = httpRequest({ host: url.hostname, port: url.port, method: req.method, path: url.pathname + url.search, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    upstream.on("error", () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return server;
}
