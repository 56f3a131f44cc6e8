import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DEFAULT_BUDGET_OPTIONS, createRetryBudget } from "../../src/policy/budget.js";

describe("retry budget", () => {
  it("defaults: 50 tokens, a retry costs 5, a success refunds 1", () => {
    assert.deepEqual(DEFAULT_BUDGET_OPTIONS, { capacity: 50, retryCost: 5, successRefund: 1 });
    const b = createRetryBudget();
    assert.equal(b.available, 50);
    assert.equal(b.capacity, 50);
    assert.equal(b.retriesLeft, 10);
  });

  it("pays for exactly 10 retries from a full bucket, then refuses without taking anything", () => {
    const b = createRetryBudget();
    const granted = Array.from({ length: 12 }, () => b.tryAcquire());
    assert.deepEqual(granted, [...Array<boolean>(10).fill(true), false, false]);
    assert.equal(b.available, 0);
    assert.equal(b.retriesLeft, 0);
  });

  it("earns one retry back per 5 successes", () => {
    const b = createRetryBudget();
    while (b.tryAcquire());
    for (let i = 0; i < 4; i++) b.onSuccess();
    assert.equal(b.available, 4);
    assert.equal(b.tryAcquire(), false);
    assert.equal(b.available, 4, "a refused retry takes nothing");
    b.onSuccess();
    assert.equal(b.available, 5);
    assert.equal(b.tryAcquire(), true);
    assert.equal(b.available, 0);
  });

  it("never refunds beyond capacity", () => {
    const b = createRetryBudget();
    b.tryAcquire();
    for (let i = 0; i < 100; i++) b.onSuccess();
    assert.equal(b.available, 50);
  });

  it("keeps retries to a bounded share of traffic: 100 successes and endless failures buy 10 + 20 retries", () => {
    const b = createRetryBudget();
    let retries = 0;
    while (b.tryAcquire()) retries++;
    for (let i = 0; i < 100; i++) {
      b.onSuccess();
      while (b.tryAcquire()) retries++;
    }
    assert.equal(retries, 10 + 20);
  });

  it("takes its numbers as options and rejects bad ones, naming them", () => {
    const b = createRetryBudget({ capacity: 3, retryCost: 2, successRefund: 1 });
    assert.equal(b.tryAcquire(), true);
    assert.equal(b.tryAcquire(), false);
    assert.equal(b.available, 1);
    assert.throws(() => createRetryBudget({ capacity: 0 }), /budget option capacity .* got 0/);
    assert.throws(() => createRetryBudget({ retryCost: 0.5 }), /budget option retryCost .* got 0.5/);
    assert.throws(() => createRetryBudget({ capacity: 4, retryCost: 5 }), /retryCost \(5\) must not exceed capacity \(4\)/);
  });
});
