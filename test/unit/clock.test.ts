import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createSystemClock, MAX_TIMER_MS, type TimerApi } from "../../src/clock/clock.js";

/** Timers under the test's control: it sees every delay asked for and decides when each fires. */
function manualTimers() {
  let now = 0;
  const armed = new Map<number, { at: number; callback: () => void }>();
  let next = 0;
  const delays: number[] = [];
  const api: TimerApi = {
    now: () => now,
    setTimeout: (callback, ms) => {
      delays.push(ms);
      armed.set(next, { at: now + ms, callback });
      return next++;
    },
    clearTimeout: (handle) => {
      armed.delete(handle as number);
    },
  };
  /** Fires the earliest timer, moving time to it. */
  const fire = () => {
    const [id, timer] = [...armed.entries()].sort((a, b) => a[1].at - b[1].at)[0] ?? [];
    if (id === undefined || !timer) throw new Error("no timer armed");
    armed.delete(id);
    now = timer.at;
    timer.callback();
  };
  return { api, delays, fire, armed, at: () => now };
}

const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

describe("system clock: waits past Node's timer limit", () => {
  it("chains timers of at most 2^31-1 ms for a wait longer than that, and resolves only at its end", async () => {
    const timers = manualTimers();
    const clock = createSystemClock(timers.api);
    const wait = 2_147_484_000; // PULL_DEADLINE=2147484: the value that used to end after ~1 ms
    let done = false;
    void clock.sleep(wait).then(() => (done = true));
    assert.deepEqual(timers.delays, [MAX_TIMER_MS]);
    timers.fire();
    await flush();
    assert.equal(done, false, "resolved after the first chunk");
    assert.deepEqual(timers.delays, [MAX_TIMER_MS, wait - MAX_TIMER_MS]);
    timers.fire();
    await flush();
    assert.equal(done, true);
    assert.equal(timers.at(), wait);
  });

  it("re-aims every chunk at the deadline, so a late timer does not stretch the wait", async () => {
    const timers = manualTimers();
    const clock = createSystemClock(timers.api, 100);
    void clock.sleep(250);
    assert.deepEqual(timers.delays, [100]);
    timers.fire();
    assert.deepEqual(timers.delays, [100, 100]);
    timers.fire();
    assert.deepEqual(timers.delays, [100, 100, 50]);
  });

  it("cancels whichever chunk is armed when the signal aborts", async () => {
    const timers = manualTimers();
    const clock = createSystemClock(timers.api, 100);
    const controller = new AbortController();
    const sleeping = clock.sleep(1000, controller.signal);
    timers.fire();
    timers.fire();
    controller.abort(new Error("stop"));
    await assert.rejects(sleeping, /stop/);
    assert.equal(timers.armed.size, 0);
  });

  it("uses one timer for an ordinary wait", async () => {
    const timers = manualTimers();
    void createSystemClock(timers.api).sleep(2000);
    assert.deepEqual(timers.delays, [2000]);
  });

  it("really waits with real timers when chained (a chunk of 5 ms, a 30 ms wait)", async () => {
    const clock = createSystemClock(undefined, 5);
    const started = Date.now();
    await clock.sleep(30);
    // A lower bound only: the wait must not end before it is due.
    assert.ok(Date.now() - started >= 29, `woke after ${Date.now() - started} ms`);
  });
});
