import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { pulledList } from "../../src/report/pulled.js";
import { allPresent, interruptedBySigint, mixed, skippedPlatform } from "../fixtures/reports.js";

describe("pulledList", () => {
  it("lists pulled and present images in report order, leaving out skipped and failed ones", () => {
    assert.equal(pulledList(mixed), "docker.io/library/nginx:1.27\nghcr.io/acme/api:2.3.1\ndocker.io/library/redis:7\n");
  });

  it("lists present images on their own", () => {
    assert.equal(pulledList(allPresent), "docker.io/library/redis:7\n");
  });

  it("lists what was pulled before an interruption", () => {
    assert.equal(pulledList(interruptedBySigint), "docker.io/library/nginx:1.27\n");
  });

  it("is empty, without a newline, when nothing is on the engine", () => {
    assert.equal(pulledList(skippedPlatform), "");
  });
});
