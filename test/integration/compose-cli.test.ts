// Compose input through the built CLI, with --print (no engine needed): COMPOSE_FILE and
// --profile (issue 9, item 15).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { baseEnv, runCli } from "./run-cli.js";

const FIXTURES = fileURLToPath(new URL("../fixtures/compose/", import.meta.url));
const PROFILES = join(FIXTURES, "project", "compose.profiles.yml");
const EXTENDS = join(FIXTURES, "extends", "compose.yml");

describe("compose input from the command line", () => {
  it("COMPOSE_FILE is read when nothing else names images", async () => {
    const result = await runCli(["--print", "--quiet"], { env: baseEnv({ COMPOSE_FILE: `${PROFILES}:${EXTENDS}` }) });
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(result.stdout.trim().split("\n"), [
      "docker.io/library/nginx:1.25.4",
      "docker.io/library/busybox:1.36",
      "docker.io/confluentinc/cp-kafka:7.6.0",
      "docker.io/library/base:1",
      "docker.io/library/common:2",
      "docker.io/library/own:1",
    ]);
  });

  it("COMPOSE_FILE is ignored when images, --file, - or --compose name them", async () => {
    const env = baseEnv({ COMPOSE_FILE: EXTENDS });
    const byArgument = await runCli(["--print", "redis"], { env });
    assert.deepEqual([byArgument.code, byArgument.stdout], [0, "docker.io/library/redis:latest\n"]);
    const byCompose = await runCli(["--print", "--quiet", "--compose", PROFILES, "--profile", "debug"], { env });
    assert.deepEqual([byCompose.code, byCompose.stdout], [0, "docker.io/library/nginx:1.25.4\ndocker.io/library/busybox:1.36\n"]);
  });

  it("--profile and COMPOSE_PROFILES choose what Compose would start; skipped services are named", async () => {
    const result = await runCli(["--print", "--compose", PROFILES], { env: baseEnv({ COMPOSE_PROFILES: "integration" }) });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, "docker.io/library/nginx:1.25.4\ndocker.io/confluentinc/cp-kafka:7.6.0\n");
    assert.equal(result.stderr, `prepull: not pullable: service "debug" in ${PROFILES} (profile debug not enabled)\n`);
  });

  it("without COMPOSE_FILE, no input is still a usage error", async () => {
    const result = await runCli(["--print"], { env: baseEnv() });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /no images given/);
  });
});
