import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { planQuota } from "../../src/policy/quota-plan.js";

const images = ["a", "b", "c", "d", "e"];

describe("quota plan", () => {
  it("lets everything go when the quota covers the batch, or when the registry reports none", () => {
    assert.deepEqual(planQuota(images, { limit: 100, remaining: 5, windowSeconds: 21600 }, "fit"), { notPulled: [], short: 0 });
    assert.deepEqual(planQuota(images, undefined, "fit"), { notPulled: [], short: 0 });
    assert.deepEqual(planQuota(images, { limit: 100 }, "fit"), { notPulled: [], short: 0 });
  });

  it("fit: pulls the first images that fit, in batch order, and names the rest", () => {
    assert.deepEqual(planQuota(images, { limit: 100, remaining: 2 }, "fit"), { notPulled: ["c", "d", "e"], short: 3 });
    assert.deepEqual(planQuota(images, { limit: 100, remaining: 0 }, "fit"), { notPulled: images, short: 5 });
  });

  it("all: says how many pulls are missing but pulls everything", () => {
    assert.deepEqual(planQuota(images, { limit: 100, remaining: 2 }, "all"), { notPulled: [], short: 3 });
  });
});
