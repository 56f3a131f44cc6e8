import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FakeClock } from "../../src/clock/fake.js";
import type { AttemptOutcome, Engine, PullRequest } from "../../src/engine/engine.js";
import type { WatchAttempt } from "../../src/policy/watchdog.js";
import { schedule } from "../../src/run/scheduler.js";
import type { PullEvent } from "../../src/types.js";
import { ref, settingsOf } from "../fixtures/values.js";

/** Never stalls, never times out: these tests are about retries and concurrency. */
const noWatch: WatchAttempt = () => ({
  progress: () => undefined,
  stop: () => undefined,
  verdict: new Promise(() => undefined),
  lastProgressAt: 0,
  bytes: 0,
  lastStatus: undefined,
});

const ok: AttemptOutcome = { ok: true, bytes: 100, upToDate: false, digest: "sha256:" + "a".repeat(64) };
const fail500: AttemptOutcome = {
  ok: false,
  kind: "engine",
  httpStatus: 500,
  message: "received unexpected HTTP status: 500 Internal Server Error",
  bytes: 0,
  answered: false,
};
const unknownTag: AttemptOutcome = {
  ok: false,
  kind: "engine",
  httpStatus: 404,
  message: "manifest for r/x:nope not found: manifest unknown: manifest unknown",
  bytes: 0,
  answered: false,
};
const noPlatform: AttemptOutcome = {
  ok: false,
  kind: "engine",
  message: "no matching manifest for linux/amd64 in the manifest list entries",
  bytes: 0,
  answered: true,
};

/** An engine whose answers are scripted per image; each attempt takes `pullMs` of fake time. */
function scriptedEngine(clock: FakeClock, script: Record<string, AttemptOutcome[]>, pullMs = 1000) {
  const calls: Array<{ image: string; at: number }> = [];
  let inFlight = 0;
  let peak = 0;
  const engine: Engine = {
    async pull(request: PullRequest) {
      const image = request.reference.canonical;
      calls.push({ image, at: clock.now() });
      inFlight++;
      peak = Math.max(peak, inFlight);
      try {
        await clock.sleep(pullMs, request.signal);
      } catch {
        return { ok: false, kind: "aborted", bytes: 0, answered: false };
      } finally {
        inFlight--;
      }
      const answers = script[image] ?? [ok];
      return answers.length > 1 ? (answers.shift() as AttemptOutcome) : (answers[0] as AttemptOutcome);
    },
    hasImage: async () => false,
  };
  return { engine, calls, peak: () => peak };
}

describe("scheduler", () => {
  it("never runs more than PULL_PARALLEL pulls at once", async () => {
    const clock = new FakeClock();
    const { engine, peak, calls } = scriptedEngine(clock, {});
    const refs = Array.from({ length: 20 }, (_, i) => ref(`127.0.0.1:5000/img${i}:1`));
    const result = await clock.run(schedule(refs, { engine, settings: settingsOf({ PULL_PARALLEL: "3" }), clock, random: () => 0, watchAttempt: noWatch }));
    assert.equal(peak(), 3);
    assert.equal(result.peakConcurrency, 3);
    assert.equal(calls.length, 20);
    assert.ok(result.images.every((i) => i.status === "pulled"));
    // 20 one-second pulls, three at a time: seven waves.
    assert.equal(clock.now(), 7000);
  });

  it("lets dozens of images wait on the run's signal without Node's listener-leak warning", async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.name);
    process.on("warning", onWarning);
    try {
      const clock = new FakeClock();
      const { engine } = scriptedEngine(clock, {});
      const refs = Array.from({ length: 30 }, (_, i) => ref(`127.0.0.1:5000/wait${i}:1`));
      const result = await clock.run(
        schedule(refs, {
          engine,
          settings: settingsOf({ PULL_PARALLEL: "1" }),
          clock,
          random: () => 0,
          watchAttempt: noWatch,
          signal: new AbortController().signal,
        }),
      );
      assert.equal(result.images.length, 30);
      await new Promise((resolve) => setImmediate(resolve)); // warnings are emitted on a later tick
    } finally {
      process.off("warning", onWarning);
    }
    assert.deepEqual(
      warnings.filter((w) => w === "MaxListenersExceededWarning"),
      [],
    );
  });

  it("retries a transient failure on the exact backoff schedule, then succeeds", async () => {
    const clock = new FakeClock();
    const image = "127.0.0.1:5000/flaky:1";
    const { engine, calls } = scriptedEngine(clock, { [image]: [fail500, fail500, fail500, ok] });
    const events: PullEvent[] = [];
    const result = await clock.run(
      schedule([ref(image)], { engine, settings: settingsOf(), clock, random: () => 0.5, watchAttempt: noWatch, onEvent: (e) => events.push(e) }),
    );
    // Attempts take 1 s; waits are 2·2^(n−1) s plus 5% jitter (random 0.5 × 10%).
    assert.deepEqual(
      calls.map((c) => c.at),
      [0, 1000 + 2100, 3100 + 1000 + 4200, 8300 + 1000 + 8400],
    );
    assert.deepEqual(
      events.filter((e) => e.type === "waiting").map((e) => (e.type === "waiting" ? e.delayMs : 0)),
      [2100, 4200, 8400],
    );
    const [only] = result.images;
    assert.equal(only?.status, "pulled");
    assert.equal(only?.attempts.length, 4);
    assert.deepEqual(
      only?.attempts.map((a) => a.class),
      ["transient", "transient", "transient", "pulled"],
    );
  });

  it("gives up after PULL_RETRIES transient failures", async () => {
    const clock = new FakeClock();
    const image = "127.0.0.1:5000/down:1";
    const { engine, calls } = scriptedEngine(clock, { [image]: [fail500] });
    const result = await clock.run(
      schedule([ref(image)], { engine, settings: settingsOf({ PULL_RETRIES: "3" }), clock, random: () => 0, watchAttempt: noWatch }),
    );
    assert.equal(calls.length, 3);
    assert.equal(result.images[0]?.status, "failed");
    assert.equal(result.images[0]?.class, "transient");
    assert.equal(result.images[0]?.reason, "received unexpected HTTP status: 500 Internal Server Error");
  });

  it("tries a permanent error exactly once and skips a missing platform on the first try", async () => {
    const clock = new FakeClock();
    const missing = "127.0.0.1:5000/app:nope";
    const arm = "127.0.0.1:5000/armonly:1";
    const { engine, calls } = scriptedEngine(clock, { [missing]: [unknownTag], [arm]: [noPlatform] });
    const result = await clock.run(schedule([ref(missing), ref(arm)], { engine, settings: settingsOf(), clock, random: () => 0, watchAttempt: noWatch }));
    assert.deepEqual(
      calls.map((c) => c.image),
      [missing, arm],
    );
    assert.deepEqual(
      result.images.map((i) => [i.status, i.class, i.attempts.length]),
      [
        ["failed", "permanent", 1],
        ["skipped", "skipped-platform", 1],
      ],
    );
  });

  it("skips images the engine already has under --pull missing", async () => {
    const clock = new FakeClock();
    const { engine, calls } = scriptedEngine(clock, {});
    engine.hasImage = async (r) => r.repository === "here";
    const result = await clock.run(
      schedule([ref("127.0.0.1:5000/here:1"), ref("127.0.0.1:5000/there:1")], {
        engine,
        settings: settingsOf({ PULL_POLICY: "missing" }),
        clock,
        random: () => 0,
        watchAttempt: noWatch,
      }),
    );
    assert.deepEqual(
      result.images.map((i) => i.status),
      ["present", "pulled"],
    );
    assert.deepEqual(
      calls.map((c) => c.image),
      ["127.0.0.1:5000/there:1"],
    );
  });

  it("ends every pull as deadline when PULL_DEADLINE passes, in flight or waiting", async () => {
    const clock = new FakeClock();
    const { engine } = scriptedEngine(clock, { "127.0.0.1:5000/slow:1": [ok], "127.0.0.1:5000/down:1": [fail500] }, 5000);
    const result = await clock.run(
      schedule([ref("127.0.0.1:5000/slow:1"), ref("127.0.0.1:5000/down:1")], {
        engine,
        settings: settingsOf({ PULL_DEADLINE: "3", PULL_RETRIES: "9" }),
        clock,
        random: () => 0,
        watchAttempt: noWatch,
      }),
    );
    assert.equal(result.interrupted, "deadline");
    assert.deepEqual(
      result.images.map((i) => [i.status, i.class]),
      [
        ["failed", "deadline"],
        ["failed", "deadline"],
      ],
    );
    assert.equal(clock.now(), 3000);
  });

  it("cancels pulls and sleeps when the caller aborts", async () => {
    const clock = new FakeClock();
    const { engine } = scriptedEngine(clock, { "127.0.0.1:5000/down:1": [fail500] });
    const controller = new AbortController();
    const done = schedule([ref("127.0.0.1:5000/down:1")], {
      engine,
      settings: settingsOf(),
      clock,
      random: () => 0,
      watchAttempt: noWatch,
      signal: controller.signal,
    });
    await clock.advance(1500); // first attempt failed at 1 s; now sleeping its backoff
    controller.abort(new Error("SIGINT"));
    const result = await clock.run(done);
    assert.equal(result.interrupted, "aborted");
    assert.equal(result.images[0]?.class, "aborted");
    assert.equal(result.images[0]?.attempts.length, 1);
    assert.equal(clock.now(), 1500);
  });

  it("classifies an error line that arrived inside a 200 stream as the failure it is", async () => {
    const clock = new FakeClock();
    const image = "127.0.0.1:5000/eof:1";
    const cut: AttemptOutcome = { ok: false, kind: "engine", message: "unexpected EOF", bytes: 512, answered: true };
    const { engine, calls } = scriptedEngine(clock, { [image]: [cut, ok] });
    const result = await clock.run(schedule([ref(image)], { engine, settings: settingsOf(), clock, random: () => 0, watchAttempt: noWatch }));
    assert.equal(calls.length, 2);
    assert.deepEqual(
      result.images[0]?.attempts.map((a) => a.class),
      ["transient", "pulled"],
    );
  });
});
