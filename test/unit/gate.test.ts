import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FakeClock } from "../../src/clock/fake.js";
import { DEFAULT_GATE_OPTIONS, createGate, probeDelay, releaseDelay, type Gate, type GatePass } from "../../src/policy/gate.js";
import { seededRandom } from "../../src/policy/random.js";
import { createTripDetector } from "../../src/policy/trip.js";
import type { PullEvent, Random } from "../../src/types.js";

const half: Random = () => 0.5;

function setup(random: Random = half, start = 0) {
  const clock = new FakeClock(start);
  const events: PullEvent[] = [];
  const gate = createGate({ registry: "reg.example", clock, random, emit: (e) => events.push(e) });
  return { clock, events, gate };
}

/** Starts waiting and records when (and how) the gate let the pull through. */
function waiter(gate: Gate, clock: FakeClock, image: string, signal = new AbortController().signal) {
  const result: { at?: number; pass?: GatePass; error?: unknown } = {};
  const promise = gate.pass(image, signal).then(
    (pass) => {
      result.at = clock.now();
      result.pass = pass;
    },
    (error: unknown) => {
      result.error = error;
    },
  );
  return Object.assign(result, { promise });
}

const probeEvents = (events: PullEvent[]) =>
  events.filter((e): e is Extract<PullEvent, { type: "gate-probe" }> => e.type === "gate-probe").map((e) => [e.at, e.image, e.probe]);

describe("probe delays", () => {
  it("doubles from 1 s to the 4 s cap; r = 0.5 is exactly nominal", () => {
    assert.deepEqual([0, 1, 2, 3, 4, 10].map((n) => probeDelay(n, 0, DEFAULT_GATE_OPTIONS, 0.5)), [1000, 2000, 4000, 4000, 4000, 4000]);
  });

  it("jitters within ±20 %, so probes at the cap are 3.2–4.8 s apart", () => {
    assert.equal(probeDelay(0, 0, DEFAULT_GATE_OPTIONS, 0), 800);
    assert.equal(probeDelay(3, 0, DEFAULT_GATE_OPTIONS, 0), 3200);
    assert.equal(probeDelay(3, 0, DEFAULT_GATE_OPTIONS, 0.999999), 4800);
  });

  it("starts later after flaps, never beyond the cap", () => {
    assert.deepEqual([0, 1, 2, 3].map((f) => probeDelay(0, f, DEFAULT_GATE_OPTIONS, 0.5)), [1000, 2000, 4000, 4000]);
    assert.equal(probeDelay(2, 2, DEFAULT_GATE_OPTIONS, 0.5), 4000);
  });

  it("release delays keep FIFO order, each inside its own slot of the 1 s spread", () => {
    assert.deepEqual([0, 1, 2, 3].map((i) => releaseDelay(i, 4, 1000, 0.5)), [125, 375, 625, 875]);
    assert.deepEqual([0, 1].map((i) => releaseDelay(i, 2, 1000, 0)), [0, 500]);
    assert.equal(releaseDelay(0, 1, 1000, 0.999), 999);
  });
});

describe("outage gate", () => {
  it("is open at first and lets pulls through at once, never as probes", async () => {
    const { gate, events } = setup();
    assert.deepEqual(await gate.pass("a", new AbortController().signal), { probe: 0, waitedMs: 0 });
    assert.equal(gate.state.kind, "open");
    assert.deepEqual(events, []);
  });

  it("probes at exact times after closing: 1 s, then +2, +4, +4, +4 s after each failed probe", async () => {
    const { gate, clock, events } = setup(half, 10_000);
    assert.equal(gate.close("test outage"), true);
    assert.equal(gate.close("again"), false, "closing a closed gate changes nothing");
    assert.deepEqual(gate.state, { kind: "closed", since: 10_000, reason: "test outage", probes: 0, nextProbeAt: 11_000, flaps: 0 });

    // Three pulls wait; each failed probe goes back to the end of the queue, as the scheduler would.
    const queue = new Map(["a", "b", "c"].map((image) => [image, waiter(gate, clock, image)]));
    const probeTimes: number[] = [];
    for (let n = 1; n <= 5; n++) {
      await clock.run(Promise.race([...queue.values()].map((w) => w.promise)));
      const [image, chosen] = [...queue.entries()].find(([, w]) => w.pass) ?? assert.fail("nobody passed");
      assert.equal(chosen.pass?.probe, n);
      probeTimes.push(clock.now());
      await clock.advance(200); // the probe attempt takes 200 ms and fails
      assert.equal(gate.probeFailed(n, "HTTP 503"), true);
      queue.delete(image);
      queue.set(image, waiter(gate, clock, image));
    }
    assert.deepEqual(probeTimes, [11_000, 11_200 + 2000, 13_400 + 4000, 17_600 + 4000, 21_800 + 4000]);
    assert.deepEqual(
      probeEvents(events).map(([, image]) => image),
      ["a", "b", "c", "a", "b"],
      "oldest waiter first, in turn",
    );
    const closed = events.filter((e) => e.type === "gate-closed").map((e) => (e.type === "gate-closed" ? e.reason : ""));
    assert.deepEqual(closed[0], "test outage");
    assert.deepEqual(closed[1], "probe 1 failed: HTTP 503");
    assert.equal(gate.state.kind, "closed");
    assert.equal(gate.waiting, 3);
  });

  it("lets at most one probe through while closed, however long the probe takes", async () => {
    const { gate, clock, events } = setup();
    gate.close("down");
    const waiters = ["a", "b", "c", "d"].map((image) => waiter(gate, clock, image));
    await clock.advance(120_000);
    assert.deepEqual(
      waiters.map((w) => w.pass?.probe),
      [1, undefined, undefined, undefined],
    );
    assert.equal(waiters[0]?.at, 1000);
    assert.deepEqual(probeEvents(events), [[1000, "a", 1]]);
    assert.equal(gate.waiting, 3);
    assert.equal(clock.pending, 0, "no timer runs while the probe is out");
  });

  it("a waiter arriving after the probe time is due probes at once", async () => {
    const { gate, clock } = setup();
    gate.close("down");
    await clock.advance(5000);
    const w = waiter(gate, clock, "late");
    await w.promise;
    assert.deepEqual([w.at, w.pass], [5000, { probe: 1, waitedMs: 0 }]);
  });

  it("opening releases every waiter, oldest first, at exact jittered delays spread over 1 s", async () => {
    const { gate, clock, events } = setup();
    gate.close("down");
    const probe = waiter(gate, clock, "probe");
    const others = ["a", "b", "c", "d"].map((image) => waiter(gate, clock, image));
    await clock.advance(1000);
    assert.equal(probe.pass?.probe, 1);
    await clock.advance(300);
    assert.equal(gate.open(), true);
    assert.equal(gate.open(), false);
    assert.deepEqual(events.at(-1), { type: "gate-opened", at: 1300, registry: "reg.example", released: 4, closedMs: 1300 });
    assert.equal(gate.waiting, 4, "released waiters count as waiting until their delay ends");
    await clock.advance(1000);
    assert.deepEqual(
      others.map((w) => w.at),
      [1300 + 125, 1300 + 375, 1300 + 625, 1300 + 875],
    );
    assert.deepEqual(others.map((w) => w.pass?.probe), [0, 0, 0, 0]);
    assert.deepEqual(others[3]?.pass, { probe: 0, waitedMs: 2175 });
    assert.equal(gate.waiting, 0);
  });

  it("with a seeded random each released waiter lands inside its own slot", async () => {
    const { gate, clock } = setup(seededRandom(7));
    gate.close("down"); // draws one number for the first probe delay
    const probe = waiter(gate, clock, "probe");
    const others = Array.from({ length: 5 }, (_, i) => waiter(gate, clock, `img${i}`));
    await clock.run(probe.promise);
    const openedAt = clock.now();
    gate.open();
    await clock.advance(1000);
    const replay = seededRandom(7);
    replay();
    const expected = others.map((_, i) => openedAt + Math.round(((i + replay()) * 1000) / 5));
    assert.deepEqual(
      others.map((w) => w.at),
      expected,
    );
    others.forEach((w, i) => {
      const delay = (w.at ?? NaN) - openedAt;
      assert.ok(delay >= i * 200 && delay <= (i + 1) * 200, `waiter ${i} released after ${delay} ms`);
    });
  });

  it("a waiter whose release delay ends after the gate closed again queues again in its old place", async () => {
    const { gate, clock, events } = setup();
    gate.close("down");
    waiter(gate, clock, "probe");
    const [a, b, c] = ["a", "b", "c"].map((image) => waiter(gate, clock, image));
    await clock.advance(1000);
    gate.open(); // a at +167, b at +500, c at +833
    await clock.advance(300);
    assert.equal(a?.at, 1167);
    assert.equal(gate.close("down again"), true);
    // Flapped (closed 300 ms after opening): first probe after 2 s, at 3300; b is the oldest waiter.
    await clock.advance(3000);
    assert.equal(b?.pass?.probe, 1);
    assert.equal(b?.at, 3300);
    assert.equal(c?.pass, undefined);
    assert.deepEqual(probeEvents(events).at(-1), [3300, "b", 1]);
  });

  it("flapping lengthens the first probe delay ×2 per flap, up to the 4 s cap, and a long open period resets it", async () => {
    const { gate, clock } = setup();
    const firstProbeDelays: number[] = [];
    const flaps: number[] = [];
    for (let i = 0; i < 5; i++) {
      gate.close("down");
      const s = gate.state;
      assert.equal(s.kind, "closed");
      if (s.kind === "closed") {
        firstProbeDelays.push(s.nextProbeAt - clock.now());
        flaps.push(s.flaps);
      }
      const w = waiter(gate, clock, `img${i}`);
      await clock.run(w.promise);
      gate.open();
      await clock.advance(10_000); // open for 10 s: within the 30 s flap window
    }
    assert.deepEqual(firstProbeDelays, [1000, 2000, 4000, 4000, 4000]);
    assert.deepEqual(flaps, [0, 1, 2, 3, 3], "the flap count itself is bounded");
    await clock.advance(25_000); // now open for 35 s
    gate.close("down");
    const s = gate.state;
    assert.ok(s.kind === "closed");
    assert.deepEqual([s.nextProbeAt - clock.now(), s.flaps], [1000, 0]);
  });

  it("a flapping gate also spaces later probes from the longer base", async () => {
    const { gate, clock } = setup();
    gate.close("down");
    await clock.run(waiter(gate, clock, "x").promise);
    gate.open();
    await clock.advance(5000);
    gate.close("down again"); // flaps = 1
    const w = waiter(gate, clock, "y");
    await clock.run(w.promise);
    assert.equal(w.pass?.probe, 1);
    gate.probeFailed(1);
    const s = gate.state;
    assert.ok(s.kind === "closed");
    assert.equal(s.nextProbeAt - clock.now(), 4000);
  });

  it("an aborted waiter rejects with the signal's reason and leaves the queue", async () => {
    const { gate, clock } = setup();
    gate.close("down");
    const controller = new AbortController();
    const a = waiter(gate, clock, "a", controller.signal);
    const b = waiter(gate, clock, "b");
    await clock.advance(500);
    controller.abort(new Error("deadline"));
    await a.promise;
    assert.equal((a.error as Error).message, "deadline");
    assert.equal(gate.waiting, 1);
    await clock.advance(500);
    assert.equal(b.pass?.probe, 1, "the next waiter probes instead");
    assert.equal(b.at, 1000);
  });

  it("cancels its probe timer when nobody waits any more", async () => {
    const { gate, clock } = setup();
    gate.close("down");
    const controller = new AbortController();
    const a = waiter(gate, clock, "a", controller.signal);
    assert.equal(clock.pending, 1);
    controller.abort(new Error("stop"));
    await a.promise;
    assert.equal(clock.pending, 0);
  });

  it("rejects at once when the signal is already aborted", async () => {
    const { gate } = setup();
    gate.close("down");
    await assert.rejects(gate.pass("a", AbortSignal.abort(new Error("gone"))), /gone/);
    assert.equal(gate.waiting, 0);
  });

  it("an abandoned probe hands the same probe number to the next waiter at once", async () => {
    const { gate, clock, events } = setup();
    gate.close("down");
    const a = waiter(gate, clock, "a");
    const b = waiter(gate, clock, "b");
    await clock.advance(1000);
    assert.equal(a.pass?.probe, 1);
    await clock.advance(50);
    assert.equal(gate.probeAbandoned(2), false, "not the current probe");
    assert.equal(gate.probeAbandoned(1), true);
    await b.promise;
    assert.deepEqual([b.at, b.pass?.probe], [1050, 1]);
    assert.deepEqual(probeEvents(events), [
      [1000, "a", 1],
      [1050, "b", 1],
    ]);
  });

  it("counts closed time over several outages, the current one included", async () => {
    const { gate, clock } = setup();
    gate.close("down");
    await clock.advance(4000);
    gate.open();
    await clock.advance(60_000);
    gate.close("down");
    await clock.advance(1500);
    assert.equal(gate.closedMs(), 5500);
    gate.open();
    await clock.advance(1000);
    assert.equal(gate.closedMs(), 5500);
  });

  it("emits one event per state change, in order", async () => {
    const { gate, clock, events } = setup();
    gate.close("why");
    const w = waiter(gate, clock, "a");
    await clock.advance(1000);
    assert.ok(w.pass);
    await clock.advance(100);
    gate.probeFailed(1);
    const v = waiter(gate, clock, "a");
    await clock.advance(2000);
    assert.ok(v.pass);
    gate.open();
    assert.deepEqual(events, [
      { type: "gate-closed", at: 0, registry: "reg.example", reason: "why", nextProbeAt: 1000 },
      { type: "gate-probe", at: 1000, registry: "reg.example", image: "a", probe: 1 },
      { type: "gate-closed", at: 1100, registry: "reg.example", reason: "probe 1 failed", nextProbeAt: 3100 },
      { type: "gate-probe", at: 3100, registry: "reg.example", image: "a", probe: 2 },
      { type: "gate-opened", at: 3100, registry: "reg.example", released: 0, closedMs: 3100 },
    ]);
  });

  it("rejects bad options, naming the option and the value", () => {
    const clock = new FakeClock();
    const make = (options: object) => () => createGate({ registry: "r", clock, random: half, emit: () => undefined, options });
    assert.throws(make({ firstProbeMs: 0 }), /gate option firstProbeMs .* got 0/);
    assert.throws(make({ probeCapMs: 500 }), /probeCapMs .* got 500/);
    assert.throws(make({ probeJitter: 1 }), /probeJitter .* got 1/);
    assert.throws(make({ maxFlapDoublings: 1.5 }), /maxFlapDoublings .* got 1.5/);
  });
});

describe("trip detector", () => {
  it("trips on transient failures of 2 repositories within 10 s, with no success in between", () => {
    const d = createTripDetector();
    assert.equal(d.record({ at: 0, repository: "a", kind: "transient" }), false);
    assert.equal(d.record({ at: 10_000, repository: "b", kind: "transient" }), true);
    assert.match(d.reason ?? "", /2 repositories within 10 s .*\(a, b\)/);
  });

  it("does not combine failures more than 10 s apart across repositories", () => {
    const d = createTripDetector();
    d.record({ at: 0, repository: "a", kind: "transient" });
    assert.equal(d.record({ at: 10_001, repository: "b", kind: "transient" }), false);
    assert.equal(d.reason, undefined);
  });

  it("a success in between resets the count", () => {
    const d = createTripDetector();
    d.record({ at: 0, repository: "a", kind: "transient" });
    d.record({ at: 100, repository: "c", kind: "success" });
    assert.equal(d.counted, 0);
    assert.equal(d.record({ at: 200, repository: "b", kind: "transient" }), false);
  });

  it("one repository failing again and again while others succeed never trips, and is then ignored", () => {
    const d = createTripDetector();
    const trips: boolean[] = [];
    for (let i = 0; i < 10; i++) {
      trips.push(d.record({ at: i * 1000, repository: "broken", kind: "transient" }));
      trips.push(d.record({ at: i * 1000 + 500, repository: `ok${i}`, kind: "success" }));
    }
    assert.ok(trips.every((t) => !t));
    assert.deepEqual([...d.suspects], ["broken"]);
    // Its failures no longer count: with one other repository failing, that is not an outage.
    assert.equal(d.record({ at: 20_000, repository: "broken", kind: "transient" }), false);
    assert.equal(d.record({ at: 20_100, repository: "other", kind: "transient" }), false);
    assert.equal(d.counted, 1);
    // Three failures in a row elsewhere still trip.
    d.record({ at: 20_200, repository: "other", kind: "transient" });
    assert.equal(d.record({ at: 20_300, repository: "other", kind: "transient" }), true);
  });

  it("trips on a brownout: many repositories failing at random while others are served", () => {
    const d = createTripDetector();
    // Alternate failures and successes over six repositories: each failing repository was followed
    // by a success, so all of them look image-specific to the streak rules.
    const events: Array<[number, string, "transient" | "success"]> = [
      [0, "r1", "transient"], [100, "r2", "success"], [200, "r3", "transient"], [300, "r4", "success"],
      [400, "r5", "transient"], [500, "r6", "success"], [600, "r1", "transient"], [700, "r2", "success"],
      [800, "r3", "transient"],
    ];
    for (const [at, repository, kind] of events) assert.equal(d.record({ at, repository, kind }), false, `at ${at}`);
    assert.equal(d.record({ at: 900, repository: "r5", kind: "transient" }), true);
    assert.equal(d.reason, "degraded: 6 of 10 attempts failed within 20 s on 3 repositories");
  });

  it("does not call two broken images among healthy ones a brownout, however long they fail", () => {
    const d = createTripDetector();
    // First wave: the registry answers a healthy repository while both broken attempts run.
    d.answered({ at: 50, repository: "ok0" });
    assert.equal(d.record({ at: 60, repository: "bad1", kind: "transient", startedAt: 0 }), false);
    assert.equal(d.record({ at: 61, repository: "bad2", kind: "transient", startedAt: 0 }), false);
    for (let i = 0; i < 18; i++) d.record({ at: 100 + i, repository: `ok${i}`, kind: "success" });
    for (const at of [2000, 6000, 14_000, 26_000, 40_000]) {
      assert.equal(d.record({ at, repository: "bad1", kind: "transient", startedAt: at - 10 }), false);
      assert.equal(d.record({ at: at + 5, repository: "bad2", kind: "transient", startedAt: at - 5 }), false);
    }
  });

  it("forgets the brownout tally when the gate opens, and trips only at the failure ratio", () => {
    // The streak rules are switched off to look at the degraded rule alone.
    const d = createTripDetector({ repositories: 99, consecutive: 99 });
    for (let i = 0; i < 5; i++) assert.equal(d.record({ at: i, repository: `f${i % 3}`, kind: "transient" }), false);
    d.reset();
    assert.equal(d.record({ at: 5, repository: "f0", kind: "transient" }), false);
    for (let i = 0; i < 30; i++) d.record({ at: 10 + i, repository: `s${i}`, kind: "success" });
    // 31 attempts so far; then failures on three more repositories: 9/39 is below 25 %, 10/40 is not.
    const trips = Array.from({ length: 9 }, (_, i) => d.record({ at: 50 + i, repository: `g${i % 3}`, kind: "transient" }));
    assert.deepEqual(trips, [false, false, false, false, false, false, false, false, true]);
    assert.equal(d.reason, "degraded: 10 of 40 attempts failed within 20 s on 4 repositories");
  });

  it("a suspect that succeeds is trusted again", () => {
    const d = createTripDetector();
    d.record({ at: 0, repository: "a", kind: "transient" });
    d.record({ at: 1, repository: "b", kind: "success" });
    assert.ok(d.suspects.has("a"));
    d.record({ at: 2, repository: "a", kind: "success" });
    assert.equal(d.suspects.size, 0);
  });

  it("trips on 3 failures in a row of a single repository within 30 s", () => {
    const d = createTripDetector();
    assert.equal(d.record({ at: 0, repository: "only", kind: "transient" }), false);
    assert.equal(d.record({ at: 2500, repository: "only", kind: "transient" }), false);
    assert.equal(d.record({ at: 30_000, repository: "only", kind: "transient" }), true);
    assert.match(d.reason ?? "", /3 transient failures in a row within 30 s \(only\)/);
  });

  it("forgets single-repository failures older than 30 s", () => {
    const d = createTripDetector();
    d.record({ at: 0, repository: "only", kind: "transient" });
    d.record({ at: 20_000, repository: "only", kind: "transient" });
    assert.equal(d.record({ at: 30_001, repository: "only", kind: "transient" }), false);
    assert.equal(d.counted, 2);
    assert.equal(d.record({ at: 45_000, repository: "only", kind: "transient" }), true);
  });

  it("rate limits, permanent errors and skips never trip it, and do not reset it either", () => {
    const d = createTripDetector();
    for (let i = 0; i < 20; i++) assert.equal(d.record({ at: i, repository: `r${i % 4}`, kind: "other" }), false);
    assert.equal(d.counted, 0);
    d.record({ at: 100, repository: "a", kind: "transient" });
    d.record({ at: 200, repository: "z", kind: "other" });
    assert.equal(d.record({ at: 300, repository: "b", kind: "transient" }), true);
  });

  it("reset() forgets the counted failures but keeps the suspects", () => {
    const d = createTripDetector();
    d.record({ at: 0, repository: "s", kind: "transient" });
    d.record({ at: 1, repository: "ok", kind: "success" });
    d.record({ at: 2, repository: "a", kind: "transient" });
    d.reset();
    assert.equal(d.counted, 0);
    assert.equal(d.record({ at: 3, repository: "b", kind: "transient" }), false);
    assert.ok(d.suspects.has("s"));
  });

  it("a success the registry answered before a failure neither resets nor suspects that failure", () => {
    const d = createTripDetector();
    d.record({ at: 100, repository: "a", kind: "transient" });
    d.record({ at: 200, repository: "c", kind: "success", answeredAt: 50 });
    assert.deepEqual([d.counted, d.suspects.size], [1, 0]);
    assert.equal(d.record({ at: 300, repository: "b", kind: "transient" }), true);
  });

  it("after reset() old failures no longer trip, but a later success still marks them as image-specific", () => {
    const d = createTripDetector();
    d.record({ at: 0, repository: "a", kind: "transient" });
    assert.equal(d.record({ at: 1, repository: "b", kind: "transient" }), true);
    d.reset();
    assert.equal(d.counted, 0);
    assert.equal(d.record({ at: 2, repository: "c", kind: "transient" }), false);
    d.record({ at: 10, repository: "d", kind: "success", answeredAt: 3 });
    assert.deepEqual([...d.suspects].sort(), ["a", "b", "c"]);
  });

  it("answered(): a manifest-stage failure of an attempt running while another repository was answered is image-specific", () => {
    const d = createTripDetector();
    d.answered({ at: 50, repository: "ok" });
    assert.equal(d.record({ at: 60, repository: "a", kind: "transient", startedAt: 0 }), false);
    assert.equal(d.record({ at: 61, repository: "b", kind: "transient", startedAt: 0 }), false);
    assert.deepEqual([d.counted, [...d.suspects].sort()], [0, ["a", "b"]]);
    // An attempt that started after that answer counts as usual.
    d.record({ at: 100, repository: "c", kind: "transient", startedAt: 70 });
    assert.equal(d.record({ at: 101, repository: "d", kind: "transient", startedAt: 70 }), true);
  });

  it("answered() after manifest-stage failures makes them suspects; failures after an answer (layers) still count", () => {
    const d = createTripDetector();
    d.record({ at: 100, repository: "a", kind: "transient", startedAt: 0 });
    assert.equal(d.countedSince, 100);
    d.answered({ at: 150, repository: "ok" });
    assert.deepEqual([d.counted, d.countedSince, [...d.suspects]], [0, undefined, ["a"]]);
    // Layer failures: the registry answered these attempts, so other answers do not excuse them.
    d.record({ at: 200, repository: "x", kind: "transient", startedAt: 0, answeredAt: 20 });
    d.answered({ at: 250, repository: "ok2" });
    assert.equal(d.counted, 1);
    assert.equal(d.record({ at: 300, repository: "y", kind: "transient", startedAt: 0, answeredAt: 30 }), true);
  });

  it("takes its thresholds as options and rejects bad ones", () => {
    const d = createTripDetector({ repositories: 3, windowMs: 1000 });
    d.record({ at: 0, repository: "a", kind: "transient" });
    assert.equal(d.record({ at: 1, repository: "b", kind: "transient" }), false);
    assert.equal(d.record({ at: 2, repository: "c", kind: "transient" }), true);
    assert.throws(() => createTripDetector({ repositories: 1 }), /trip option repositories .* got 1/);
    assert.throws(() => createTripDetector({ windowMs: -5 }), /trip option windowMs .* got -5/);
  });
});
