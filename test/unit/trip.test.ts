import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createTripDetector } from "../../src/policy/trip.js";

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
      [0, "r1", "transient"],
      [100, "r2", "success"],
      [200, "r3", "transient"],
      [300, "r4", "success"],
      [400, "r5", "transient"],
      [500, "r6", "success"],
      [600, "r1", "transient"],
      [700, "r2", "success"],
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
