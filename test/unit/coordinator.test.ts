import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FakeClock } from "../../src/clock/fake.js";
import { createRegistryCoordinator, type CoordinatorOptions, type RegistryCoordinator, type RegistryTicket } from "../../src/policy/registry-coordinator.js";
import { FIRST_ATTEMPT, MAX_ABSORBED_PER_IMAGE, decide, voided, type RetryRecord } from "../../src/policy/retry.js";
import { resolveSettings } from "../../src/policy/settings.js";
import type { OutcomeClass, PullEvent, Random } from "../../src/types.js";

/** What an attempt's end looks like from the registry's side, in these tests' words. */
type Kind = "success" | "transient" | "permanent" | "rate-limited" | "skipped";
const CLASS: Record<Kind, OutcomeClass> = {
  success: "pulled",
  transient: "transient",
  permanent: "permanent",
  "rate-limited": "rate-limited",
  skipped: "skipped-platform",
};

/** A ticket as these tests look at it. */
interface Admission {
  readonly image: string;
  readonly probe: boolean;
  readonly probeNumber: number;
  readonly paid: boolean;
  readonly waitedMs: number;
  readonly ticket: RegistryTicket;
}

/**
 * The coordinator together with the retry decision (policy/retry.ts), the way the scheduler
 * composes them: per image, a retry is paid unless the decision made it free; finished() returns
 * whether the decision counted the failure as absorbed (the gate took it, within the per-image cap).
 * A ticket voided by confirm() makes the next admission free, and needs no finish.
 */
function composed(coordinator: RegistryCoordinator, maxAbsorbed = MAX_ABSORBED_PER_IMAGE) {
  const settings = (() => {
    const s = resolveSettings({});
    assert.ok(s.ok);
    return s.value;
  })();
  const records = new Map<string, RetryRecord>();
  const record = (image: string) => records.get(image) ?? { ...FIRST_ATTEMPT, nextFree: false };
  const ended = new WeakMap<RegistryTicket, { absorbed: boolean }>();
  return {
    get gateState() {
      return coordinator.gateState;
    },
    get waiting() {
      return coordinator.waiting;
    },
    get tokens() {
      return coordinator.tokens;
    },
    stats: () => coordinator.stats(),
    async admit(image: string, options: { retry: boolean; signal: AbortSignal; repository?: string }): Promise<Admission> {
      const paid = options.retry && !record(image).nextFree;
      const ticket = await coordinator.admit(image, {
        paid,
        signal: options.signal,
        repository: options.repository ?? image.replace(/^.*\//, "").replace(/:.*$/, ""),
      });
      return { image, probe: ticket.probe > 0, probeNumber: ticket.probe, paid: ticket.paid, waitedMs: ticket.waitedMs, ticket };
    },
    confirm(admission: Admission): boolean {
      const started = admission.ticket.start();
      if (!started && !ended.has(admission.ticket)) {
        records.set(admission.image, voided(record(admission.image)));
        ended.set(admission.ticket, { absorbed: true });
      }
      return started;
    },
    answered(admission: Admission): void {
      admission.ticket.answered();
    },
    finished(admission: Admission, outcome: { kind: Kind; repository: string }): { absorbed: boolean } {
      const known = ended.get(admission.ticket);
      if (known) return known;
      const { outage } = admission.ticket.finish(CLASS[outcome.kind]);
      const decision = decide(record(admission.image), { class: CLASS[outcome.kind], outage }, settings, () => 0, maxAbsorbed);
      records.set(admission.image, decision.record);
      const result = { absorbed: decision.absorbed };
      ended.set(admission.ticket, result);
      return result;
    },
  };
}
type Composed = ReturnType<typeof composed>;

const half: Random = () => 0.5;
const live = () => new AbortController().signal;

function setup(options?: CoordinatorOptions & { maxAbsorbedPerImage?: number }, start = 0) {
  const clock = new FakeClock(start);
  const events: PullEvent[] = [];
  const { maxAbsorbedPerImage, ...coordinatorOptions } = options ?? {};
  const coordinator = composed(
    createRegistryCoordinator({ registry: "reg.example", clock, random: half, emit: (e) => events.push(e), options: coordinatorOptions }),
    maxAbsorbedPerImage,
  );
  return { clock, events, coordinator };
}

/** admit() that records when it resolved, without awaiting it. */
function admitting(c: Composed, clock: FakeClock, image: string, retry: boolean, signal = live()) {
  const out: { at?: number; admission?: Admission; error?: unknown } = {};
  const promise = c.admit(image, { retry, signal }).then(
    (a) => {
      out.at = clock.now();
      out.admission = a;
    },
    (error: unknown) => {
      out.error = error;
    },
  );
  return Object.assign(out, { promise });
}

/** Whether the gate let it through yet (a function, so assertions do not narrow the field for later lines). */
const passed = (w: { admission?: Admission }) => w.admission !== undefined;

const ofType = <T extends PullEvent["type"]>(events: PullEvent[], type: T) => events.filter((e): e is Extract<PullEvent, { type: T }> => e.type === type);

/** Closes the gate the ordinary way: two repositories fail transiently. */
async function trip(c: Composed) {
  const a = await c.admit("reg.example/a:1", { retry: false, signal: live() });
  const b = await c.admit("reg.example/b:1", { retry: false, signal: live() });
  const first = c.finished(a, { kind: "transient", repository: "a" });
  const second = c.finished(b, { kind: "transient", repository: "b" });
  return [first.absorbed, second.absorbed];
}

describe("registry coordinator", () => {
  it("admits first attempts at once through an open gate, spending no retry tokens", async () => {
    const { coordinator } = setup();
    const admissions = await Promise.all(["x", "y", "z"].map((image) => coordinator.admit(image, { retry: false, signal: live() })));
    assert.deepEqual(
      admissions.map((a) => [a.probe, a.paid, a.waitedMs]),
      [
        [false, false, 0],
        [false, false, 0],
        [false, false, 0],
      ],
    );
    assert.equal(coordinator.tokens, 50);
  });

  it("closes the gate on transient failures of two repositories; the second is absorbed", async () => {
    const { coordinator, events } = setup();
    assert.deepEqual(await trip(coordinator), [false, true]);
    assert.equal(coordinator.gateState.kind, "closed");
    const closed = ofType(events, "gate-closed");
    assert.equal(closed.length, 1);
    assert.match(closed[0]?.reason ?? "", /transient failures on 2 repositories within 10 s/);
  });

  it("an attempt already in flight that fails while the gate is closed is absorbed too", async () => {
    const { coordinator } = setup();
    const inFlight = await coordinator.admit("c", { retry: false, signal: live() });
    await trip(coordinator);
    assert.deepEqual(coordinator.finished(inFlight, { kind: "transient", repository: "c" }), { absorbed: true });
  });

  it("waiters queue behind the closed gate; the oldest probes at exactly +1 s, then +2 s after a failed probe", async () => {
    const { coordinator, clock, events } = setup(undefined, 5000);
    await trip(coordinator);
    const a = admitting(coordinator, clock, "reg.example/a:1", false);
    const b = admitting(coordinator, clock, "reg.example/b:1", false);
    await clock.advance(999);
    assert.equal(passed(a), false);
    await clock.advance(1);
    assert.deepEqual([a.at, a.admission?.probe, a.admission?.probeNumber, a.admission?.waitedMs], [6000, true, 1, 1000]);
    assert.equal(passed(b), false, "one probe at a time");
    await clock.advance(300);
    assert.deepEqual(coordinator.finished(a.admission as Admission, { kind: "transient", repository: "a" }), { absorbed: true });
    const a2 = admitting(coordinator, clock, "reg.example/a:1", false);
    await clock.advance(1999);
    assert.equal(passed(b), false);
    await clock.advance(1);
    assert.deepEqual([b.at, b.admission?.probe, b.admission?.probeNumber], [8300, true, 2]);
    assert.equal(passed(a2), false);
    assert.deepEqual(
      ofType(events, "gate-probe").map((e) => [e.at, e.image, e.probe]),
      [
        [6000, "reg.example/a:1", 1],
        [8300, "reg.example/b:1", 2],
      ],
    );
  });

  it("the probe's answer opens the gate at once and releases every waiter at its spread delay", async () => {
    const { coordinator, clock, events } = setup();
    await trip(coordinator);
    const probe = admitting(coordinator, clock, "p", false);
    const waiters = ["w1", "w2", "w3", "w4"].map((image) => admitting(coordinator, clock, image, true));
    await clock.advance(1000);
    assert.equal(probe.admission?.probe, true);
    await clock.advance(400);
    coordinator.answered(probe.admission as Admission);
    assert.equal(coordinator.gateState.kind, "open");
    assert.deepEqual(ofType(events, "gate-opened"), [{ type: "gate-opened", at: 1400, registry: "reg.example", released: 4, closedMs: 1400 }]);
    await clock.advance(1000);
    assert.deepEqual(
      waiters.map((w) => w.at),
      [1525, 1775, 2025, 2275],
    );
    assert.ok(waiters.every((w) => w.admission?.probe === false && w.admission.paid === false));
    assert.equal(coordinator.tokens, 50, "released retries spend no tokens");
    // The probe's own end no longer changes the gate.
    assert.deepEqual(coordinator.finished(probe.admission as Admission, { kind: "success", repository: "p" }), { absorbed: false });
    assert.equal(coordinator.gateState.kind, "open");
  });

  for (const kind of ["success", "permanent", "rate-limited", "skipped"] as const) {
    it(`a probe that ends with "${kind}" opens the gate`, async () => {
      const { coordinator, clock } = setup();
      await trip(coordinator);
      const probe = admitting(coordinator, clock, "p", false);
      await clock.run(probe.promise);
      assert.deepEqual(coordinator.finished(probe.admission as Admission, { kind, repository: "p" }), { absorbed: false });
      assert.equal(coordinator.gateState.kind, "open");
    });
  }

  it("an answer from an attempt already in flight when an outage closed the gate opens it", async () => {
    const { coordinator, clock, events } = setup();
    const x = await coordinator.admit("x", { retry: false, signal: live() });
    await trip(coordinator);
    await clock.advance(700);
    coordinator.answered(x);
    assert.equal(coordinator.gateState.kind, "open");
    assert.deepEqual(
      ofType(events, "gate-opened").map((e) => [e.at, e.closedMs]),
      [[700, 700]],
    );
  });

  it("an answer that came before the gate closed proves nothing: that attempt's later success leaves the gate closed", async () => {
    const { coordinator, clock } = setup();
    const x = await coordinator.admit("x", { retry: false, signal: live() });
    const y = await coordinator.admit("y", { retry: false, signal: live() });
    coordinator.answered(x);
    await clock.advance(100);
    await trip(coordinator);
    await clock.advance(5000);
    coordinator.finished(x, { kind: "success", repository: "x" });
    coordinator.finished(y, { kind: "permanent", repository: "y" });
    assert.equal(coordinator.gateState.kind, "closed");
  });

  it("a gate closed because the budget ran out opens only for its probe", async () => {
    const { coordinator, clock } = setup({ budget: { capacity: 5, retryCost: 5 } });
    const straggler = await coordinator.admit("s", { retry: false, signal: live() });
    await coordinator.admit("x", { retry: true, signal: live() });
    const z = admitting(coordinator, clock, "z", true);
    assert.equal(coordinator.gateState.kind, "closed");
    coordinator.answered(straggler);
    assert.equal(coordinator.gateState.kind, "closed");
    await clock.advance(1000);
    coordinator.answered(z.admission as Admission);
    assert.equal(coordinator.gateState.kind, "open");
  });

  it("confirm(): a pull admitted before the gate closed must not start; its next admit is free", async () => {
    const { coordinator, clock } = setup();
    const early = await coordinator.admit("e", { retry: true, signal: live() });
    assert.deepEqual([early.paid, coordinator.tokens], [true, 45]);
    assert.equal(coordinator.gateState.kind, "open");
    await trip(coordinator);
    assert.equal(coordinator.confirm(early), false);
    assert.equal(coordinator.confirm(early), false);
    assert.deepEqual(coordinator.finished(early, { kind: "permanent", repository: "e" }), { absorbed: true });
    const again = admitting(coordinator, clock, "e", true);
    await clock.advance(1000);
    assert.deepEqual([again.admission?.probe, again.admission?.paid, coordinator.confirm(again.admission as Admission)], [true, false, true]);
    assert.equal(coordinator.tokens, 45);
    assert.deepEqual(coordinator.stats().attempts, 2, "the void admission is no attempt");
  });

  it("rate limits and permanent errors never close the gate, on any number of repositories", async () => {
    const { coordinator } = setup();
    for (let i = 0; i < 12; i++) {
      const a = await coordinator.admit(`img${i}`, { retry: false, signal: live() });
      const kind = i % 2 === 0 ? "rate-limited" : "permanent";
      assert.deepEqual(coordinator.finished(a, { kind, repository: `repo${i % 3}` }), { absorbed: false });
    }
    assert.equal(coordinator.gateState.kind, "open");
  });

  it("an image-specific failure while other images succeed does not close the gate, and keeps spending attempts", async () => {
    const { coordinator, clock } = setup();
    for (let i = 0; i < 6; i++) {
      const bad = await coordinator.admit("broken", { retry: i > 0, signal: live() });
      const good = await coordinator.admit(`ok${i}`, { retry: false, signal: live() });
      await clock.advance(500);
      assert.deepEqual(coordinator.finished(bad, { kind: "transient", repository: "broken" }), { absorbed: false });
      coordinator.finished(good, { kind: "success", repository: `ok${i}` });
    }
    assert.equal(coordinator.gateState.kind, "open");
    assert.equal(coordinator.tokens, 50 - 5 * 5 + 5, "5 paid retries, 5 refunds (the first one found the bucket full)");
  });

  it("a single-image registry closes its gate after 3 transient failures in a row", async () => {
    const { coordinator, clock } = setup();
    const absorbed: boolean[] = [];
    for (let i = 0; i < 3; i++) {
      const a = await coordinator.admit("only", { retry: i > 0, signal: live() });
      await clock.advance(2000);
      absorbed.push(coordinator.finished(a, { kind: "transient", repository: "only" }).absorbed);
    }
    assert.deepEqual(absorbed, [false, false, true]);
    assert.equal(coordinator.gateState.kind, "closed");
  });

  describe("the first wave (admit with the repository, confirm when the attempt starts)", () => {
    const start = async (c: Composed, image: string) => {
      const admission = await c.admit(image, { retry: false, signal: live(), repository: image });
      assert.equal(c.confirm(admission), true);
      return admission;
    };

    it("two broken images failing before the healthy ones' manifests resolve do not close the gate", async () => {
      const { coordinator, clock, events } = setup();
      const [bad1, bad2, ok1, ok2] = await Promise.all(["bad1", "bad2", "ok1", "ok2"].map((i) => start(coordinator, i)));
      await clock.advance(30);
      assert.deepEqual(coordinator.finished(bad1 as Admission, { kind: "transient", repository: "bad1" }), { absorbed: false });
      assert.deepEqual(coordinator.finished(bad2 as Admission, { kind: "transient", repository: "bad2" }), { absorbed: false });
      assert.equal(coordinator.gateState.kind, "open", "ok1 and ok2 may still answer");
      await clock.advance(10);
      coordinator.answered(ok1 as Admission);
      coordinator.answered(ok2 as Admission);
      // Their retries fail again while the healthy images are still downloading: image-specific.
      for (const image of ["bad1", "bad2"]) {
        const again = await coordinator.admit(image, { retry: true, signal: live(), repository: image });
        coordinator.confirm(again);
        assert.deepEqual(coordinator.finished(again, { kind: "transient", repository: image }), { absorbed: false });
      }
      coordinator.finished(ok1 as Admission, { kind: "success", repository: "ok1" });
      coordinator.finished(ok2 as Admission, { kind: "success", repository: "ok2" });
      assert.deepEqual(ofType(events, "gate-closed"), []);
    });

    it("two broken images failing after the healthy ones' manifests resolved do not close the gate", async () => {
      const { coordinator, clock, events } = setup();
      const [bad1, bad2, ok1] = await Promise.all(["bad1", "bad2", "ok1"].map((i) => start(coordinator, i)));
      await clock.advance(10);
      coordinator.answered(ok1 as Admission);
      await clock.advance(20);
      coordinator.finished(bad1 as Admission, { kind: "transient", repository: "bad1" });
      coordinator.finished(bad2 as Admission, { kind: "transient", repository: "bad2" });
      assert.equal(coordinator.gateState.kind, "open");
      assert.deepEqual(ofType(events, "gate-closed"), []);
    });

    it("in an outage the gate closes when the last attempt of the first wave fails, and absorbs that failure", async () => {
      const { coordinator, clock, events } = setup();
      const wave = await Promise.all(["a", "b", "c", "d"].map((i) => start(coordinator, i)));
      await clock.advance(30);
      const absorbed = wave.map(
        (admission, i) => coordinator.finished(admission, { kind: "transient", repository: ["a", "b", "c", "d"][i] as string }).absorbed,
      );
      assert.deepEqual(absorbed, [false, false, false, true]);
      assert.equal(coordinator.gateState.kind, "closed");
      assert.equal(ofType(events, "gate-closed").length, 1);
    });

    it("an attempt that started after the first failure does not hold the gate open", async () => {
      const { coordinator, clock } = setup();
      const [a, b] = await Promise.all(["a", "b"].map((i) => start(coordinator, i)));
      await clock.advance(30);
      coordinator.finished(a as Admission, { kind: "transient", repository: "a" });
      await clock.advance(5);
      const late = await start(coordinator, "late");
      await clock.advance(5);
      assert.deepEqual(coordinator.finished(b as Admission, { kind: "transient", repository: "b" }), { absorbed: true });
      assert.equal(coordinator.gateState.kind, "closed");
      assert.deepEqual(coordinator.finished(late, { kind: "transient", repository: "late" }), { absorbed: true });
    });
  });

  it("a retry that finds the budget empty closes the gate and waits for the probe", async () => {
    const { coordinator, clock, events } = setup({ budget: { capacity: 10, retryCost: 5, successRefund: 1 } });
    const x = await coordinator.admit("x", { retry: true, signal: live() });
    const y = await coordinator.admit("y", { retry: true, signal: live() });
    assert.deepEqual([x.paid, y.paid, coordinator.tokens], [true, true, 0]);
    const z = admitting(coordinator, clock, "z", true);
    const w = admitting(coordinator, clock, "w", true);
    assert.equal(coordinator.gateState.kind, "closed");
    assert.deepEqual(
      ofType(events, "gate-closed").map((e) => e.reason),
      ["retry budget exhausted (0 of 10 tokens left)"],
    );
    await clock.advance(1000);
    assert.deepEqual([z.at, z.admission?.probe, z.admission?.paid], [1000, true, false]);
    assert.equal(passed(w), false);
    coordinator.finished(z.admission as Admission, { kind: "success", repository: "z" });
    assert.equal(coordinator.gateState.kind, "open");
    assert.equal(coordinator.tokens, 1);
    await clock.advance(1000);
    assert.deepEqual([w.at, w.admission?.paid], [1500, false]);
  });

  it("retries after an absorbed failure or a rate limit draw no token; after a plain failure they do", async () => {
    const { coordinator, clock } = setup();
    const x = await coordinator.admit("x", { retry: false, signal: live() });
    coordinator.finished(x, { kind: "rate-limited", repository: "x" });
    await coordinator.admit("x", { retry: true, signal: live() });
    assert.equal(coordinator.tokens, 50);

    const y = await coordinator.admit("y", { retry: false, signal: live() });
    coordinator.finished(y, { kind: "transient", repository: "y" });
    const y2 = await coordinator.admit("y", { retry: true, signal: live() });
    assert.deepEqual([y2.paid, coordinator.tokens], [true, 45]);

    // Absorbed: the gate closes, then opens again before the image comes back.
    await clock.advance(60_000);
    const [, absorbed] = await trip(coordinator);
    assert.equal(absorbed, true);
    const probe = admitting(coordinator, clock, "p", false);
    await clock.run(probe.promise);
    coordinator.finished(probe.admission as Admission, { kind: "success", repository: "p" });
    const b2 = await coordinator.admit("reg.example/b:1", { retry: true, signal: live() });
    assert.deepEqual([b2.paid, coordinator.tokens], [false, 46]);
  });

  it("an aborted waiter rejects with the signal's reason and leaves the queue", async () => {
    const { coordinator, clock } = setup();
    await trip(coordinator);
    const controller = new AbortController();
    const a = admitting(coordinator, clock, "a", false, controller.signal);
    const b = admitting(coordinator, clock, "b", false);
    assert.equal(coordinator.waiting, 2);
    controller.abort(new Error("deadline"));
    await a.promise;
    assert.equal((a.error as Error).message, "deadline");
    assert.equal(coordinator.waiting, 1);
    await clock.advance(1000);
    assert.deepEqual([b.at, b.admission?.probe], [1000, true]);
  });

  it("rejects at once with an aborted signal", async () => {
    const { coordinator } = setup();
    await assert.rejects(coordinator.admit("a", { retry: false, signal: AbortSignal.abort(new Error("late")) }), /late/);
    assert.equal(coordinator.stats().attempts, 0);
  });

  it("a probe whose signal aborts before it reports hands the probe to the next waiter at once", async () => {
    const { coordinator, clock, events } = setup();
    await trip(coordinator);
    const controller = new AbortController();
    const a = admitting(coordinator, clock, "a", false, controller.signal);
    const b = admitting(coordinator, clock, "b", false);
    await clock.advance(1000);
    assert.equal(a.admission?.probe, true);
    await clock.advance(250);
    controller.abort(new Error("cancelled"));
    await b.promise;
    assert.deepEqual([b.at, b.admission?.probe, b.admission?.probeNumber], [1250, true, 1]);
    // The abandoned probe's late report changes nothing.
    assert.deepEqual(coordinator.finished(a.admission as Admission, { kind: "permanent", repository: "a" }), { absorbed: false });
    assert.equal(coordinator.gateState.kind, "probing");
    assert.deepEqual(
      ofType(events, "gate-closed")
        .map((e) => [e.at, e.reason])
        .slice(1),
      [[1250, "probe 1 abandoned"]],
    );
    // The new probe still decides.
    coordinator.finished(b.admission as Admission, { kind: "success", repository: "b" });
    assert.equal(coordinator.gateState.kind, "open");
  });

  it("a ticket finishes once: a second finish() is a bug and throws instead of counting twice", async () => {
    const { coordinator } = setup();
    const a = await coordinator.admit("a", { retry: false, signal: live() });
    const b = await coordinator.admit("b", { retry: false, signal: live() });
    coordinator.finished(a, { kind: "transient", repository: "a" });
    assert.deepEqual(coordinator.finished(b, { kind: "transient", repository: "b" }), { absorbed: true });
    assert.throws(() => b.ticket.finish("pulled"), /finish\(\) called on a finished ticket for b/);
    assert.equal(coordinator.gateState.kind, "closed");
    assert.deepEqual(coordinator.stats().attempts, 2);
  });

  it("counts attempts, failures and closed time", async () => {
    const { coordinator, clock } = setup();
    await trip(coordinator); // 2 attempts, 2 failures
    const probe = admitting(coordinator, clock, "p", false);
    await clock.run(probe.promise);
    await clock.advance(2500);
    coordinator.finished(probe.admission as Admission, { kind: "success", repository: "p" });
    const s = await coordinator.admit("s", { retry: false, signal: live() });
    coordinator.finished(s, { kind: "skipped", repository: "s" });
    const r = await coordinator.admit("r", { retry: false, signal: live() });
    coordinator.finished(r, { kind: "rate-limited", repository: "r" });
    await clock.advance(10_000);
    assert.deepEqual(coordinator.stats(), { attempts: 5, failures: 3, gateClosedMs: 3500 });
  });

  it("registries are independent: one registry's closed gate never holds back another's pulls", async () => {
    const clock = new FakeClock();
    const events: PullEvent[] = [];
    const forRegistry = (registry: string) => composed(createRegistryCoordinator({ registry, clock, random: half, emit: (e) => events.push(e) }));
    const sick = forRegistry("sick.example");
    await trip(sick);
    const healthy = forRegistry("healthy.example");
    const h = await healthy.admit("h", { retry: true, signal: live() });
    assert.deepEqual([h.probe, h.waitedMs, healthy.gateState.kind, sick.gateState.kind], [false, 0, "open", "closed"]);
    healthy.finished(h, { kind: "success", repository: "h" });
    assert.ok(events.every((e) => !("registry" in e) || e.registry === "sick.example"));
    await clock.advance(5000);
    assert.deepEqual(
      [sick.stats(), healthy.stats()],
      [
        { attempts: 2, failures: 2, gateClosedMs: 5000 },
        { attempts: 1, failures: 0, gateClosedMs: 0 },
      ],
    );
  });
});

/**
 * The scheduler's loop, as the lead's scheduler runs it: admit → attempt → answered → finished; a
 * transient failure that was not absorbed spends an attempt and sleeps the image's own backoff
 * (2 s doubling, no jitter here); an absorbed one goes straight back to admit(). `verdict` says how
 * the registry treats an attempt of `image` started at `at`. Every attempt takes 100 ms to its
 * answer or its error; a success then downloads for `downloadMs`.
 */
async function drive(
  coordinator: Composed,
  clock: FakeClock,
  images: string[],
  verdict: (image: string, at: number) => "success" | "transient",
  { retries = 5, downloadMs = 400, startAfter = (_image: string): number => 0, full = false } = {},
) {
  const started: Array<{ image: string; at: number; probe: boolean }> = [];
  const results = new Map<string, { status: "pulled" | "failed"; spent: number; absorbed: number; at: number }>();
  const pull = async (image: string) => {
    let spent = 0;
    let absorbedCount = 0;
    await clock.sleep(startAfter(image));
    for (;;) {
      // full: the scheduler's whole protocol (the repository on admit, confirm() when the attempt starts).
      const admission = await coordinator.admit(image, { retry: spent > 0, signal: live(), ...(full ? { repository: image } : {}) });
      if (full) assert.equal(coordinator.confirm(admission), true);
      started.push({ image, at: clock.now(), probe: admission.probe });
      const outcome = verdict(image, clock.now());
      await clock.sleep(100);
      if (outcome === "success") {
        coordinator.answered(admission);
        await clock.sleep(downloadMs);
        coordinator.finished(admission, { kind: "success", repository: image });
        results.set(image, { status: "pulled", spent, absorbed: absorbedCount, at: clock.now() });
        return;
      }
      const { absorbed } = coordinator.finished(admission, { kind: "transient", repository: image });
      if (absorbed) {
        absorbedCount++;
        continue;
      }
      spent++;
      if (spent >= retries) {
        results.set(image, { status: "failed", spent, absorbed: absorbedCount, at: clock.now() });
        return;
      }
      await clock.sleep(2000 * 2 ** (spent - 1));
    }
  };
  await clock.run(Promise.all(images.map(pull)), 3600_000);
  return { started, results };
}

describe("whole runs, driven like the scheduler drives them", () => {
  it("a 60 s outage costs one probe per interval, spends no attempts behind the gate, and recovery is noticed within one interval", async () => {
    const { coordinator, clock, events } = setup();
    const outageEndsAt = 60_000;
    const images = Array.from({ length: 10 }, (_, i) => `img${i}`);
    const { started, results } = await drive(coordinator, clock, images, (_, at) => (at >= outageEndsAt ? "success" : "transient"));

    const probes = started.filter((s) => s.probe).map((s) => s.at);
    assert.deepEqual(probes, [1100, 3200, 7300, ...Array.from({ length: 13 }, (_, i) => 11_400 + 4100 * i)]);
    assert.equal(started.length, 10 + 16 + 9, "first wave, 16 probes, then the 9 released waiters once each");
    assert.deepEqual(
      started.filter((s) => s.probe).map((s) => s.image),
      ["img1", "img2", "img3", "img4", "img5", "img6", "img7", "img8", "img9", "img1", "img0", "img2", "img3", "img4", "img5", "img6"],
      "the oldest waiter probes; a failed probe queues again at the back",
    );
    assert.deepEqual(
      images.map((image) => [results.get(image)?.status, results.get(image)?.spent]),
      images.map((_, i) => ["pulled", i === 0 ? 1 : 0]),
      "only img0's failure, before the gate closed, spent an attempt",
    );
    const opened = ofType(events, "gate-opened");
    assert.deepEqual(opened, [{ type: "gate-opened", at: 60_700, registry: "reg.example", released: 9, closedMs: 60_600 }]);
    assert.ok(opened[0] && opened[0].at - outageEndsAt <= 4000 * 1.2 + 100, "recovery noticed within one probe interval");
    const afterFirstWave = started.filter((s) => s.at > 100 && s.at < outageEndsAt).length;
    assert.ok(afterFirstWave <= outageEndsAt / 3000, `${afterFirstWave} attempts after the first wave`);
    assert.deepEqual(coordinator.stats(), { attempts: 35, failures: 25, gateClosedMs: 60_600 });
  });

  it("images that fail whatever the gate does still fail after PULL_RETRIES + 5 attempts, not at the deadline", async () => {
    // Every attempt fails: the gate cannot tell the images' own faults from an outage, and absorbs
    // their failures until each image has used MAX_ABSORBED_PER_IMAGE; then each failure spends.
    const { coordinator, clock } = setup();
    const images = ["a", "b", "c"];
    const { started, results } = await drive(coordinator, clock, images, () => "transient");
    for (const image of images) {
      const result = results.get(image);
      assert.deepEqual([result?.status, result?.spent, result?.absorbed], ["failed", 5, 5], image);
      assert.equal(started.filter((s) => s.image === image).length, 10, image);
    }
    const probes = started.filter((s) => s.probe).map((s) => s.at);
    for (let i = 1; i < probes.length; i++) assert.ok((probes[i] as number) - (probes[i - 1] as number) >= 800, "never more than one probe per interval");
    assert.ok(Math.max(...[...results.values()].map((r) => r.at)) < 300_000, "long before the 15-minute deadline");
  });

  it("with the scheduler's whole protocol, the two broken images of the seed case never close the gate and fail after PULL_RETRIES", async () => {
    // Same batch as above, but the coordinator knows each attempt's repository and start: the
    // healthy images answered while the broken ones were failing, so nothing looks like an outage.
    const { coordinator, clock, events } = setup();
    const broken = new Set(["mysql", "kdc"]);
    const images = ["a", "kdc", "b", "c", "mysql", "d", "e", "f"];
    const { started, results } = await drive(coordinator, clock, images, (image) => (broken.has(image) ? "transient" : "success"), {
      downloadMs: 2900,
      full: true,
    });
    assert.deepEqual(results.get("mysql"), { status: "failed", spent: 5, absorbed: 0, at: 30_500 });
    assert.deepEqual(results.get("kdc"), { status: "failed", spent: 5, absorbed: 0, at: 30_500 });
    for (const image of ["a", "b", "c", "d", "e", "f"]) assert.deepEqual(results.get(image), { status: "pulled", spent: 0, absorbed: 0, at: 3000 });
    assert.equal(started.filter((s) => s.probe).length, 0);
    assert.deepEqual(ofType(events, "gate-closed"), []);
  });

  it("with the scheduler's whole protocol, a 60 s outage still costs one probe per interval after the first wave", async () => {
    const { coordinator, clock, events } = setup();
    const outageEndsAt = 60_000;
    const images = Array.from({ length: 10 }, (_, i) => `img${i}`);
    const { started, results } = await drive(coordinator, clock, images, (_, at) => (at >= outageEndsAt ? "success" : "transient"), { full: true });
    // The gate closes when the last attempt of the first wave fails (no other one can answer any more).
    assert.deepEqual(ofType(events, "gate-closed")[0]?.at, 100);
    assert.deepEqual(
      images.map((image) => [results.get(image)?.status, results.get(image)?.spent]),
      images.map((_, i) => ["pulled", i === 9 ? 0 : 1]),
      "the first wave spent one attempt each, except the failure that closed the gate",
    );
    const probes = started.filter((s) => s.probe).map((s) => s.at);
    for (let i = 1; i < probes.length; i++) assert.ok((probes[i] as number) - (probes[i - 1] as number) >= 2000);
    const afterFirstWave = started.filter((s) => s.at > 100 && s.at < outageEndsAt).length;
    assert.ok(afterFirstWave <= outageEndsAt / 3000, `${afterFirstWave} attempts after the first wave`);
    assert.equal(ofType(events, "gate-opened").length, 1);
  });

  it("one image failing while the others of its registry keep succeeding never closes the gate", async () => {
    const { coordinator, clock, events } = setup();
    const images = ["broken", ...Array.from({ length: 8 }, (_, i) => `ok${i}`)];
    // The healthy images start one after another, every 3 s, as PULL_PARALLEL slots free up.
    const { results } = await drive(coordinator, clock, images, (image) => (image === "broken" ? "transient" : "success"), {
      downloadMs: 4000,
      startAfter: (image) => (image === "broken" ? 0 : 3000 * Number(image.slice(2))),
    });
    assert.deepEqual(results.get("broken"), { status: "failed", spent: 5, absorbed: 0, at: 30_500 });
    assert.deepEqual(ofType(events, "gate-closed"), []);
  });

  it("a cap of 0 absorbed failures keeps the gate's load protection but every failure spends an attempt", async () => {
    const { coordinator, clock, events } = setup({ maxAbsorbedPerImage: 0 });
    const images = ["a", "b", "c"];
    const { results } = await drive(coordinator, clock, images, () => "transient");
    assert.ok([...results.values()].every((r) => r.status === "failed" && r.spent === 5 && r.absorbed === 0));
    assert.equal(ofType(events, "gate-closed")[0]?.at, 100);
  });
});
