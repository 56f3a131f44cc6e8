import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { applyEvent, initialView, renderView } from "../../src/report/live-view.js";
import type { PullEvent } from "../../src/types.js";

const A = "127.0.0.1:5000/a:1";
const B = "127.0.0.1:5000/b:1";
const C = "127.0.0.1:5000/c:1";

const fold = (events: PullEvent[], images = [A, B]) => events.reduce(applyEvent, initialView(images, 5));

describe("live view", () => {
  it("shows one line per image with state, bytes, attempt and the backoff countdown", () => {
    const view = fold([
      { type: "attempt-started", at: 0, image: A, attempt: 1, maxAttempts: 5 },
      { type: "progress", at: 10, image: A, bytes: 1_500_000, total: 3_000_000 },
      { type: "attempt-started", at: 0, image: B, attempt: 1, maxAttempts: 5 },
      { type: "attempt-failed", at: 100, image: B, attempt: 1, class: "transient", message: "received unexpected HTTP status: 500 Internal Server Error", durationMs: 100 },
      { type: "waiting", at: 100, image: B, delayMs: 2000, reason: "backoff" },
    ]);
    const lines = renderView(view, 600, 200);
    assert.equal(lines.length, 2);
    assert.match(lines[0] ?? "", /^pulling +127\.0\.0\.1:5000\/a:1 +1\.5 MB\/3\.0 MB {2}attempt 1\/5$/);
    assert.match(lines[1] ?? "", /^retry in 1\.5s +127\.0\.0\.1:5000\/b:1 +attempt 1\/5 {2}transient: received unexpected HTTP status: 500/);
  });

  it("ends each line in its final state and shows closed gates", () => {
    const view = fold([
      { type: "gate-closed", at: 0, registry: "127.0.0.1:5000", reason: "test" },
      { type: "pulled", at: 900, image: A, attempt: 1, durationMs: 900, bytes: 2000 },
      { type: "skipped", at: 100, image: B, message: "no matching manifest for linux/amd64 in the manifest list entries" },
    ]);
    const lines = renderView(view, 3000, 200);
    assert.match(lines[0] ?? "", /^pulled +127\.0\.0\.1:5000\/a:1 +2\.0 kB {2}in 900ms$/);
    assert.match(lines[1] ?? "", /^skipped +127\.0\.0\.1:5000\/b:1 +no matching manifest/);
    assert.equal(lines[2], "registry 127.0.0.1:5000 is down: gate closed for 3.0s, probing");
  });

  it("cuts lines to the terminal width so a redraw never wraps", () => {
    const lines = renderView(fold([]), 0, 30);
    assert.ok(lines.every((l) => l.length <= 30));
    assert.ok(lines[0]?.endsWith("…"));
  });

  it("folds finished images into one line when the batch is taller than the screen", () => {
    const view = fold([{ type: "pulled", at: 1, image: A, attempt: 1, durationMs: 1, bytes: 1 }, { type: "attempt-started", at: 1, image: B, attempt: 1, maxAttempts: 5 }], [A, B, C]);
    const lines = renderView(view, 2, 200, 2);
    assert.equal(lines.length, 2);
    assert.match(lines[0] ?? "", /^pulling +127\.0\.0\.1:5000\/b:1/);
    assert.equal(lines[1], "… 1 finished, 1 more not shown (the summary lists every image)");
    assert.equal(renderView(view, 2, 200, 3).length, 3);
  });
});
