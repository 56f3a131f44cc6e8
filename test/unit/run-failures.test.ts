// A bug anywhere (an engine that throws or ignores its abort signal, an event callback that
// throws) and a run cancelled at any moment still end with a complete report: the image concerned
// fails as "internal" (with the stack) or "aborted", and the rest of the batch is unaffected.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FakeClock } from "../../src/clock/fake.js";
import type { AttemptOutcome, Engine, PullRequest } from "../../src/engine/engine.js";
import { pullImages } from "../../src/index.js";
import { runPlan, planReferences } from "../../src/run/pull-images.js";
import { ABANDON_GRACE_MS } from "../../src/run/scheduler.js";
import { resolveSettings } from "../../src/policy/settings.js";
import { watchAttempt } from "../../src/policy/watchdog.js";
import { compileReportSchema } from "../fixtures/validators.js";
import { toJson } from "../../src/report/json.js";

const ok: AttemptOutcome = { ok: true, bytes: 10, upToDate: false };
const env = { PULL_POLICY: "always", PULL_SEED: "1" };

function engineOf(pull: (request: PullRequest) => Promise<AttemptOutcome>, hasImage: Engine["hasImage"] = async () => false): Engine {
  return { pull, hasImage };
}

describe("a bug ends as a failed image, never as a lost report", () => {
  it("an engine that throws fails that image as internal, with message and stack; the others are pulled", async () => {
    const engine = engineOf(async (request) => {
      if (request.reference.repository === "boom") throw new TypeError("engine exploded");
      return ok;
    });
    const report = await pullImages(["127.0.0.1:5000/boom:1", "127.0.0.1:5000/fine:1"], { engine, env });
    const [boom, fine] = report.images;
    assert.deepEqual([boom?.status, boom?.class, fine?.status], ["failed", "internal", "pulled"]);
    assert.match(boom?.reason ?? "", /TypeError: engine exploded/);
    assert.match(boom?.stack ?? "", /engine exploded\n\s+at /);
    assert.equal(boom?.attempts[0]?.class, "internal");
    assert.equal(report.exitCode, 1);
    const validate = compileReportSchema();
    assert.ok(validate(JSON.parse(toJson(report))), JSON.stringify(validate.errors));
  });

  it("an onEvent callback that throws fails the image it was told about; the run goes on and reports", async () => {
    const engine = engineOf(async () => ok);
    const report = await pullImages(["127.0.0.1:5000/a:1", "127.0.0.1:5000/b:1"], {
      engine,
      env,
      onEvent: (event) => {
        if (event.type === "pulled" && event.image.includes("/a:")) throw new Error("callback bug");
      },
    });
    assert.deepEqual(
      report.images.map((i) => [i.status, i.class]),
      [
        ["failed", "internal"],
        ["pulled", "pulled"],
      ],
    );
    assert.match(report.images[0]?.reason ?? "", /onEvent callback threw .*callback bug/);
    assert.equal(report.exitCode, 1);
  });

  it("an engine that ignores the abort signal is left behind after a grace period, so the run still ends", async () => {
    const clock = new FakeClock();
    const controller = new AbortController();
    const engine = engineOf(() => new Promise<AttemptOutcome>(() => undefined));
    const running = pullImages(["127.0.0.1:5000/deaf:1"], { engine, env, clock, signal: controller.signal });
    await clock.advance(1000);
    controller.abort(new Error("cancelled"));
    const report = await clock.run(running);
    assert.deepEqual([report.images[0]?.status, report.images[0]?.class], ["failed", "aborted"]);
    assert.equal(clock.now(), 1000 + ABANDON_GRACE_MS);
  });
});

describe("cancelled at any moment", () => {
  it("an already-aborted signal gives a report of aborted images, not 'engine unreachable' (exit 1, not 3)", async () => {
    const controller = new AbortController();
    controller.abort(new Error("cancelled before start"));
    const report = await pullImages(["127.0.0.1:5000/a:1"], {
      env: { ...env, DOCKER_HOST: "unix:///nonexistent/prepull-test.sock" },
      signal: controller.signal,
    });
    assert.deepEqual([report.images[0]?.class, report.exitCode], ["aborted", 1]);
  });

  it("SIGTERM during the engine handshake exits 143 with every image aborted", async () => {
    const controller = new AbortController();
    const settings = resolveSettings(env);
    const plan = planReferences(["127.0.0.1:5000/a:1", "127.0.0.1:5000/b:1"]);
    assert.ok(settings.ok && plan.ok);
    const report = await runPlan(plan.value, {
      settings: settings.value,
      clock: new FakeClock(),
      random: () => 0,
      watchAttempt,
      version: "test",
      signal: controller.signal,
      interruption: () => "SIGTERM",
      connect: async (signal) => {
        controller.abort(new Error("SIGTERM"));
        return signal?.aborted ? { ok: false, error: { message: "the request was cancelled" } } : { ok: false, error: { message: "?" } };
      },
    });
    assert.equal(report.exitCode, 143);
    assert.deepEqual(
      report.images.map((i) => i.class),
      ["aborted", "aborted"],
    );
    assert.equal(report.interrupted, "SIGTERM");
  });

  it("an attempt cut short by the run ending still counts in its registry's attempts", async () => {
    const clock = new FakeClock();
    const controller = new AbortController();
    const engine = engineOf(
      (request) =>
        new Promise<AttemptOutcome>((resolve) =>
          request.signal.addEventListener("abort", () => resolve({ ok: false, kind: "aborted", bytes: 0, answered: false }), { once: true }),
        ),
    );
    const running = pullImages(["127.0.0.1:5000/a:1", "127.0.0.1:5000/b:1"], { engine, env, clock, signal: controller.signal });
    await clock.advance(500);
    controller.abort(new Error("cancelled"));
    const report = await clock.run(running);
    const attempts = report.images.reduce((n, i) => n + i.attempts.length, 0);
    assert.equal(attempts, 2);
    assert.deepEqual(
      report.registries.map((r) => [r.attempts, r.failures]),
      [[2, 0]],
    );
  });
});

describe("presence checks", () => {
  it("ask the engine at most PULL_PARALLEL at a time", async () => {
    const clock = new FakeClock();
    let inFlight = 0;
    let peak = 0;
    const engine = engineOf(
      async () => ok,
      async () => {
        inFlight++;
        peak = Math.max(peak, inFlight);
        await clock.sleep(10);
        inFlight--;
        return true;
      },
    );
    const images = Array.from({ length: 40 }, (_, i) => `127.0.0.1:5000/many${i}:1`);
    const report = await clock.run(pullImages(images, { engine, clock, env: { PULL_POLICY: "missing", PULL_PARALLEL: "3" } }));
    assert.equal(peak, 3);
    assert.ok(report.images.every((i) => i.status === "present"));
  });
});
