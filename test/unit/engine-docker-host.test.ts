import assert from "node:assert/strict";
import { maskSecrets } from "../../src/secrets.js";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { loadTlsMaterial, parseDockerHost } from "../../src/engine/docker-host.js";

const HOME = "/home/ci";

describe("DOCKER_HOST", () => {
  it("defaults to the standard socket when unset or empty", () => {
    for (const env of [{}, { DOCKER_HOST: "" }, { DOCKER_HOST: "  " }]) {
      assert.deepEqual(parseDockerHost(env, HOME), {
        ok: true,
        value: { kind: "unix", socketPath: "/var/run/docker.sock", url: "unix:///var/run/docker.sock" },
      });
    }
  });

  it("reads a unix socket path", () => {
    assert.deepEqual(parseDockerHost({ DOCKER_HOST: "unix:///tmp/eng/sock" }, HOME), {
      ok: true,
      value: { kind: "unix", socketPath: "/tmp/eng/sock", url: "unix:///tmp/eng/sock" },
    });
  });

  it("refuses a relative or empty unix socket path", () => {
    for (const value of ["unix://", "unix://relative/sock"]) {
      const parsed = parseDockerHost({ DOCKER_HOST: value }, HOME);
      assert.ok(!parsed.ok);
      assert.match(parsed.error, /absolute path/);
      assert.ok(parsed.error.includes(JSON.stringify(value)));
    }
  });

  it("reads tcp://host:port, with the plain default port 2375", () => {
    assert.deepEqual(parseDockerHost({ DOCKER_HOST: "tcp://10.0.0.5:2380" }, HOME), {
      ok: true,
      value: { kind: "tcp", host: "10.0.0.5", port: 2380, url: "tcp://10.0.0.5:2380" },
    });
    const noPort = parseDockerHost({ DOCKER_HOST: "tcp://docker" }, HOME);
    assert.ok(noPort.ok && noPort.value.kind === "tcp");
    assert.equal(noPort.value.port, 2375);
    assert.equal(noPort.value.url, "tcp://docker:2375");
  });

  it("reads IPv6 hosts and keeps the brackets only in the shown address", () => {
    const parsed = parseDockerHost({ DOCKER_HOST: "tcp://[::1]:2375" }, HOME);
    assert.ok(parsed.ok && parsed.value.kind === "tcp");
    assert.equal(parsed.value.host, "::1");
    assert.equal(parsed.value.url, "tcp://[::1]:2375");
  });

  it("uses TLS with the files of DOCKER_CERT_PATH and port 2376 when DOCKER_TLS_VERIFY is set", () => {
    const parsed = parseDockerHost({ DOCKER_HOST: "tcp://docker", DOCKER_TLS_VERIFY: "1", DOCKER_CERT_PATH: "/certs/client" }, HOME);
    assert.deepEqual(parsed, {
      ok: true,
      value: {
        kind: "tcp",
        host: "docker",
        port: 2376,
        url: "tcp://docker:2376",
        tls: { caPath: "/certs/client/ca.pem", certPath: "/certs/client/cert.pem", keyPath: "/certs/client/key.pem" },
      },
    });
  });

  it("looks for the TLS files in ~/.docker when DOCKER_CERT_PATH is unset", () => {
    const parsed = parseDockerHost({ DOCKER_HOST: "tcp://docker:9999", DOCKER_TLS_VERIFY: "yes" }, HOME);
    assert.ok(parsed.ok && parsed.value.kind === "tcp");
    assert.equal(parsed.value.port, 9999);
    assert.equal(parsed.value.tls?.caPath, "/home/ci/.docker/ca.pem");
  });

  it("ignores an empty DOCKER_TLS_VERIFY, like the docker CLI", () => {
    const parsed = parseDockerHost({ DOCKER_HOST: "tcp://docker", DOCKER_TLS_VERIFY: "" }, HOME);
    assert.ok(parsed.ok && parsed.value.kind === "tcp");
    assert.equal(parsed.value.tls, undefined);
    assert.equal(parsed.value.port, 2375);
  });

  it("never quotes a password in DOCKER_HOST, and registers it (raw and decoded) with the masker", () => {
    for (const [value, password] of [
      ["tcp://user:hunter2-docker-host@docker:2375", "hunter2-docker-host"],
      ["tcp://user:p%40ss-w0rd-encoded@docker:2375", "p@ss-w0rd-encoded"],
      ["tcp://user:at@sign-in-pw@docker:2375", "at@sign-in-pw"],
      ["ssh://user:ssh-pw-9911@build-host", "ssh-pw-9911"],
    ] as const) {
      const parsed = parseDockerHost({ DOCKER_HOST: value }, HOME);
      assert.ok(!parsed.ok, value);
      assert.ok(!parsed.error.includes(password), parsed.error);
      assert.match(parsed.error, /user:\*\*\*@/);
      assert.equal(maskSecrets(`engine said ${password}`), "engine said ***");
    }
  });

  it("refuses ssh://, npipe:// and junk, naming the value and what is supported", () => {
    const cases: Array<[string, RegExp]> = [
      ["ssh://me@build-host", /ssh:\/\/ engines are not supported/],
      ["npipe:////./pipe/docker_engine", /npipe:\/\/ engines are not supported/],
      ["docker.example:2375", /not a Docker host address/],
      ["http://docker:2375", /not a Docker host address/],
      ["tcp://", /host is missing|not a valid/],
      ["tcp://docker:notaport", /not a valid host:port/],
      ["tcp://docker:2375/some/path", /only host and port/],
      ["tcp://user@docker:2375", /only host and port/],
    ];
    for (const [value, why] of cases) {
      const parsed = parseDockerHost({ DOCKER_HOST: value }, HOME);
      assert.ok(!parsed.ok, value);
      assert.match(parsed.error, why, value);
      assert.ok(parsed.error.startsWith(`DOCKER_HOST=${JSON.stringify(value)}`), parsed.error);
      assert.match(parsed.error, /unix:\/\/\/path\/to\/docker\.sock or tcp:\/\/host:port/);
    }
  });
});

describe("TLS files", () => {
  it("reads the three PEM files", async () => {
    const dir = await mkdtemp(join(tmpdir(), "prepull-tls-"));
    try {
      for (const name of ["ca", "cert", "key"]) await writeFile(join(dir, `${name}.pem`), `${name} pem`);
      const loaded = await loadTlsMaterial({ caPath: join(dir, "ca.pem"), certPath: join(dir, "cert.pem"), keyPath: join(dir, "key.pem") });
      assert.ok(loaded.ok);
      assert.equal(loaded.value.ca.toString(), "ca pem");
      assert.equal(loaded.value.cert.toString(), "cert pem");
      assert.equal(loaded.value.key.toString(), "key pem");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("names the missing file and the variables that choose it", async () => {
    const dir = await mkdtemp(join(tmpdir(), "prepull-tls-"));
    try {
      await writeFile(join(dir, "ca.pem"), "ca");
      const loaded = await loadTlsMaterial({ caPath: join(dir, "ca.pem"), certPath: join(dir, "cert.pem"), keyPath: join(dir, "key.pem") });
      assert.ok(!loaded.ok);
      assert.ok(loaded.error.includes(join(dir, "cert.pem")), loaded.error);
      assert.match(loaded.error, /ENOENT.*DOCKER_CERT_PATH/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
