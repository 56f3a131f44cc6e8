import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { seededRandom } from "../../src/policy/random.js";
import { FIRST_ATTEMPT, decide, voided, type RetryRecord } from "../../src/policy/retry.js";
import { resolveSettings } from "../../src/policy/settings.js";
import type { OutcomeClass, Settings } from "../../src/types.js";

const defaults = (): Settings => {
  const s = resolveSettings({});
  assert.ok(s.ok);
  return s.value;
};

/** The record of an image that has spent `spent` attempts before the one that just ended. */
const after = (spent: number, rateLimited = 0): RetryRecord => ({ spent, absorbed: 0, rateLimited, nextFree: false });

describe("retry decision", () => {
  const settings = defaults();
  const cases: Array<[OutcomeClass, number, string]> = [
    ["pulled", 1, "pulled"],
    ["present", 1, "pulled"],
    ["skipped-platform", 1, "skipped"],
    ["permanent", 1, "fail"],
    ["engine-unreachable", 1, "fail"],
    ["deadline", 1, "fail"],
    ["transient", 1, "retry"],
    ["transient", 4, "retry"],
    ["transient", 5, "fail"],
    ["stalled", 2, "retry"],
    ["timeout", 2, "retry"],
    ["rate-limited", 1, "retry"],
    ["rate-limited", 5, "fail"],
  ];
  for (const [outcome, spent, action] of cases) {
    it(`${outcome} after ${spent} attempt(s) → ${action}`, () => {
      const record = after(spent - 1, outcome === "rate-limited" ? spent - 1 : 0);
      assert.equal(decide(record, { class: outcome, outage: false }, settings, () => 0).next.action, action);
    });
  }

  it("waits PULL_BACKOFF_BASE·2^(n−1), capped at PULL_BACKOFF_MAX, for transient failures", () => {
    const delays = [1, 2, 3, 4].map((spent) => decide(after(spent - 1), { class: "transient", outage: false }, settings, () => 0).next);
    assert.deepEqual(
      delays,
      [2000, 4000, 8000, 12_000].map((delayMs) => ({ action: "retry", delayMs, reason: "backoff" })),
    );
  });

  it("with the defaults, five attempts span 26–28.6 s whatever the jitter draws", () => {
    // The promise behind the defaults: an image-specific fault of 25 s is outlasted (the fifth
    // attempt never starts before 26 s) and the image is not left waiting long after it ends.
    const span = (r: number) =>
      [1, 2, 3, 4].reduce((sum, spent) => {
        const d = decide(after(spent - 1), { class: "transient", outage: false }, settings, () => r).next;
        return sum + (d.action === "retry" ? d.delayMs : Number.NaN);
      }, 0);
    assert.equal(span(0), 26_000);
    assert.equal(span(0.999_999), 28_600);
    const random = seededRandom(3);
    for (let i = 0; i < 200; i++) {
      const total = span(random());
      assert.ok(total >= 26_000 && total <= 28_600, String(total));
    }
  });

  it("waits longer after a rate limit than after a blip", () => {
    const d = decide(after(0, 0), { class: "rate-limited", outage: false }, settings, () => 0).next;
    assert.deepEqual(d, { action: "retry", delayMs: 30_000, reason: "rate-limit" });
    const second = decide(after(1, 1), { class: "rate-limited", outage: false }, settings, () => 0).next;
    assert.deepEqual(second, { action: "retry", delayMs: 60_000, reason: "rate-limit" });
  });

  it("a failure the closed gate took as the outage's spends nothing and goes straight back to the gate", () => {
    const d = decide(after(2), { class: "transient", outage: true }, settings, () => 0);
    assert.deepEqual(d, { next: { action: "requeue" }, record: { spent: 2, absorbed: 1, rateLimited: 0, nextFree: true }, absorbed: true });
    for (const cls of ["stalled", "timeout"] as const) assert.equal(decide(after(0), { class: cls, outage: true }, settings, () => 0).absorbed, true, cls);
  });

  it("the gate absorbs at most MAX_ABSORBED_PER_IMAGE failures of one image; later ones spend attempts", () => {
    const capped = { ...after(1), absorbed: 5 };
    const d = decide(capped, { class: "transient", outage: true }, settings, () => 0);
    assert.deepEqual([d.absorbed, d.record.spent, d.record.absorbed, d.next.action], [false, 2, 5, "retry"]);
    assert.equal(decide(after(0), { class: "transient", outage: true }, settings, () => 0, 0).absorbed, false, "a cap of 0 absorbs nothing");
  });

  it("only transient-like failures are absorbed: a permanent error or a rate limit behind a closed gate is the image's own", () => {
    for (const cls of ["permanent", "rate-limited", "skipped-platform", "pulled"] as const) {
      assert.equal(decide(after(0), { class: cls, outage: true }, settings, () => 0).absorbed, false, cls);
    }
  });

  it("the next attempt is free of the retry budget after an absorbed failure, a rate limit, a voided ticket, and for the first attempt only", () => {
    assert.equal(FIRST_ATTEMPT.nextFree, true);
    assert.equal(decide(after(0), { class: "rate-limited", outage: false }, settings, () => 0).record.nextFree, true);
    assert.equal(decide(after(0), { class: "transient", outage: false }, settings, () => 0).record.nextFree, false);
    assert.equal(decide(after(0), { class: "transient", outage: true }, settings, () => 0).record.nextFree, true);
    assert.deepEqual(voided(after(3)), { ...after(3), nextFree: true });
  });
});
