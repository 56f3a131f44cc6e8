import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FakeClock } from "../../src/clock/fake.js";
import { DEFAULT_GATE_OPTIONS, createGate, probeDelay, releaseDelay, type Gate, type GatePass } from "../../src/policy/gate.js";
import { seededRandom } from "../../src/policy/random.js";
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
    assert.deepEqual(
      [0, 1, 2, 3, 4, 10].map((n) => probeDelay(n, 0, DEFAULT_GATE_OPTIONS, 0.5)),
      [1000, 2000, 4000, 4000, 4000, 4000],
    );
  });

  it("jitters within ±20 %, so probes at the cap are 3.2–4.8 s apart", () => {
    assert.equal(probeDelay(0, 0, DEFAULT_GATE_OPTIONS, 0), 800);
    assert.equal(probeDelay(3, 0, DEFAULT_GATE_OPTIONS, 0), 3200);
    assert.equal(probeDelay(3, 0, DEFAULT_GATE_OPTIONS, 0.999999), 4800);
  });

  it("starts later after flaps, never beyond the cap", () => {
    assert.deepEqual(
      [0, 1, 2, 3].map((f) => probeDelay(0, f, DEFAULT_GATE_OPTIONS, 0.5)),
      [1000, 2000, 4000, 4000],
    );
    assert.equal(probeDelay(2, 2, DEFAULT_GATE_OPTIONS, 0.5), 4000);
  });

  it("release delays keep FIFO order, each inside its own slot of the 1 s spread", () => {
    assert.deepEqual(
      [0, 1, 2, 3].map((i) => releaseDelay(i, 4, 1000, 0.5)),
      [125, 375, 625, 875],
    );
    assert.deepEqual(
      [0, 1].map((i) => releaseDelay(i, 2, 1000, 0)),
      [0, 500],
    );
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
    assert.deepEqual(
      others.map((w) => w.pass?.probe),
      [0, 0, 0, 0],
    );
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

  it("a gate opened by a direct probe releases its waiters over directReleaseSpreadMs (250 ms), not the engine probes' 1 s", async () => {
    const { gate, clock } = setup();
    gate.probeWith(async () => "up");
    gate.close("down");
    const waiters = ["a", "b", "c", "d"].map((image) => waiter(gate, clock, image));
    // The first direct probe goes after about a second (1000 ms ±10 %, half: 1000) and answers "up".
    await clock.advance(1000);
    assert.equal(gate.state.kind, "open");
    const openedAt = clock.now();
    await clock.advance(250);
    // Slot i of 4 over 250 ms with random 0.5: (i + 0.5) × 62.5 ms.
    assert.deepEqual(
      waiters.map((w) => (w.at ?? NaN) - openedAt),
      [31, 94, 156, 219],
    );
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
