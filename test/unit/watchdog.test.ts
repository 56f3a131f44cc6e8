import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FakeClock } from "../../src/clock/fake.js";
import { engineWedged, watchAttempt, type AttemptWatch, type WatchVerdict } from "../../src/policy/watchdog.js";

type Line = { bytes: number; layer?: string; status?: string };

/** Feeds `script` ([time, line] pairs) into the watch at those clock times and returns when the verdict came. */
async function replay(clock: FakeClock, watch: AttemptWatch, script: Array<[number, Line]>) {
  const feeder = (async () => {
    for (const [at, line] of script) {
      await clock.sleep(at - clock.now());
      watch.progress(line);
    }
  })();
  const verdict = await clock.run(watch.verdict);
  await clock.run(feeder);
  return verdict;
}

const options = (clock: FakeClock, signal = new AbortController().signal) => ({ clock, stallTimeoutMs: 60_000, timeoutMs: 300_000, signal });

describe("attempt watchdog", () => {
  it("calls a silent attempt (no headers, no bytes) stalled at exactly the stall timeout, after one sleep", async () => {
    const clock = new FakeClock(1000);
    const watch = watchAttempt(options(clock));
    const verdict = await clock.run(watch.verdict);
    assert.deepEqual(verdict, { kind: "stalled", idleMs: 60_000 });
    assert.equal(clock.now(), 61_000);
    assert.deepEqual(clock.sleeps, [[1000, 60_000]], "sleeps until the deadline, no polling");
  });

  it("each increase in bytes postpones the stall verdict; it comes exactly 60 s after the last byte", async () => {
    const clock = new FakeClock();
    const watch = watchAttempt(options(clock));
    let verdictAt = -1;
    void watch.verdict.then(() => (verdictAt = clock.now()));
    const verdict = await replay(clock, watch, [
      [5000, { bytes: 0, layer: "tag", status: "Pulling from library/x" }],
      [10_000, { bytes: 100, layer: "aaa", status: "Downloading" }],
      [30_000, { bytes: 5000, layer: "bbb", status: "Downloading" }],
    ]);
    assert.deepEqual(verdict, { kind: "stalled", idleMs: 60_000, layer: "bbb", lastStatus: "Downloading" });
    assert.equal(verdictAt, 90_000);
    assert.equal(watch.bytes, 5000);
    assert.equal(watch.lastProgressAt, 30_000);
    const own = clock.sleeps.filter(([, ms]) => ms >= 30_000);
    assert.deepEqual(own, [
      [0, 60_000],
      [60_000, 30_000],
    ]);
  });

  it("status lines without new bytes are not progress: Waiting and Retrying keep the stall deadline", async () => {
    const clock = new FakeClock();
    const watch = watchAttempt(options(clock));
    const verdict = await replay(clock, watch, [
      [1000, { bytes: 2048, layer: "aaa", status: "Downloading" }],
      [2000, { bytes: 2048, layer: "ccc", status: "Waiting" }],
      [20_000, { bytes: 2048, layer: "aaa", status: "Retrying in 5 seconds" }],
      [50_000, { bytes: 1024, layer: "aaa", status: "Retrying in 1 second" }],
    ]);
    assert.deepEqual(verdict, { kind: "stalled", idleMs: 60_000, layer: "aaa", lastStatus: "Retrying in 1 second" });
    assert.equal(clock.now(), 61_000);
  });

  it("names the last layer seen when no byte ever moved", async () => {
    const clock = new FakeClock();
    const watch = watchAttempt(options(clock));
    const verdict = await replay(clock, watch, [[100, { bytes: 0, layer: "v1.2", status: "Pulling from org/app" }]]);
    assert.deepEqual(verdict, { kind: "stalled", idleMs: 60_000, layer: "v1.2", lastStatus: "Pulling from org/app" });
  });

  it("times out at the hard cap even while bytes keep flowing", async () => {
    const clock = new FakeClock();
    const watch = watchAttempt(options(clock));
    const script: Array<[number, Line]> = Array.from({ length: 40 }, (_, i) => [(i + 1) * 10_000, { bytes: (i + 1) * 1_000_000, status: "Downloading" }]);
    let verdictAt = -1;
    void watch.verdict.then(() => (verdictAt = clock.now()));
    const verdict = await replay(clock, watch, script);
    assert.deepEqual(verdict, { kind: "timeout" });
    assert.equal(verdictAt, 300_000);
  });

  it("when the stall deadline and the cap fall together, says stalled", async () => {
    const clock = new FakeClock();
    const watch = watchAttempt({ clock, stallTimeoutMs: 60_000, timeoutMs: 100_000 });
    const verdict = await replay(clock, watch, [[40_000, { bytes: 1 }]]);
    assert.deepEqual(verdict, { kind: "stalled", idleMs: 60_000 });
    assert.equal(clock.now(), 100_000);
  });

  it("stop() ends the watch with 'stopped', clears its sleep, and ignores later lines", async () => {
    const clock = new FakeClock();
    const watch = watchAttempt(options(clock));
    await clock.advance(59_999);
    watch.stop();
    watch.stop();
    assert.deepEqual(await watch.verdict, { kind: "stopped" });
    assert.equal(clock.pending, 0);
    watch.progress({ bytes: 10 });
    assert.equal(watch.bytes, 0);
  });

  it("stop() after a verdict changes nothing", async () => {
    const clock = new FakeClock();
    const watch = watchAttempt({ clock, stallTimeoutMs: 1000, timeoutMs: 5000 });
    await clock.run(watch.verdict);
    watch.stop();
    assert.deepEqual(await watch.verdict, { kind: "stalled", idleMs: 1000 });
  });

  it("the signal stops it, also when already aborted", async () => {
    const clock = new FakeClock();
    const controller = new AbortController();
    const watch = watchAttempt(options(clock, controller.signal));
    await clock.advance(30_000);
    controller.abort(new Error("deadline"));
    assert.deepEqual(await watch.verdict, { kind: "stopped" });
    assert.equal(clock.pending, 0);
    const early = watchAttempt(options(clock, AbortSignal.abort()));
    assert.deepEqual(await early.verdict, { kind: "stopped" });
  });

  it("an infinite cap leaves only the stall rule", async () => {
    const clock = new FakeClock();
    const watch = watchAttempt({ clock, stallTimeoutMs: 1000, timeoutMs: Infinity });
    const script: Array<[number, Line]> = Array.from({ length: 100 }, (_, i) => [(i + 1) * 900, { bytes: i + 1 }]);
    const verdict: WatchVerdict = await replay(clock, watch, script);
    assert.deepEqual(verdict, { kind: "stalled", idleMs: 1000 });
    assert.equal(clock.now(), 91_000);
  });

  it("rejects bad options, naming them", () => {
    const clock = new FakeClock();
    assert.throws(() => watchAttempt({ clock, stallTimeoutMs: 0, timeoutMs: 1 }), /stallTimeoutMs .* got 0/);
    assert.throws(() => watchAttempt({ clock, stallTimeoutMs: 1, timeoutMs: -1 }), /timeoutMs .* got -1/);
  });
});

describe("engineWedged", () => {
  const now = 200_000;
  const waiting = (image: string, idleMs: number, status = "Waiting") => ({ image, lastProgressAt: now - idleMs, status });

  it("is true when 2 or more pulls all sit at Waiting with no byte for the window", () => {
    assert.equal(engineWedged([waiting("a", 60_000), waiting("b", 90_000)], now, 60_000), true);
    assert.equal(engineWedged([waiting("a", 60_000), waiting("b", 61_000), waiting("c", 120_000, " waiting ")], now, 60_000), true);
  });

  it("counts a layer still at 'Pulling fs layer' (its download request never answered) as waiting", () => {
    assert.equal(engineWedged([waiting("a", 60_000, "Pulling fs layer"), waiting("b", 60_000)], now, 60_000), true);
  });

  it("is false when one of them moved within the window", () => {
    assert.equal(engineWedged([waiting("a", 59_999), waiting("b", 90_000)], now, 60_000), false);
  });

  it("is false when one of them is stuck on something else than Waiting (its own stall, which the watchdog reports)", () => {
    assert.equal(engineWedged([waiting("a", 90_000, "Downloading"), waiting("b", 90_000)], now, 60_000), false);
    assert.equal(engineWedged([{ image: "a", lastProgressAt: 0 }, waiting("b", 90_000)], now, 60_000), false);
  });

  it("is false for a single pull or none", () => {
    assert.equal(engineWedged([waiting("a", 600_000)], now, 60_000), false);
    assert.equal(engineWedged([], now, 60_000), false);
    assert.equal(engineWedged([waiting("a", 600_000)], now, 60_000, 1), true);
  });
});
