import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { attemptLabel, describeEvent, formatLogLine } from "../../src/report/log-lines.js";
import type { PullEvent } from "../../src/types.js";

const image = "127.0.0.1:5000/app:1";

describe("log lines", () => {
  const cases: Array<[PullEvent, string]> = [
    [{ type: "attempt-started", at: 0, image, attempt: 2, maxAttempts: 5 }, `attempt 2/5 ${image}`],
    [{ type: "attempt-started", at: 0, image, attempt: 2, maxAttempts: 5, probe: true }, `attempt 2/5 ${image} (gate probe)`],
    [
      {
        type: "attempt-failed",
        at: 0,
        image,
        attempt: 1,
        class: "transient",
        message: "received unexpected HTTP status: 500 Internal Server Error",
        durationMs: 420,
      },
      `attempt 1 of ${image} failed after 420ms [transient]: received unexpected HTTP status: 500 Internal Server Error`,
    ],
    [
      { type: "attempt-failed", at: 0, image, attempt: 1, class: "transient", message: "EOF", durationMs: 1500, absorbed: true },
      `attempt 1 of ${image} failed after 1.5s [transient] (absorbed by the closed gate: no attempt spent): EOF`,
    ],
    [{ type: "waiting", at: 0, image, delayMs: 2100, reason: "backoff" }, `${image} waits 2.1s before retrying`],
    [{ type: "waiting", at: 0, image, delayMs: 30_000, reason: "rate-limit" }, `rate-limited: ${image} waits 30.0s before retrying`],
    [{ type: "pulled", at: 0, image, attempt: 1, durationMs: 3100, bytes: 72_100_000 }, `pulled ${image} in 3.1s (72.1 MB, attempt 1)`],
    [
      { type: "failed", at: 0, image, class: "permanent", message: "manifest unknown", attempts: 1 },
      `FAILED ${image} after 1 attempt [permanent]: manifest unknown`,
    ],
    [
      { type: "gate-closed", at: 0, registry: "ghcr.io", reason: "transient failures on 2 repositories" },
      "registry ghcr.io looks down (transient failures on 2 repositories): gate closed, one probe at a time until it answers",
    ],
    [{ type: "gate-closed", at: 0, registry: "ghcr.io", reason: "probe 3 failed: HTTP 503" }, "registry ghcr.io: probe 3 failed: HTTP 503; gate stays closed"],
    [
      { type: "gate-opened", at: 0, registry: "ghcr.io", released: 1, closedMs: 12_000 },
      "registry ghcr.io answers again after 12.0s: gate open, 1 waiting pull released",
    ],
  ];
  for (const [event, line] of cases) {
    it(`${event.type}: ${line.slice(0, 50)}`, () => assert.equal(describeEvent(event, "normal"), line));
  }

  it("--quiet keeps only failures and the wedge; --verbose adds the engine's status changes, not byte counters", () => {
    const failed = cases.find(([e]) => e.type === "failed")?.[0] as PullEvent;
    assert.deepEqual(
      cases.map(([e]) => describeEvent(e, "quiet")).filter((l) => l !== undefined),
      [describeEvent(failed, "normal")],
    );
    const progress = (status: string): PullEvent => ({ type: "progress", at: 0, image, bytes: 1, status, layer: "abc" });
    assert.equal(describeEvent(progress("Pull complete"), "normal"), undefined);
    assert.equal(describeEvent(progress("Pull complete"), "verbose"), `engine ${image}: abc: Pull complete`);
    assert.equal(describeEvent(progress("Downloading"), "verbose"), undefined);
  });

  it("stamps each line and folds an engine message onto it", () => {
    const line = formatLogLine(
      { type: "failed", at: 0, image, class: "transient", message: "bad\nthing\x1b[2J", attempts: 5 },
      "normal",
      new Date("2026-11-28T09:00:00.000Z"),
    );
    assert.equal(line?.startsWith("2026-11-28T09:00:00.000Z FAILED"), true);
    assert.equal(line?.includes("\n"), false);
    assert.equal(line?.includes("\x1b"), false);
  });
});

describe("attempt numbers", () => {
  it("count every attempt made, as the report does; past PULL_RETRIES the line says why", () => {
    assert.equal(attemptLabel(2, 5), "attempt 2/5");
    assert.equal(attemptLabel(5, 5), "attempt 5/5");
    assert.equal(attemptLabel(7, 5), "attempt 7 (the gate absorbed earlier failures; at most 5 count)");
  });
});
