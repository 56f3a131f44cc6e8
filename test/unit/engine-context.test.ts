import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { contextDirName, describeSource, dockerEndpoint, resolveEngine } from "../../src/engine/context.js";

// A real context store on disk, laid out as `docker context create` writes it.
let home: string;
let config: string;

async function writeContext(name: string, endpoint: object, tls: Record<string, string> = {}) {
  const id = createHash("sha256").update(name).digest("hex");
  const dir = join(config, "contexts", "meta", id);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "meta.json"), JSON.stringify({ Name: name, Metadata: { Description: "" }, Endpoints: { docker: endpoint } }));
  if (Object.keys(tls).length > 0) {
    const tlsDir = join(config, "contexts", "tls", id, "docker");
    await mkdir(tlsDir, { recursive: true });
    for (const [file, content] of Object.entries(tls)) await writeFile(join(tlsDir, file), content);
  }
}

before(async () => {
  home = await mkdtemp(join(tmpdir(), "prepull-context-"));
  config = join(home, "docker-config");
  await writeContext("colima", { Host: "unix:///home/u/.colima/default/docker.sock", SkipTLSVerify: false });
  await writeContext("remote", { Host: "tcp://10.0.0.5", SkipTLSVerify: false }, { "ca.pem": "CA", "cert.pem": "CERT", "key.pem": "KEY" });
  await writeContext("insecure", { Host: "tcp://10.0.0.6:2376", SkipTLSVerify: true });
  await writeContext("plain", { Host: "tcp://10.0.0.7:2375", SkipTLSVerify: false });
  await writeContext("sshy", { Host: "ssh://me@box", SkipTLSVerify: false });
  await writeContext("halfcert", { Host: "tcp://10.0.0.8:2376" }, { "cert.pem": "CERT" });
});
after(() => rm(home, { recursive: true, force: true }));

const resolve = (env: NodeJS.ProcessEnv, context?: string) =>
  resolveEngine({ env: { DOCKER_CONFIG: config, ...env }, homedir: home, ...(context ? { context } : {}) });

describe("docker contexts", () => {
  it("stores a context under the sha256 hex of its name, like docker/cli contextdirOf", () => {
    assert.equal(contextDirName("default"), "37a8eec1ce19687d132fe29051dca629d164e2c4958ba141d5f4133a33f0688f");
  });

  it("uses the default socket when nothing chooses an engine", async () => {
    const got = await resolve({});
    assert.ok(got.ok);
    assert.equal(got.value.address.url, "unix:///var/run/docker.sock");
    assert.deepEqual(got.value.source, { kind: "default" });
  });

  it("takes DOCKER_CONTEXT, then config.json's currentContext", async () => {
    const byEnv = await resolve({ DOCKER_CONTEXT: "colima" });
    assert.ok(byEnv.ok);
    assert.equal(byEnv.value.address.url, "unix:///home/u/.colima/default/docker.sock");
    assert.deepEqual(byEnv.value.source, { kind: "context", name: "colima", chosenBy: "DOCKER_CONTEXT" });
    await writeFile(join(config, "config.json"), JSON.stringify({ auths: {}, currentContext: "plain" }));
    try {
      const byConfig = await resolve({});
      assert.ok(byConfig.ok);
      assert.equal(byConfig.value.address.url, "tcp://10.0.0.7:2375");
      assert.equal(byConfig.value.tls, undefined);
      assert.equal(describeSource(byConfig.value.source), 'from docker context "plain" (chosen by currentContext in the Docker config.json)');
      // DOCKER_CONTEXT beats the config file; DOCKER_HOST beats both; --context beats DOCKER_HOST.
      const env = await resolve({ DOCKER_CONTEXT: "colima" });
      assert.ok(env.ok);
      assert.equal(env.value.address.url, "unix:///home/u/.colima/default/docker.sock");
      const host = await resolve({ DOCKER_CONTEXT: "colima", DOCKER_HOST: "unix:///run/other.sock" });
      assert.ok(host.ok);
      assert.equal(host.value.address.url, "unix:///run/other.sock");
      assert.deepEqual(host.value.source, { kind: "DOCKER_HOST" });
      const flag = await resolve({ DOCKER_HOST: "unix:///run/other.sock" }, "colima");
      assert.ok(flag.ok);
      assert.equal(flag.value.address.url, "unix:///home/u/.colima/default/docker.sock");
      assert.deepEqual(flag.value.source, { kind: "context", name: "colima", chosenBy: "--context" });
    } finally {
      await rm(join(config, "config.json"));
    }
  });

  it('treats the context "default" as DOCKER_HOST or the default socket', async () => {
    const got = await resolve({ DOCKER_CONTEXT: "default" });
    assert.ok(got.ok);
    assert.equal(got.value.address.url, "unix:///var/run/docker.sock");
    const flag = await resolve({ DOCKER_HOST: "tcp://127.0.0.1:1234" }, "default");
    assert.ok(flag.ok);
    assert.equal(flag.value.address.url, "tcp://127.0.0.1:1234");
  });

  it("loads the context's TLS files and defaults a TLS tcp host to port 2376", async () => {
    const got = await resolve({}, "remote");
    assert.ok(got.ok);
    assert.equal(got.value.address.url, "tcp://10.0.0.5:2376");
    assert.deepEqual(got.value.tls, { ca: Buffer.from("CA"), cert: Buffer.from("CERT"), key: Buffer.from("KEY"), rejectUnauthorized: true });
  });

  it("honours SkipTLSVerify without any TLS file, and no TLS at all when neither is set", async () => {
    const insecure = await resolve({}, "insecure");
    assert.ok(insecure.ok);
    assert.deepEqual(insecure.value.tls, { rejectUnauthorized: false });
    const plain = await resolve({}, "plain");
    assert.ok(plain.ok);
    assert.equal(plain.value.tls, undefined);
  });

  it("names the context, how it was chosen and the file when it cannot be used", async () => {
    const missing = await resolve({ DOCKER_CONTEXT: "nope" });
    assert.ok(!missing.ok);
    assert.match(
      missing.error.message,
      /^docker context "nope" \(chosen by DOCKER_CONTEXT\) cannot be used: it does not exist \(no .*contexts\/meta\/[0-9a-f]{64}\/meta\.json\)/,
    );
    const ssh = await resolve({}, "sshy");
    assert.ok(!ssh.ok);
    assert.match(
      ssh.error.message,
      /docker context "sshy" \(chosen by --context\) cannot be used: its docker endpoint Host "ssh:\/\/me@box" is not usable \(ssh:\/\/ engines are not supported/,
    );
    const half = await resolve({}, "halfcert");
    assert.ok(!half.ok);
    assert.match(half.error.message, /has cert\.pem without key\.pem/);
    await writeFile(join(config, "config.json"), "{not json");
    try {
      const broken = await resolve({});
      assert.ok(!broken.ok);
      assert.match(broken.error.message, /config\.json: it is not valid JSON/);
    } finally {
      await rm(join(config, "config.json"));
    }
  });

  it("reads meta.json keys the way Go does: case-insensitively", () => {
    assert.deepEqual(dockerEndpoint('{"name":"x","endpoints":{"docker":{"host":"unix:///s","skipTLSVerify":true}}}'), {
      ok: true,
      value: { host: "unix:///s", skipTlsVerify: true },
    });
    assert.deepEqual(dockerEndpoint('{"Name":"x","Endpoints":{}}'), { ok: false, error: 'has no "docker" endpoint' });
    assert.deepEqual(dockerEndpoint("[]"), { ok: false, error: 'has no "docker" endpoint' });
  });
});
