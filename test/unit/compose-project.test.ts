// Compose's project rules beyond one file (issue 9, item 15): include, extends, profiles and
// the COMPOSE_* variables.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { composeFilesFromEnv, discoverComposeImages, type ComposeDiscovery, type ComposeOptions } from "../../src/sources/compose.js";

const FIXTURES = fileURLToPath(new URL("../fixtures/compose/", import.meta.url));
const INCLUDE = join(FIXTURES, "include");
const EXTENDS = join(FIXTURES, "extends");
const PROJECT = join(FIXTURES, "project");
const PROFILES = join(PROJECT, "compose.profiles.yml");
const VARS = join(PROJECT, "compose.vars.yml");
const WITH_DOTENV = join(FIXTURES, "precedence", "with-dotenv", "compose.yml");

async function discover(paths: string[], options: Partial<ComposeOptions> = {}): Promise<ComposeDiscovery> {
  const result = await discoverComposeImages(paths, { env: {}, ...options });
  assert.ok(result.ok, `unexpected error: ${JSON.stringify(result)}`);
  return result.value;
}

const pulled = (d: ComposeDiscovery) => d.images.map((i) => `${i.service}=${i.image}`);

describe("include", () => {
  it("follows every entry, with its own project directory and env file; the including file's variables win", async () => {
    const result = await discover([join(INCLUDE, "compose.yml")]);
    assert.deepEqual(pulled(result), ["sub=sub-from-parent:2", "other=other:3", "nested=nested:4", "shared=shared:4", "app=app:1"]);
    assert.deepEqual(
      result.images.map((i) => i.file),
      [
        join(INCLUDE, "sub", "compose.yml"),
        join(INCLUDE, "other", "compose.yml"),
        join(INCLUDE, "shared", "nested.yml"),
        join(INCLUDE, "shared", "services.yml"),
        join(INCLUDE, "compose.yml"),
      ],
    );
    assert.deepEqual(result.warnings, []);
  });

  it("the process environment wins in included files too", async () => {
    const result = await discover([join(INCLUDE, "compose.yml")], { env: { SUB_TAG: "env", OTHER_TAG: "env" } });
    assert.deepEqual(pulled(result).slice(0, 2), ["sub=sub-from-parent:env", "other=other:env"]);
  });

  it("an include cycle is an error naming the chain", async () => {
    const a = join(INCLUDE, "cycle", "a.yml");
    const b = join(INCLUDE, "cycle", "b.yml");
    const result = await discoverComposeImages([a], { env: {} });
    assert.deepEqual(result, { ok: false, error: { file: a, message: `${a}: include cycle: ${a} -> ${b} -> ${a}; remove one of the include entries` } });
  });

  it("a missing included file is an error naming the including file", async () => {
    const file = join(INCLUDE, "cycle", "missing.yml");
    const result = await discoverComposeImages([file], { env: {} });
    const target = join(INCLUDE, "cycle", "does-not-exist.yml");
    assert.deepEqual(result, {
      ok: false,
      error: { file, message: `${file}: include "does-not-exist.yml": ${target} is not a file; fix the path (it is relative to ${join(INCLUDE, "cycle")})` },
    });
  });
});

describe("extends", () => {
  const file = join(EXTENDS, "compose.yml");
  it("inherits image, pull_policy and profiles, from this file or another; own keys win", async () => {
    const result = await discover([file]);
    assert.deepEqual(pulled(result), ["base=base:1", "child=base:1", "from-file=common:2", "override=own:1"]);
    assert.deepEqual(result.notPullable, [{ file, service: "grandchild", reason: "pull_policy: never" }]);
  });

  it("an inherited image is interpolated with the extending file's variables", async () => {
    assert.deepEqual(pulled(await discover([file], { env: { TAG: "9" } })).slice(0, 2), ["base=base:9", "child=base:9"]);
  });

  it("inherited profiles count", async () => {
    const result = await discover([file], { profiles: ["other"] });
    assert.deepEqual(pulled(result), ["from-file=common:2"]);
  });

  it("a cycle and a missing base service are errors naming the service", async () => {
    const cycle = join(EXTENDS, "cycle.yml");
    assert.deepEqual(await discoverComposeImages([cycle], { env: {} }), {
      ok: false,
      error: { file: cycle, service: "b", message: `${cycle}: service "b": extends cycle a -> b -> a; remove one of the extends` },
    });
    const missing = join(EXTENDS, "missing.yml");
    assert.deepEqual(await discoverComposeImages([missing], { env: {} }), {
      ok: false,
      error: { file: missing, service: "a", message: `${missing}: service "a": extends "nope", which ${missing} does not define` },
    });
  });
});

describe("profiles", () => {
  const cases: ReadonlyArray<{ name: string; options: Partial<ComposeOptions>; images: string[]; skipped: string[] }> = [
    { name: "none named: every service", options: {}, images: ["web", "debug", "kafka"], skipped: [] },
    { name: "--profile debug", options: { profiles: ["debug"] }, images: ["web", "debug"], skipped: ["kafka: profiles kafka, integration not enabled"] },
    {
      name: "a service with several profiles needs one",
      options: { profiles: ["integration"] },
      images: ["web", "kafka"],
      skipped: ["debug: profile debug not enabled"],
    },
    { name: "COMPOSE_PROFILES, comma-separated", options: { env: { COMPOSE_PROFILES: "debug, kafka" } }, images: ["web", "debug", "kafka"], skipped: [] },
    {
      name: "--profile wins over COMPOSE_PROFILES",
      options: { env: { COMPOSE_PROFILES: "kafka" }, profiles: ["debug"] },
      images: ["web", "debug"],
      skipped: ["kafka: profiles kafka, integration not enabled"],
    },
    { name: '"*" enables all', options: { profiles: ["*"] }, images: ["web", "debug", "kafka"], skipped: [] },
    { name: "an empty COMPOSE_PROFILES names none", options: { env: { COMPOSE_PROFILES: "" } }, images: ["web", "debug", "kafka"], skipped: [] },
  ];
  for (const { name, options, images, skipped } of cases) {
    it(name, async () => {
      const result = await discover([PROFILES], options);
      assert.deepEqual(
        result.images.map((i) => i.service),
        images,
      );
      assert.deepEqual(
        result.notPullable.map((n) => `${n.service}: ${n.reason}`),
        skipped,
      );
    });
  }
});

describe("COMPOSE_PROFILES in the project's env files", () => {
  const file = join(FIXTURES, "profiles-dotenv", "compose.yml");
  const services = async (options: Partial<ComposeOptions>) => (await discover([file], options)).images.map((i) => i.service);
  it("the .env names the profiles when the environment does not", async () => assert.deepEqual(await services({}), ["web", "debug"]));
  it("the environment wins over the .env", async () => assert.deepEqual(await services({ env: { COMPOSE_PROFILES: "kafka" } }), ["web", "kafka"]));
  it("--profile wins over both", async () => assert.deepEqual(await services({ profiles: ["*"] }), ["web", "debug", "kafka"]));
  it("an --env-file replaces the .env here too", async () => {
    assert.deepEqual(await services({ envFiles: [join(PROJECT, "ci.env")] }), ["web", "debug", "kafka"]);
  });
});

describe("COMPOSE_ENV_FILES and COMPOSE_DISABLE_ENV_FILE", () => {
  const ciImages = [
    "mirror.example.com:5000/clickhouse/clickhouse-server:24.8",
    "zookeeper:3.8",
    "mirror.example.com:5000/keeper:25.1",
    "mysql:8.4",
    "nginx:1.25.4",
  ];
  it("COMPOSE_ENV_FILES replaces the .env like --env-file, in order", async () => {
    const result = await discover([VARS], { env: { COMPOSE_ENV_FILES: `${join(PROJECT, "ci.env")},${join(PROJECT, "ci-override.env")}` } });
    assert.deepEqual(
      result.images.map((i) => i.image),
      ciImages,
    );
  });

  it("--env-file wins over COMPOSE_ENV_FILES", async () => {
    const result = await discover([VARS], {
      env: { COMPOSE_ENV_FILES: join(PROJECT, "missing.env") },
      envFiles: [join(PROJECT, "ci.env"), join(PROJECT, "ci-override.env")],
    });
    assert.deepEqual(
      result.images.map((i) => i.image),
      ciImages,
    );
  });

  it("COMPOSE_DISABLE_ENV_FILE=true skips the .env", async () => {
    for (const value of ["true", "1", "TRUE"]) {
      const result = await discover([WITH_DOTENV], { env: { COMPOSE_DISABLE_ENV_FILE: value } });
      assert.deepEqual(
        result.images.map((i) => i.image),
        ["registry.example.com/app:"],
        value,
      );
    }
  });

  it("COMPOSE_DISABLE_ENV_FILE=false reads it; a value that is not a boolean reads it and warns", async () => {
    assert.deepEqual(
      (await discover([WITH_DOTENV], { env: { COMPOSE_DISABLE_ENV_FILE: "0" } })).images.map((i) => i.image),
      ["registry.example.com/app:from-dotenv"],
    );
    const result = await discover([WITH_DOTENV], { env: { COMPOSE_DISABLE_ENV_FILE: "yes" } });
    assert.deepEqual(
      result.images.map((i) => i.image),
      ["registry.example.com/app:from-dotenv"],
    );
    assert.deepEqual(result.warnings, ['COMPOSE_DISABLE_ENV_FILE="yes" is not true or false; the .env files are read, as docker compose does']);
  });
});

describe("composeFilesFromEnv", () => {
  const cases: ReadonlyArray<{ env: Record<string, string>; platform?: string; files: string[] }> = [
    { env: {}, files: [] },
    { env: { COMPOSE_FILE: "" }, files: [] },
    { env: { COMPOSE_FILE: "compose.yml:ci/compose.ci.yml" }, files: ["compose.yml", "ci/compose.ci.yml"] },
    { env: { COMPOSE_FILE: "a.yml;b.yml" }, platform: "win32", files: ["a.yml", "b.yml"] },
    { env: { COMPOSE_FILE: "a.yml;b.yml", COMPOSE_PATH_SEPARATOR: ";" }, files: ["a.yml", "b.yml"] },
    { env: { COMPOSE_FILE: "a.yml,b.yml", COMPOSE_PATH_SEPARATOR: "," }, files: ["a.yml", "b.yml"] },
  ];
  for (const { env, platform = "linux", files } of cases) {
    it(JSON.stringify({ env, platform }), () => assert.deepEqual(composeFilesFromEnv(env, platform), files));
  }
});
