import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseQuota, parseRateLimitValue } from "../../src/registry/quota.js";
import { bodyRetryAfterMs, classifyThrottle, parseGoDuration, parseHttpDate, parseRetryAfter, type ThrottleInput } from "../../src/registry/throttle.js";

const NOW = Date.UTC(2026, 11, 1, 12, 0, 0);

describe("Retry-After", () => {
  it("reads delay-seconds", () => {
    assert.equal(parseRetryAfter("8", NOW), 8_000);
    assert.equal(parseRetryAfter(" 0 ", NOW), 0);
    assert.equal(parseRetryAfter("1.5", NOW), 1_500);
  });

  it("reads the three HTTP-date forms, measured from now, and 0 for a past date", () => {
    assert.equal(parseRetryAfter("Tue, 01 Dec 2026 12:00:30 GMT", NOW), 30_000);
    assert.equal(parseRetryAfter("Tuesday, 01-Dec-26 12:01:00 GMT", NOW), 60_000);
    assert.equal(parseRetryAfter("Tue Dec  1 12:00:10 2026", NOW), 10_000, "asctime has no zone and means GMT");
    assert.equal(parseRetryAfter("Tue, 01 Dec 2026 11:00:00 GMT", NOW), 0);
  });

  it("ignores values that are neither", () => {
    for (const bad of ["", "-5", "soon", "8s", "1e3"]) assert.equal(parseRetryAfter(bad, NOW), undefined, bad);
    assert.equal(parseHttpDate("12345"), undefined);
  });
});

describe("Go durations in bodies (GHCR)", () => {
  it("parses compound durations and micro-second spellings", () => {
    assert.equal(parseGoDuration("1m30.5s"), 90_500);
    assert.ok(Math.abs((parseGoDuration("880.092µs") ?? -1) - 0.880092) < 1e-9);
    assert.equal(parseGoDuration("300ms"), 300);
    assert.equal(parseGoDuration("2h"), 7_200_000);
    assert.equal(parseGoDuration("5 s"), undefined);
  });

  it("finds the wait inside GHCR's message", () => {
    assert.equal(bodyRetryAfterMs('{"errors":[{"code":"TOOMANYREQUESTS","message":"retry-after: 2.5s, allowed: 44000/minute"}]}'), 2_500);
    assert.equal(bodyRetryAfterMs("no wait here"), undefined);
  });
});

describe("the throttle table", () => {
  const input = (over: Partial<ThrottleInput>): ThrottleInput => ({ status: 429, headers: {}, body: "", isDockerHub: false, wallNowMs: NOW, ...over });
  const HUB_QUOTA_BODY =
    '{"errors":[{"code":"TOOMANYREQUESTS","message":"You have reached your unauthenticated pull rate limit. https://www.docker.com/increase-rate-limit"}]}';

  const cases: Array<[string, Partial<ThrottleInput>, { kind: string; rule: string; retryAfterMs?: number }]> = [
    ["Hub quota by its long message", { isDockerHub: true, body: HUB_QUOTA_BODY }, { kind: "quota", rule: "hub-quota" }],
    [
      "Hub quota on a HEAD: no body, remaining 0",
      { isDockerHub: true, headers: { "ratelimit-limit": "100;w=21600", "ratelimit-remaining": "0;w=21600" } },
      { kind: "quota", rule: "hub-quota" },
    ],
    ["Hub bare 429 is the abuse limit", { isDockerHub: true, body: "Too Many Requests" }, { kind: "abuse", rule: "hub-abuse" }],
    ["Hub abuse with Retry-After", { isDockerHub: true, headers: { "retry-after": "5" } }, { kind: "abuse", rule: "hub-abuse", retryAfterMs: 5_000 }],
    [
      "GHCR wait in the body",
      { body: "toomanyrequests: retry-after: 880.092µs, allowed: 44000/minute" },
      { kind: "generic", rule: "ghcr-body-retry-after", retryAfterMs: 0.880092 },
    ],
    [
      "Quay's nginx HTML page",
      { headers: { "content-type": "text/html" }, body: "<html><head><title>429 Too Many Requests</title>" },
      { kind: "generic", rule: "html-page" },
    ],
    ["ECR", { body: '{"errors":[{"code":"TOOMANYREQUESTS","message":"Rate exceeded"}]}' }, { kind: "generic", rule: "ecr-rate-exceeded" }],
    ["mcr toomanyrequests", { body: '{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}' }, { kind: "generic", rule: "toomanyrequests" }],
    ["a bare 429 elsewhere", {}, { kind: "generic", rule: "status-429" }],
    [
      "the header wins over the body",
      { headers: { "retry-after": "3" }, body: "retry-after: 10s" },
      { kind: "generic", rule: "ghcr-body-retry-after", retryAfterMs: 3_000 },
    ],
    [
      "an HTTP-date is measured against the answer's Date header",
      { headers: { date: "Tue, 01 Dec 2026 13:00:00 GMT", "retry-after": "Tue, 01 Dec 2026 13:00:20 GMT" } },
      { kind: "generic", rule: "status-429", retryAfterMs: 20_000 },
    ],
  ];
  for (const [name, over, expected] of cases) {
    it(name, () => {
      const throttle = classifyThrottle(input(over));
      assert.deepEqual(
        { ...throttle, ...(throttle.retryAfterMs !== undefined ? { retryAfterMs: Math.round(throttle.retryAfterMs * 1e6) / 1e6 } : {}) },
        expected,
      );
    });
  }
});

describe("quota headers", () => {
  it("reads count and window", () => {
    assert.deepEqual(parseRateLimitValue("100;w=21600"), { count: 100, windowSeconds: 21600 });
    assert.deepEqual(parseRateLimitValue("100"), { count: 100 });
    assert.deepEqual(parseRateLimitValue("100;w=21600, 10;w=60"), { count: 100, windowSeconds: 21600 });
    assert.equal(parseRateLimitValue("lots"), undefined);
    assert.equal(parseRateLimitValue(undefined), undefined);
  });

  it("collects limit, remaining, window and source from a response", () => {
    const quota = parseQuota({ "ratelimit-limit": "100;w=21600", "ratelimit-remaining": "76;w=21600", "docker-ratelimit-source": "192.0.2.1" });
    assert.deepEqual(quota, { limit: 100, remaining: 76, windowSeconds: 21600, source: "192.0.2.1" });
  });

  it("says nothing when the registry does not limit (no headers) or sends garbage", () => {
    assert.equal(parseQuota({}), undefined);
    assert.equal(parseQuota({ "ratelimit-limit": "unlimited" }), undefined);
    assert.deepEqual(parseQuota({ "ratelimit-limit": "200" }), { limit: 200 });
  });
});
