import assert from "node:assert/strict";
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { createCredentialStore, parseHelperRun, registryAuthHeader, spawnHelper, type RegistryAuth } from "../../src/engine/credentials.js";
import { maskSecrets } from "../../src/secrets.js";

const SECRET = "pa55-W0rd-never-printed";
const TOKEN = "identity-token-never-printed";
const b64 = (text: string) => Buffer.from(text).toString("base64");

let root: string;
before(async () => {
  root = await mkdtemp(join(tmpdir(), "prepull-creds-"));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

let counter = 0;
/** A fresh DOCKER_CONFIG directory holding `config` (a string is written as is). */
async function configDir(config: unknown): Promise<string> {
  const dir = join(root, `config-${counter++}`);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "config.json"), typeof config === "string" ? config : JSON.stringify(config));
  return dir;
}

async function lookup(config: unknown, registry: string) {
  const store = createCredentialStore({ env: { DOCKER_CONFIG: await configDir(config) } });
  return store.forRegistry(registry);
}

function assertNoSecret(text: string) {
  for (const secret of [SECRET, TOKEN, b64(`alice:${SECRET}`)]) assert.ok(!text.includes(secret), `leaked a secret: ${text}`);
}

describe("credentials: config.json auths", () => {
  it("means anonymous when there is no config file", async () => {
    const store = createCredentialStore({ env: { DOCKER_CONFIG: join(root, "does-not-exist") } });
    assert.deepEqual(await store.forRegistry("docker.io"), { ok: true, value: undefined });
  });

  it("reads ~/.docker/config.json when DOCKER_CONFIG is unset", async () => {
    const home = join(root, `home-${counter++}`);
    await mkdir(join(home, ".docker"), { recursive: true });
    await writeFile(join(home, ".docker", "config.json"), JSON.stringify({ auths: { "ghcr.io": { auth: b64(`alice:${SECRET}`) } } }));
    const store = createCredentialStore({ env: {}, homedir: home });
    assert.deepEqual(await store.forRegistry("ghcr.io"), {
      ok: true,
      value: { kind: "basic", username: "alice", password: SECRET, serverAddress: "ghcr.io" },
    });
  });

  it("finds Docker Hub credentials under every Hub spelling", async () => {
    for (const key of ["https://index.docker.io/v1/", "index.docker.io", "docker.io", "https://registry-1.docker.io", "registry.hub.docker.com"]) {
      const found = await lookup({ auths: { [key]: { auth: b64(`alice:${SECRET}`) } } }, "docker.io");
      assert.ok(found.ok && found.value?.kind === "basic", key);
      assert.equal(found.value.password, SECRET, key);
    }
  });

  it("finds a private registry under its host, with or without scheme and path", async () => {
    for (const key of ["127.0.0.1:5000", "http://127.0.0.1:5000", "https://127.0.0.1:5000/v2/"]) {
      const found = await lookup({ auths: { [key]: { auth: b64(`alice:${SECRET}`) } } }, "127.0.0.1:5000");
      assert.ok(found.ok && found.value?.kind === "basic", key);
      assert.equal(found.value.username, "alice");
    }
  });

  it("does not hand one registry's credentials to another", async () => {
    const config = { auths: { "127.0.0.1:5000": { auth: b64(`alice:${SECRET}`) }, "https://index.docker.io/v1/": { auth: b64(`bob:${SECRET}`) } } };
    assert.deepEqual(await lookup(config, "127.0.0.1:5001"), { ok: true, value: undefined });
    assert.deepEqual(await lookup(config, "127.0.0.1"), { ok: true, value: undefined });
    assert.deepEqual(await lookup(config, "quay.io"), { ok: true, value: undefined });
  });

  it("prefers the exact key over another spelling of the same host", async () => {
    const config = { auths: { "http://127.0.0.1:5000": { auth: b64("old:x") }, "127.0.0.1:5000": { auth: b64(`alice:${SECRET}`) } } };
    const found = await lookup(config, "127.0.0.1:5000");
    assert.ok(found.ok && found.value?.kind === "basic");
    assert.equal(found.value.username, "alice");
  });

  it("reads username/password fields, identity tokens, and passwords containing colons", async () => {
    const userPass = await lookup({ auths: { "r.example": { username: "alice", password: SECRET } } }, "r.example");
    assert.deepEqual(userPass, { ok: true, value: { kind: "basic", username: "alice", password: SECRET, serverAddress: "r.example" } });
    const token = await lookup({ auths: { "r.example": { auth: b64("alice:x"), identitytoken: TOKEN } } }, "r.example");
    assert.deepEqual(token, { ok: true, value: { kind: "token", identityToken: TOKEN, serverAddress: "r.example" } });
    const colons = await lookup({ auths: { "r.example": { auth: b64(`alice:a:b:${SECRET}`) } } }, "r.example");
    assert.ok(colons.ok && colons.value?.kind === "basic");
    assert.equal(colons.value.password, `a:b:${SECRET}`);
  });

  it("treats an empty entry (left by docker login with a credsStore) as no credentials", async () => {
    assert.deepEqual(await lookup({ auths: { "r.example": {} } }, "r.example"), { ok: true, value: undefined });
  });

  it("reports an auth field that is not base64 of user:password without echoing it", async () => {
    const found = await lookup({ auths: { "r.example": { auth: b64(SECRET) } } }, "r.example");
    assert.ok(!found.ok);
    assert.match(found.error.message, /"r\.example".*not base64 of "user:password"/);
    assertNoSecret(found.error.message);
  });

  it("warns once about malformed JSON, naming the file and never quoting the content, then pulls anonymously", async () => {
    const dir = await configDir(`{"auths": {"r.example": {"auth": "${b64(`alice:${SECRET}`)}"}, ${SECRET}`);
    const warnings: string[] = [];
    const store = createCredentialStore({ env: { DOCKER_CONFIG: dir }, onWarning: (message) => warnings.push(message) });
    const answers = await Promise.all([store.forRegistry("r.example"), store.forRegistry("docker.io"), store.forRegistry("ghcr.io")]);
    assert.deepEqual(answers, [
      { ok: true, value: undefined },
      { ok: true, value: undefined },
      { ok: true, value: undefined },
    ]);
    assert.equal(warnings.length, 1);
    assert.ok(warnings[0]?.includes(join(dir, "config.json")), warnings[0]);
    assert.match(warnings[0] ?? "", /not valid JSON.*Pulling without credentials/);
    assertNoSecret(warnings[0] ?? "");
  });

  it("warns about fields of the wrong type and an unreadable file, and goes on anonymously", async () => {
    for (const config of [[], { auths: [] }, { credHelpers: "x" }, { credsStore: 3 }]) {
      const warnings: string[] = [];
      const store = createCredentialStore({ env: { DOCKER_CONFIG: await configDir(config) }, onWarning: (m) => warnings.push(m) });
      assert.deepEqual(await store.forRegistry("r.example"), { ok: true, value: undefined }, JSON.stringify(config));
      assert.match(warnings.join("\n"), /cannot use the Docker config/);
    }
    const unreadable = await configDir({});
    await chmod(join(unreadable, "config.json"), 0);
    const warnings: string[] = [];
    const store = createCredentialStore({ env: { DOCKER_CONFIG: unreadable }, onWarning: (m) => warnings.push(m) });
    assert.deepEqual(await store.forRegistry("r.example"), { ok: true, value: undefined });
    // Root reads any file: the warning is only expected where the permission bites.
    if (process.getuid?.() !== 0) assert.match(warnings.join("\n"), /cannot read the Docker config.*EACCES/);
  });

  it("registers what it reads with the masker, in every encoding", async () => {
    const password = "fresh-pa55-for-masking";
    await lookup({ auths: { "r.example": { auth: b64(`bob:${password}`) } } }, "r.example");
    const text = `a ${password} b ${b64(`bob:${password}`)} c ${encodeURIComponent(password)} d ${b64(password).replace(/=+$/, "")}`;
    assert.equal(maskSecrets(text), "a *** b *** c *** d ***");
  });
});

// A credential helper as the docker CLI runs them: `docker-credential-<name> get`, the server
// URL on stdin, JSON on stdout. Each fake is a node script on a PATH made for the test.
const HELPERS: Record<string, string> = {
  good: `
    if (input === "127.0.0.1:5000" || input === "https://index.docker.io/v1/") {
      process.stdout.write(JSON.stringify({ ServerURL: input, Username: "alice", Secret: ${JSON.stringify(SECRET)} }));
    } else { process.stdout.write("credentials not found in native keychain\\n"); process.exit(1); }`,
  token: `process.stdout.write(JSON.stringify({ ServerURL: input, Username: "<token>", Secret: ${JSON.stringify(TOKEN)} }));`,
  empty: `process.stdout.write(JSON.stringify({ ServerURL: input, Username: "", Secret: "" }));`,
  garbled: `process.stdout.write("Username=alice Secret=${SECRET}");`,
  crash: `process.stdout.write("error: keychain is locked ${SECRET}\\n"); process.exit(2);`,
  slow: `setTimeout(() => process.stdout.write("{}"), 5000);`,
  // Answers only from its second call on: the first call outlasts the timeout.
  slowonce: `
    const fs = require("node:fs");
    const mark = ${JSON.stringify(join(tmpdir(), `prepull-slowonce-${process.pid}`))};
    if (!fs.existsSync(mark)) { fs.writeFileSync(mark, ""); setTimeout(() => {}, 5000); }
    else process.stdout.write(JSON.stringify({ ServerURL: input, Username: "<token>", Secret: ${JSON.stringify(TOKEN)} }));`,
  // 100 MB of output: prepull must stop reading at its limit.
  flood: `const block = "x".repeat(1 << 20); let n = 0; const w = () => { while (n < 100 && process.stdout.write(block)) n++; if (n < 100) process.stdout.once("drain", w); }; w();`,
  // Answers, then leaves a child holding stdout open for 20 s (beyond the test's 10 s bound).
  lingering: `
    require("node:child_process").spawn(process.execPath, ["-e", "setTimeout(() => {}, 20000)"], { stdio: ["ignore", "inherit", "ignore"] }).unref();
    process.stdout.write(JSON.stringify({ ServerURL: input, Username: "<token>", Secret: ${JSON.stringify(TOKEN)} }));`,
  // Hangs with a child; writes both pids so the test can see they are gone.
  hanging: `
    const child = require("node:child_process").spawn(process.execPath, ["-e", "setTimeout(() => {}, 60000)"], { stdio: "ignore" });
    require("node:fs").writeFileSync(process.env.PIDS_FILE, process.pid + " " + child.pid);
    setTimeout(() => {}, 60000);`,
};

describe("credentials: credential helpers", () => {
  let bin: string;
  let log: string;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    bin = join(root, "bin");
    log = join(root, "helper-calls.log");
    await mkdir(bin, { recursive: true });
    for (const [name, body] of Object.entries(HELPERS)) {
      const script = `#!/usr/bin/env node
let input = "";
process.stdin.on("data", (c) => (input += c)).on("end", () => {
  require("node:fs").appendFileSync(${JSON.stringify(log)}, ${JSON.stringify(name)} + " " + process.argv.slice(2).join(" ") + " " + input + "\\n");
  ${body}
});`;
      const path = join(bin, `docker-credential-${name}`);
      await writeFile(path, script);
      await chmod(path, 0o755);
    }
    // The helpers are found on PATH like real ones; node's own directory keeps `env node` working.
    env = { PATH: [bin, dirname(process.execPath)].join(delimiter) };
  });

  const calls = async () => (await readFile(log, "utf8").catch(() => "")).trim().split("\n").filter(Boolean);

  async function withHelpers(config: object, options: { helperTimeoutMs?: number } = {}) {
    return createCredentialStore({ env: { ...env, DOCKER_CONFIG: await configDir(config) }, ...options });
  }

  it("asks credHelpers[registry] with the server URL on stdin", async () => {
    await rm(log, { force: true });
    const store = await withHelpers({ credHelpers: { "127.0.0.1:5000": "good" }, auths: { "127.0.0.1:5000": { auth: b64("file:ignored") } } });
    assert.deepEqual(await store.forRegistry("127.0.0.1:5000"), {
      ok: true,
      value: { kind: "basic", username: "alice", password: SECRET, serverAddress: "127.0.0.1:5000" },
    });
    assert.deepEqual(await calls(), ["good get 127.0.0.1:5000"]);
  });

  it("asks the credsStore for Docker Hub under https://index.docker.io/v1/", async () => {
    await rm(log, { force: true });
    const store = await withHelpers({ credsStore: "good" });
    const found = await store.forRegistry("docker.io");
    assert.ok(found.ok && found.value?.kind === "basic");
    assert.equal(found.value.serverAddress, "https://index.docker.io/v1/");
    assert.deepEqual(await calls(), ["good get https://index.docker.io/v1/"]);
  });

  it("prefers credHelpers over credsStore", async () => {
    const store = await withHelpers({ credsStore: "crash", credHelpers: { "r.example": "token" } });
    assert.deepEqual(await store.forRegistry("r.example"), { ok: true, value: { kind: "token", identityToken: TOKEN, serverAddress: "r.example" } });
  });

  it("asks each registry once", async () => {
    await rm(log, { force: true });
    const store = await withHelpers({ credsStore: "good" });
    const answers = await Promise.all([
      store.forRegistry("127.0.0.1:5000"),
      store.forRegistry("127.0.0.1:5000"),
      store.forRegistry("docker.io"),
      store.forRegistry("index.docker.io"),
    ]);
    assert.ok(answers.every((a) => a.ok && a.value !== undefined));
    assert.equal((await calls()).length, 2);
  });

  it("pulls anonymously when the helper has nothing for the registry, fails, or answers an empty secret", async () => {
    const notFound = await withHelpers({ credsStore: "good" });
    assert.deepEqual(await notFound.forRegistry("quay.io"), { ok: true, value: undefined });
    const crash = await withHelpers({ credsStore: "crash" });
    assert.deepEqual(await crash.forRegistry("quay.io"), { ok: true, value: undefined });
    const empty = await withHelpers({ credsStore: "empty" });
    assert.deepEqual(await empty.forRegistry("quay.io"), { ok: true, value: undefined });
  });

  it("names a helper that is not installed", async () => {
    const found = await (await withHelpers({ credsStore: "desktop" })).forRegistry("docker.io");
    assert.ok(!found.ok);
    assert.match(found.error.message, /docker-credential-desktop.*not on PATH/);
    assert.equal(found.error.retryable, false, "a missing helper stays missing");
  });

  it("names a helper whose output is not JSON, without echoing the output", async () => {
    const found = await (await withHelpers({ credHelpers: { "r.example": "garbled" } })).forRegistry("r.example");
    assert.ok(!found.ok);
    assert.match(found.error.message, /docker-credential-garbled.*not the expected JSON/);
    assertNoSecret(found.error.message);
  });

  it("gives up on a helper that does not answer in time", async () => {
    const found = await (await withHelpers({ credsStore: "slow" }, { helperTimeoutMs: 300 })).forRegistry("r.example");
    assert.ok(!found.ok);
    assert.match(found.error.message, /docker-credential-slow.*did not answer in time/);
    assert.equal(found.error.retryable, true, "a helper that timed out may answer next time");
  });

  it("asks a helper that timed out again on the next lookup (it may answer then)", async () => {
    await rm(join(tmpdir(), `prepull-slowonce-${process.pid}`), { force: true });
    const store = await withHelpers({ credsStore: "slowonce" }, { helperTimeoutMs: 500 });
    const first = await store.forRegistry("r.example");
    assert.ok(!first.ok);
    assert.match(first.error.message, /did not answer in time/);
    assert.deepEqual(await store.forRegistry("r.example"), { ok: true, value: { kind: "token", identityToken: TOKEN, serverAddress: "r.example" } });
    await rm(join(tmpdir(), `prepull-slowonce-${process.pid}`), { force: true });
  });

  it("stops reading a helper's output at 1 MiB, with bounded memory", async () => {
    const rssBefore = process.memoryUsage().rss;
    const found = await (await withHelpers({ credsStore: "flood" })).forRegistry("r.example");
    assert.ok(!found.ok);
    assert.match(found.error.message, /docker-credential-flood.*not the expected JSON.*more than 1 MiB/);
    assert.ok(process.memoryUsage().rss - rssBefore < 64 * 1024 * 1024, "memory grew by more than 64 MiB");
  });

  it("does not wait for a helper's child that keeps stdout open", async () => {
    const started = Date.now();
    const found = await (await withHelpers({ credsStore: "lingering" }, { helperTimeoutMs: 30_000 })).forRegistry("r.example");
    assert.deepEqual(found, { ok: true, value: { kind: "token", identityToken: TOKEN, serverAddress: "r.example" } });
    // A bound far below the child's 60 s and the 30 s timeout, not a timing of the normal case.
    assert.ok(Date.now() - started < 10_000, `took ${Date.now() - started} ms`);
  });

  it("kills a hanging helper and its process group when the run's signal aborts", async () => {
    const pidsFile = join(root, `pids-${counter++}`);
    const controller = new AbortController();
    const run = spawnHelper({ ...env, PIDS_FILE: pidsFile }, 30_000, controller.signal);
    const answer = run("docker-credential-hanging", ["get"], "r.example");
    let pids: number[] = [];
    for (let i = 0; i < 200 && pids.length < 2; i++) {
      await new Promise((resolve) => setTimeout(resolve, 25));
      pids = (await readFile(pidsFile, "utf8").catch(() => "")).split(" ").filter(Boolean).map(Number);
    }
    assert.equal(pids.length, 2, "the helper did not start");
    const started = Date.now();
    controller.abort();
    assert.equal((await answer).failure, "aborted");
    assert.ok(Date.now() - started < 5_000);
    for (let i = 0; i < 100 && pids.some(alive); i++) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.deepEqual(pids.filter(alive), [], "helper or its child still running");
  });

  it("refuses a helper name that is a path", async () => {
    await rm(log, { force: true });
    const found = await (await withHelpers({ credsStore: "../bin/docker-credential-good" })).forRegistry("127.0.0.1:5000");
    assert.ok(!found.ok);
    assert.match(found.error.message, /not a valid helper name/);
    assert.deepEqual(await calls(), []);
  });

  it("uses an injected runner, and never quotes stdout in any failure", () => {
    const leaky = `{"Secret":"${SECRET}"`;
    const runs = [
      { exitCode: 0, stdout: leaky },
      { exitCode: 0, stdout: `["${SECRET}"]` },
      { exitCode: null, stdout: leaky, failure: "EACCES" },
      { exitCode: null, stdout: leaky, failure: "killed by SIGSEGV" },
    ];
    for (const run of runs) {
      const parsed = parseHelperRun(run, "docker-credential-x", "r.example");
      assert.ok(!parsed.ok);
      assert.match(parsed.error.message, /docker-credential-x failed for r\.example/);
      assertNoSecret(parsed.error.message);
    }
  });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("X-Registry-Auth", () => {
  const decode = (header: string) => JSON.parse(Buffer.from(header, "base64url").toString("utf8")) as unknown;

  it("encodes username, password and server address as the daemon expects", () => {
    const auth: RegistryAuth = { kind: "basic", username: "alice", password: SECRET, serverAddress: "127.0.0.1:5000" };
    assert.deepEqual(decode(registryAuthHeader(auth)), { username: "alice", password: SECRET, serveraddress: "127.0.0.1:5000" });
  });

  it("encodes an identity token without a username", () => {
    const auth: RegistryAuth = { kind: "token", identityToken: TOKEN, serverAddress: "https://index.docker.io/v1/" };
    assert.deepEqual(decode(registryAuthHeader(auth)), { identitytoken: TOKEN, serveraddress: "https://index.docker.io/v1/" });
  });

  it("is padded URL-safe base64, like Go's base64.URLEncoding", () => {
    for (const password of ["a", "ab", "abc", "???>>>~~~"]) {
      const header = registryAuthHeader({ kind: "basic", username: "u", password, serverAddress: "r" });
      assert.match(header, /^[A-Za-z0-9_-]+=*$/);
      assert.equal(header.length % 4, 0);
    }
  });
});
