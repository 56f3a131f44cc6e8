import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { rootCertificates } from "node:tls";
import { FakeClock } from "../../src/clock/fake.js";
import { apiHost, createRegistryClient } from "../../src/registry/client.js";
import {
  MANIFEST_ACCEPT,
  MEDIA_TYPES,
  hasPlatform,
  isIndexMediaType,
  mediaTypeOf,
  parseErrorBody,
  platformsOfIndex,
  sha256Digest,
} from "../../src/registry/manifest.js";
import { envProxyResolver, noProxyMatcher } from "../../src/registry/proxy.js";
import { insecurePolicy, tlsMaterialFor } from "../../src/registry/trust.js";

describe("manifest requests", () => {
  it("accept all four manifest media types, so a HEAD 404 means absent", () => {
    const accepted = MANIFEST_ACCEPT.split(",")
      .map((t) => t.trim())
      .sort();
    assert.deepEqual(accepted, Object.values(MEDIA_TYPES).sort());
  });

  it("tell an index from an image manifest, parameters and case aside", () => {
    assert.ok(isIndexMediaType("application/vnd.oci.image.index.v1+json"));
    assert.ok(isIndexMediaType("Application/vnd.docker.distribution.manifest.list.v2+json; charset=utf-8"));
    assert.ok(!isIndexMediaType(MEDIA_TYPES.dockerManifest));
    assert.ok(!isIndexMediaType(undefined));
  });

  it("take the media type from the body when the Content-Type is generic", () => {
    const body = Buffer.from(JSON.stringify({ mediaType: MEDIA_TYPES.ociIndex, manifests: [] }));
    assert.equal(mediaTypeOf("application/json", body), MEDIA_TYPES.ociIndex);
    assert.equal(mediaTypeOf(`${MEDIA_TYPES.dockerManifest}; x=y`), MEDIA_TYPES.dockerManifest);
  });

  it("hash a body as sha256", () => {
    assert.equal(sha256Digest(Buffer.from("")), "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  });

  it("read registry error codes, and nothing from HTML", () => {
    assert.deepEqual(parseErrorBody('{"errors":[{"code":"name_unknown","message":"repository name not known","detail":{}}]}'), [
      { code: "NAME_UNKNOWN", message: "repository name not known" },
    ]);
    assert.deepEqual(parseErrorBody("<html>429</html>"), []);
  });
});

describe("platforms of an index", () => {
  const index = Buffer.from(
    JSON.stringify({
      manifests: [
        { digest: "sha256:a", platform: { os: "linux", architecture: "amd64" } },
        { digest: "sha256:b", platform: { os: "linux", architecture: "arm64", variant: "v8" } },
        { digest: "sha256:c", platform: { os: "unknown", architecture: "unknown" } },
        { digest: "sha256:d" },
      ],
    }),
  );

  it("lists the entries with a platform, attestations included as unknown", () => {
    const parsed = platformsOfIndex(index);
    assert.ok(parsed.ok);
    assert.deepEqual(parsed.ok && parsed.platforms.map((p) => `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ""}`), [
      "linux/amd64",
      "linux/arm64/v8",
      "unknown/unknown",
    ]);
    assert.equal(platformsOfIndex(Buffer.from("{}")).ok, false);
  });

  it("matches like containerd: arm64 means v8, aliases are normalized, unknown never matches", () => {
    const parsed = platformsOfIndex(index);
    const platforms = parsed.ok ? parsed.platforms : [];
    assert.ok(hasPlatform(platforms, { os: "linux", architecture: "arm64" }));
    assert.ok(hasPlatform(platforms, { os: "linux", architecture: "aarch64" }));
    assert.ok(hasPlatform(platforms, { os: "linux", architecture: "x86_64" }));
    assert.ok(!hasPlatform(platforms, { os: "linux", architecture: "arm", variant: "v7" }));
    assert.ok(!hasPlatform(platforms, { os: "windows", architecture: "amd64" }));
    assert.ok(hasPlatform([{ os: "linux", architecture: "arm64" }], { os: "linux", architecture: "arm64", variant: "v8" }), "an entry without variant is v8");
  });
});

describe("where requests go", () => {
  it("sends docker.io to Docker Hub's API host", () => {
    assert.equal(apiHost("docker.io"), "registry-1.docker.io");
    assert.equal(apiHost("index.docker.io"), "registry-1.docker.io");
    assert.equal(apiHost("ghcr.io"), "ghcr.io");
  });

  it("uses plain HTTP for loopback always, for listed names and for names resolving into listed CIDRs", async () => {
    const looked: string[] = [];
    const policy = insecurePolicy(["10.0.0.0/8", "myreg:5000", "plainhost"], async (host) => {
      looked.push(host);
      return host === "internal.example" ? ["10.1.2.3"] : ["203.0.113.9"];
    });
    assert.equal(await policy.isInsecure("127.0.0.1:5000"), true);
    assert.equal(await policy.isInsecure("[::1]:5000"), true);
    assert.equal(await policy.isInsecure("myreg:5000"), true);
    assert.equal(await policy.isInsecure("myreg:5001"), false, "a name entry with a port names that port only");
    assert.equal(await policy.isInsecure("plainhost:443"), true);
    assert.equal(await policy.isInsecure("internal.example"), true);
    assert.equal(await policy.isInsecure("ghcr.io"), false);
    assert.equal(await policy.isInsecure("ghcr.io"), false);
    assert.deepEqual(looked, ["myreg", "internal.example", "ghcr.io"], "each name is resolved once");
  });

  it("treats a name that does not resolve as secure, like the engine", async () => {
    const policy = insecurePolicy(["0.0.0.0/0"], () => Promise.reject(new Error("ENOTFOUND")));
    assert.equal(await policy.isInsecure("nowhere.example"), false);
  });

  it("rejects a bad insecure entry, naming it", () => {
    assert.throws(() => insecurePolicy(["10.0.0.0/33"]), /"10\.0\.0\.0\/33"/);
  });

  it("honours HTTPS_PROXY/HTTP_PROXY per scheme, NO_PROXY, and never proxies loopback", () => {
    const proxyFor = envProxyResolver({
      HTTPS_PROXY: "proxy.corp:3128",
      http_proxy: "http://u:p@plain.corp:80",
      NO_PROXY: "internal.example,.corp.example,10.0.0.0/8,ghcr.io:444",
    });
    const via = (url: string) => proxyFor(new URL(url))?.host;
    assert.equal(via("https://registry-1.docker.io/v2/"), "proxy.corp:3128");
    assert.equal(via("http://registry.lan/v2/"), "plain.corp");
    assert.equal(via("https://internal.example/v2/"), undefined);
    assert.equal(via("https://sub.internal.example/v2/"), undefined, "a plain domain covers its subdomains");
    assert.equal(via("https://corp.example/v2/"), "proxy.corp:3128", "a leading dot covers subdomains only");
    assert.equal(via("https://a.corp.example/v2/"), undefined);
    assert.equal(via("https://10.3.4.5/v2/"), undefined);
    assert.equal(via("https://ghcr.io/v2/"), "proxy.corp:3128", "a port in NO_PROXY names that port only");
    assert.equal(via("https://ghcr.io:444/v2/"), undefined);
    assert.equal(via("https://127.0.0.1:5000/v2/"), undefined);
    assert.equal(via("https://localhost/v2/"), undefined);
    assert.equal(envProxyResolver({})(new URL("https://ghcr.io/")), undefined);
    assert.ok(noProxyMatcher("*")("anything", "443"));
  });

  it("refuses a proxy it cannot speak, naming the variable", () => {
    assert.throws(() => envProxyResolver({ HTTPS_PROXY: "socks5://p:1080" }), /HTTPS_PROXY/);
  });

  it("fails at construction on bad options, naming them", () => {
    const clock = new FakeClock(0);
    assert.throws(() => createRegistryClient({ clock, env: {}, timeoutMs: 0 }), /timeoutMs/);
    assert.throws(() => createRegistryClient({ clock, env: { HTTP_PROXY: "ftp://x" } }), /HTTP_PROXY/);
    assert.throws(() => createRegistryClient({ clock, env: {}, insecure: ["1.2.3.4/99"] }), /1\.2\.3\.4\/99/);
  });
});

describe("certs.d", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "prepull-certsd-"));
    await mkdir(join(dir, "reg.example:5000"));
    await writeFile(join(dir, "reg.example:5000", "ca.crt"), "CA-PEM");
    await writeFile(join(dir, "reg.example:5000", "client.cert"), "CERT-PEM");
    await writeFile(join(dir, "reg.example:5000", "client.key"), "KEY-PEM");
    await mkdir(join(dir, "broken.example"));
    await writeFile(join(dir, "broken.example", "client.cert"), "CERT-PEM");
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it("adds the host's CAs to the system ones and loads a client pair", async () => {
    const tls = await tlsMaterialFor(dir, "reg.example:5000");
    assert.deepEqual(tls.ca?.slice(-1), ["CA-PEM"]);
    assert.equal(tls.ca?.length, rootCertificates.length + 1);
    assert.equal(tls.cert, "CERT-PEM");
    assert.equal(tls.key, "KEY-PEM");
  });

  it("uses the defaults without a directory, and refuses a cert without its key", async () => {
    assert.deepEqual(await tlsMaterialFor(dir, "other.example"), {});
    await assert.rejects(tlsMaterialFor(dir, "broken.example"), /client\.key/);
  });
});
