import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { backoffDelay, nominalDelay } from "../../src/policy/backoff.js";
import { seededRandom } from "../../src/policy/random.js";
import { decide } from "../../src/policy/retry.js";
import { resolveSettings } from "../../src/policy/settings.js";
import type { OutcomeClass, Settings } from "../../src/types.js";

const defaults = (): Settings => {
  const s = resolveSettings({});
  assert.ok(s.ok);
  return s.value;
};

describe("backoff", () => {
  it("doubles the base each retry and stops at the cap", () => {
    const options = { baseMs: 2000, maxMs: 30_000, jitter: 0.25 };
    assert.deepEqual([1, 2, 3, 4, 5, 6, 60].map((n) => nominalDelay(n, options)), [2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000]);
  });

  it("adds between 0 and 25% jitter, never subtracts", () => {
    const options = { baseMs: 1000, maxMs: 30_000, jitter: 0.25 };
    assert.equal(backoffDelay(1, options, () => 0), 1000);
    assert.equal(backoffDelay(1, options, () => 0.999999), 1250);
    assert.equal(backoffDelay(3, options, () => 0.5), 4500);
  });

  it("gives an exact, reproducible schedule for a seed", () => {
    const options = { baseMs: 2000, maxMs: 30_000, jitter: 0.25 };
    const schedule = (seed: number) => {
      const random = seededRandom(seed);
      return [1, 2, 3, 4].map((n) => backoffDelay(n, options, random));
    };
    assert.deepEqual(schedule(42), schedule(42));
    assert.notDeepEqual(schedule(42), schedule(43));
    const random = seededRandom(42);
    const draws = [random(), random(), random(), random()];
    assert.deepEqual(schedule(42), [1, 2, 3, 4].map((n, i) => Math.round(nominalDelay(n, options) * (1 + 0.25 * (draws[i] ?? 0)))));
  });

  it("seededRandom stays in [0, 1) and is not constant", () => {
    const random = seededRandom(7);
    const values = Array.from({ length: 1000 }, random);
    assert.ok(values.every((v) => v >= 0 && v < 1));
    assert.ok(new Set(values).size > 990);
  });
});

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
      assert.equal(decide(outcome, { spent, rateLimited: outcome === "rate-limited" ? spent : 0 }, settings, () => 0).action, action);
    });
  }

  it("waits PULL_BACKOFF_BASE·2^(n−1), capped at PULL_BACKOFF_MAX, for transient failures", () => {
    const delays = [1, 2, 3, 4].map((spent) => decide("transient", { spent, rateLimited: 0 }, settings, () => 0));
    assert.deepEqual(delays, [2000, 4000, 8000, 12_000].map((delayMs) => ({ action: "retry", delayMs, reason: "backoff" })));
  });

  it("with the defaults, five attempts span 26–28.6 s whatever the jitter draws", () => {
    // The promise behind the defaults: an image-specific fault of 25 s is outlasted (the fifth
    // attempt never starts before 26 s) and the image is not left waiting long after it ends.
    const span = (r: number) => [1, 2, 3, 4].reduce((sum, spent) => {
      const d = decide("transient", { spent, rateLimited: 0 }, settings, () => r);
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
    const d = decide("rate-limited", { spent: 1, rateLimited: 1 }, settings, () => 0);
    assert.deepEqual(d, { action: "retry", delayMs: 30_000, reason: "rate-limit" });
    const second = decide("rate-limited", { spent: 2, rateLimited: 2 }, settings, () => 0);
    assert.deepEqual(second, { action: "retry", delayMs: 60_000, reason: "rate-limit" });
  });
});

describe("settings", () => {
  it("has the documented defaults", () => {
    assert.deepEqual(defaults(), {
      retries: 5,
      backoffBaseMs: 2000,
      backoffMaxMs: 12_000,
      timeoutMs: 300_000,
      parallel: 8,
      rateLimitBackoffMs: 30_000,
      stallTimeoutMs: 60_000,
      deadlineMs: 900_000,
      pullPolicy: "missing",
    });
  });

  it("reads PULL_* variables, and flags override them", () => {
    const s = resolveSettings({ PULL_RETRIES: "3", PULL_BACKOFF_BASE: "0.5", PULL_PARALLEL: "2", PULL_SEED: "9", PULL_POLICY: "always" }, { parallel: "4" });
    assert.ok(s.ok);
    assert.equal(s.value.retries, 3);
    assert.equal(s.value.backoffBaseMs, 500);
    assert.equal(s.value.parallel, 4);
    assert.equal(s.value.seed, 9);
    assert.equal(s.value.pullPolicy, "always");
  });

  it("accepts a deadline past Node's timer limit (the clock chains timers for it)", () => {
    const s = resolveSettings({ PULL_DEADLINE: "2147484" });
    assert.ok(s.ok);
    assert.equal(s.value.deadlineMs, 2_147_484_000);
  });

  it("treats an empty variable as unset", () => {
    const s = resolveSettings({ PULL_RETRIES: "" });
    assert.ok(s.ok);
    assert.equal(s.value.retries, 5);
  });

  const bad: Array<[Record<string, string>, Record<string, string>, string, RegExp]> = [
    [{ PULL_RETRIES: "abc" }, {}, "PULL_RETRIES", /PULL_RETRIES="abc" is not a whole number/],
    [{ PULL_RETRIES: "-1" }, {}, "PULL_RETRIES", /not a whole number/],
    [{ PULL_RETRIES: "0" }, {}, "PULL_RETRIES", /below the minimum 1/],
    [{ PULL_RETRIES: "2.5" }, {}, "PULL_RETRIES", /not a whole number/],
    [{ PULL_BACKOFF_BASE: "-3" }, {}, "PULL_BACKOFF_BASE", /not a number of seconds/],
    [{ PULL_BACKOFF_BASE: "1e3" }, {}, "PULL_BACKOFF_BASE", /not a number of seconds/],
    [{ PULL_TIMEOUT: "0" }, {}, "PULL_TIMEOUT", /below the minimum/],
    [{ PULL_PARALLEL: "eight" }, {}, "PULL_PARALLEL", /PULL_PARALLEL="eight"/],
    [{}, { parallel: "x" }, "--parallel", /--parallel="x"/],
    [{ PULL_SEED: "seed" }, {}, "PULL_SEED", /PULL_SEED/],
    [{ PULL_POLICY: "never" }, {}, "PULL_POLICY", /"always" or "missing"/],
    [{ PULL_BACKOFF_BASE: "10", PULL_BACKOFF_MAX: "5" }, {}, "PULL_BACKOFF_MAX", /below PULL_BACKOFF_BASE/],
    // 400 digits are Infinity as a number: the JSON report would write null.
    [{ PULL_DEADLINE: "9".repeat(400) }, {}, "PULL_DEADLINE", /too large/],
    [{ PULL_RETRIES: "9".repeat(20) }, {}, "PULL_RETRIES", /too large/],
  ];
  for (const [env, flags, source, message] of bad) {
    it(`rejects ${JSON.stringify({ ...env, ...flags })}, naming ${source}`, () => {
      const s = resolveSettings(env, flags);
      assert.equal(s.ok, false);
      if (s.ok) return;
      assert.equal(s.error.source, source);
      assert.match(s.error.message, message);
    });
  }
});
