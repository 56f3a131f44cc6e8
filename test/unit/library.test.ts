// The library's one call, with an engine of our own: validation before any pull, settings from
// env and options, the exit code and the report.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FakeClock } from "../../src/clock/fake.js";
import type { Engine, PullRequest } from "../../src/engine/engine.js";
import { InvalidReferencesError, pullImages } from "../../src/index.js";
import { exitCodeFor } from "../../src/run/pull-images.js";
import type { ImageResult } from "../../src/types.js";

function recordingEngine(answer: (image: string) => Awaited<ReturnType<Engine["pull"]>>) {
  const pulled: string[] = [];
  const engine: Engine = {
    pull: async (request: PullRequest) => {
      pulled.push(request.reference.canonical);
      request.onAnswer?.();
      return answer(request.reference.canonical);
    },
    hasImage: async () => false,
  };
  return { engine, pulled };
}

const ok = { ok: true as const, bytes: 10, upToDate: false };

describe("pullImages", () => {
  it("rejects every invalid reference before pulling anything", async () => {
    const { engine, pulled } = recordingEngine(() => ok);
    await assert.rejects(pullImages(["nginx", "Bad/Name", "-rf"], { engine, env: {} }), (error: unknown) => {
      assert.ok(error instanceof InvalidReferencesError);
      assert.deepEqual(
        error.errors.map((e) => e.input),
        ["Bad/Name", "-rf"],
      );
      return true;
    });
    assert.deepEqual(pulled, []);
  });

  it("rejects a bad PULL_* variable and a bad option, naming them", async () => {
    const { engine } = recordingEngine(() => ok);
    await assert.rejects(pullImages(["nginx"], { engine, env: { PULL_PARALLEL: "many" } }), /PULL_PARALLEL="many"/);
    await assert.rejects(
      pullImages(["nginx"], { engine, env: {}, settings: { parallel: 0 } }),
      /settings\.parallel must be a whole number of at least 1, got 0/,
    );
    await assert.rejects(pullImages(["nginx"], { engine, env: {}, settings: { backoffBaseMs: -5 } }), /settings\.backoffBaseMs/);
  });

  it("pulls each normalized image once and reports it, with the seed it used", async () => {
    const { engine, pulled } = recordingEngine(() => ok);
    const report = await pullImages(["nginx", "docker.io/library/nginx:latest", "redis:7"], { engine, env: { PULL_SEED: "11", PULL_POLICY: "always" } });
    assert.deepEqual(pulled, ["docker.io/library/nginx:latest", "docker.io/library/redis:7"]);
    assert.equal(report.exitCode, 0);
    assert.equal(report.settings.seed, 11);
    assert.deepEqual(
      report.images.map((i) => [i.input, i.status]),
      [
        ["nginx", "pulled"],
        ["redis:7", "pulled"],
      ],
    );
  });

  it("options override the environment, and a failure gives exit code 1", async () => {
    const clock = new FakeClock();
    const { engine, pulled } = recordingEngine(() => ({
      ok: false,
      kind: "engine",
      httpStatus: 500,
      message: "received unexpected HTTP status: 503 Service Unavailable",
      bytes: 0,
      answered: false,
    }));
    const report = await clock.run(
      pullImages(["127.0.0.1:5000/a:1"], { engine, clock, random: () => 0, env: { PULL_RETRIES: "9", PULL_POLICY: "always" }, settings: { attempts: 2 } }),
    );
    assert.equal(pulled.length, 2);
    assert.equal(report.exitCode, 1);
    assert.equal(report.images[0]?.class, "transient");
  });
});

describe("exit codes", () => {
  const image = (status: ImageResult["status"], cls: ImageResult["class"]): ImageResult => ({
    input: "x",
    reference: "x",
    registry: "r",
    status,
    class: cls,
    bytes: 0,
    durationMs: 0,
    attempts: [],
  });
  const cases: Array<[string, ImageResult[], Parameters<typeof exitCodeFor>[1], number]> = [
    ["all pulled, present or skipped", [image("pulled", "pulled"), image("present", "present"), image("skipped", "skipped-platform")], undefined, 0],
    ["one failed", [image("pulled", "pulled"), image("failed", "permanent")], undefined, 1],
    ["engine unreachable", [image("failed", "engine-unreachable"), image("failed", "engine-unreachable")], undefined, 3],
    ["engine unreachable and a real failure", [image("failed", "engine-unreachable"), image("failed", "transient")], undefined, 1],
    ["deadline", [image("failed", "deadline")], "deadline", 1],
    ["SIGINT", [image("failed", "aborted")], "SIGINT", 130],
    ["SIGTERM", [image("failed", "aborted")], "SIGTERM", 143],
  ];
  for (const [name, images, interrupted, code] of cases) {
    it(`${name} → ${code}`, () => assert.equal(exitCodeFor(images, interrupted), code));
  }
});
