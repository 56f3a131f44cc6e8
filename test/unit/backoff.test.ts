import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { backoffDelay, nominalDelay } from "../../src/policy/backoff.js";
import { seededRandom } from "../../src/policy/random.js";

describe("backoff", () => {
  it("doubles the base each retry and stops at the cap", () => {
    const options = { baseMs: 2000, maxMs: 30_000, jitter: 0.25 };
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6, 60].map((n) => nominalDelay(n, options)),
      [2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000],
    );
  });

  it("adds between 0 and 25% jitter, never subtracts", () => {
    const options = { baseMs: 1000, maxMs: 30_000, jitter: 0.25 };
    assert.equal(
      backoffDelay(1, options, () => 0),
      1000,
    );
    assert.equal(
      backoffDelay(1, options, () => 0.999999),
      1250,
    );
    assert.equal(
      backoffDelay(3, options, () => 0.5),
      4500,
    );
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
    assert.deepEqual(
      schedule(42),
      [1, 2, 3, 4].map((n, i) => Math.round(nominalDelay(n, options) * (1 + 0.25 * (draws[i] ?? 0)))),
    );
  });

  it("seededRandom stays in [0, 1) and is not constant", () => {
    const random = seededRandom(7);
    const values = Array.from({ length: 1000 }, random);
    assert.ok(values.every((v) => v >= 0 && v < 1));
    assert.ok(new Set(values).size > 990);
  });
});
