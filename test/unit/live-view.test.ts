import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { applyEvent, initialView, renderView } from "../../src/report/live-view.js";
import type { PullEvent } from "../../src/types.js";

const REGISTRY = "127.0.0.1:5000";
const A = `${REGISTRY}/a:1`;
const B = `${REGISTRY}/b:1`;
const C = `${REGISTRY}/c:1`;
const OTHER = "ghcr.io/org/d:1";
const E500 = "received unexpected HTTP status: 500 Internal Server Error";

const fold = (events: PullEvent[], images = [A, B]) => events.reduce(applyEvent, initialView(images, 5));
/** The image lines: everything under the aggregate line. */
const imageLines = (view: ReturnType<typeof fold>, now: number) => renderView(view, now, 200).slice(1);
const started = (image: string, at = 0, attempt = 1): Extract<PullEvent, { type: "attempt-started" }> => ({
  type: "attempt-started",
  at,
  image,
  attempt,
  maxAttempts: 5,
});
const failed = (image: string, at: number, absorbed = false): Extract<PullEvent, { type: "attempt-failed" }> => ({
  type: "attempt-failed",
  at,
  image,
  attempt: 1,
  class: "transient",
  message: E500,
  durationMs: 10,
  ...(absorbed ? { absorbed } : {}),
});

describe("live view: one line per image", () => {
  it("shows the state, bytes, attempt and the backoff countdown", () => {
    const view = fold([
      started(A),
      { type: "progress", at: 10, image: A, bytes: 1_500_000, total: 3_000_000, phase: "downloading" },
      started(B),
      failed(B, 100),
      { type: "waiting", at: 100, image: B, delayMs: 2000, reason: "backoff" },
    ]);
    const lines = imageLines(view, 600);
    assert.equal(lines.length, 2);
    assert.match(lines[0] ?? "", /^downloading +127\.0\.0\.1:5000\/a:1 +1\.5 MB\/3\.0 MB {2}attempt 1\/5$/);
    assert.match(lines[1] ?? "", /^retry in 1\.5s +127\.0\.0\.1:5000\/b:1 +attempt 1\/5 {2}transient: received unexpected HTTP status: 500/);
  });

  it("names each phase of an attempt: waiting for a slot, resolving, downloading, extracting", () => {
    const status = (events: PullEvent[]) => (imageLines(fold(events, [A]), 50)[0] ?? "").split(/ {2,}/)[0];
    assert.equal(status([]), "waiting for slot");
    assert.equal(status([started(A)]), "resolving");
    assert.equal(status([started(A), { type: "progress", at: 1, image: A, bytes: 0, status: "Pulling from a", phase: "resolving" }]), "resolving");
    assert.equal(status([started(A), { type: "progress", at: 1, image: A, bytes: 5, total: 10, phase: "downloading" }]), "downloading");
    // Every byte is in and the engine unpacks: not "pulling" at 11.2 MB/11.2 MB.
    const extracting = fold(
      [started(A), { type: "progress", at: 1, image: A, bytes: 11_200_000, total: 11_200_000, status: "Extracting", phase: "extracting" }],
      [A],
    );
    assert.match(imageLines(extracting, 50)[0] ?? "", /^extracting +\S+ +11\.2 MB\/11\.2 MB {2}attempt 1\/5$/);
    // An engine that does not tell the phase: downloading once it reports progress.
    assert.equal(status([started(A), { type: "progress", at: 1, image: A, bytes: 5 }]), "downloading");
    // A new attempt starts over at resolving.
    assert.equal(status([started(A), { type: "progress", at: 1, image: A, bytes: 5, phase: "extracting" }, failed(A, 2), started(A, 3, 2)]), "resolving");
  });

  it("never shows 'retry in 0ms': a countdown rounds up, and a finished wait queues for a slot", () => {
    const view = fold([started(A), failed(A, 0), { type: "waiting", at: 0, image: A, delayMs: 1000, reason: "backoff" }], [A]);
    assert.match(imageLines(view, 999.6)[0] ?? "", /^retry in 100ms /);
    for (const now of [1000, 1000.4, 5000]) {
      const line = imageLines(view, now)[0] ?? "";
      assert.match(line, /^waiting for slot /, line);
      assert.doesNotMatch(line, /retry in/);
    }
  });

  it("shows a rate limit with the time it ends", () => {
    const at = new Date(2026, 0, 2, 14, 3, 0).getTime();
    const view = fold(
      [
        started(A, at),
        { ...failed(A, at), class: "rate-limited", message: "toomanyrequests" },
        { type: "waiting", at, image: A, delayMs: 30_000, reason: "rate-limit" },
      ],
      [A],
    );
    assert.match(imageLines(view, at + 2000)[0] ?? "", /^rate-limited +\S+ +until 14:03:30 \(28\.0s\) {2}attempt 1\/5 {2}rate-limited: toomanyrequests$/);
    assert.match(imageLines(view, at + 31_000)[0] ?? "", /^waiting for slot /);
  });

  it("puts an image behind its registry's closed gate with the probe's countdown, then in flight", () => {
    let view = fold(
      [started(A), started(B), failed(A, 100), { type: "waiting", at: 100, image: A, delayMs: 500, reason: "backoff" }, failed(B, 200, true)],
      [A, B, OTHER],
    );
    view = applyEvent(view, { type: "gate-closed", at: 200, registry: REGISTRY, reason: "2 repositories failed", nextProbeAt: 1200 });
    const closed = imageLines(view, 300);
    // A's backoff is still running; B waits for the gate; the other registry's image is unaffected.
    assert.match(closed[0] ?? "", /^retry in 300ms /);
    assert.match(closed[1] ?? "", /^gate closed +127\.0\.0\.1:5000\/b:1 +probe in 900ms {2}attempt 1\/5 {2}transient: /);
    assert.match(closed[2] ?? "", /^waiting for slot +ghcr\.io\/org\/d:1 *$/);
    assert.equal(closed[3], `registry ${REGISTRY} is down: gate closed for 100ms, probe in 900ms`);
    // Once its backoff is over, A waits for the gate too.
    assert.match(imageLines(view, 700)[0] ?? "", /^gate closed +127\.0\.0\.1:5000\/a:1 +probe in 500ms /);

    view = applyEvent(view, { type: "gate-probe", at: 1200, registry: REGISTRY, image: B, probe: 1 });
    view = applyEvent(view, { ...started(B, 1200, 1), probe: true });
    const probing = imageLines(view, 1300);
    assert.match(probing[0] ?? "", /^gate closed +127\.0\.0\.1:5000\/a:1 +probe 1 in flight /);
    assert.match(probing[1] ?? "", /^resolving +127\.0\.0\.1:5000\/b:1 +attempt 1\/5 {2}gate probe$/);
    assert.equal(probing[3], `registry ${REGISTRY} is down: gate closed for 1.1s, probe 1 in flight`);

    // The probe fails: the gate closes again, still counted from the first closing.
    view = applyEvent(view, { type: "gate-closed", at: 1400, registry: REGISTRY, reason: "probe 1 failed", nextProbeAt: 3400 });
    assert.equal(imageLines(view, 1500)[3], `registry ${REGISTRY} is down: gate closed for 1.3s, probe in 1.9s`);

    view = applyEvent(view, { type: "gate-opened", at: 3500, registry: REGISTRY, released: 1, closedMs: 3300 });
    const open = imageLines(view, 3600);
    assert.equal(open.length, 3);
    assert.match(open[0] ?? "", /^waiting for slot +127\.0\.0\.1:5000\/a:1 /);
  });

  it("ends each line in its final state", () => {
    const view = fold(
      [
        { type: "pulled", at: 900, image: A, attempt: 1, durationMs: 900, bytes: 2000 },
        { type: "skipped", at: 100, image: B, message: "no matching manifest for linux/amd64 in the manifest list entries" },
        { type: "failed", at: 100, image: C, class: "permanent", message: "manifest unknown", attempts: 1 },
      ],
      [A, B, C],
    );
    const lines = imageLines(view, 3000);
    assert.match(lines[0] ?? "", /^pulled +127\.0\.0\.1:5000\/a:1 +2\.0 kB {2}in 900ms$/);
    assert.match(lines[1] ?? "", /^skipped +127\.0\.0\.1:5000\/b:1 +no matching manifest/);
    assert.match(lines[2] ?? "", /^FAILED +127\.0\.0\.1:5000\/c:1 +permanent: manifest unknown$/);
  });
});

describe("live view: the aggregate line", () => {
  it("counts images done, bytes done against the known total, the elapsed time and a rough time left", () => {
    const view = (
      [
        { type: "pulled", at: 4000, image: A, attempt: 1, durationMs: 4000, bytes: 4_000_000 },
        started(B),
        { type: "progress", at: 4000, image: B, bytes: 1_000_000, total: 3_000_000, phase: "downloading" },
        started(C),
      ] satisfies PullEvent[]
    ).reduce(applyEvent, initialView([A, B, C], 5, -1000));
    // 5 MB of 7 MB known in 5 s: 2 MB more at 1 MB/s; 1 of 3 images in 5 s: 10 s more. The longest wins.
    assert.equal(renderView(view, 4000, 200)[0], "[+] 1/3 images done  5.0 MB/7.0 MB  5.0s elapsed  about 10.0s left");
  });

  it("counts a scheduled wait as time left, and says the time left is unknown while a registry is down", () => {
    const waiting = fold([started(A), failed(A, 0), { type: "waiting", at: 0, image: A, delayMs: 12_000, reason: "backoff" }], [A]);
    assert.equal(renderView(waiting, 2000, 200)[0], "[+] 0/1 images done  2.0s elapsed  about 10.0s left");
    const down = applyEvent(waiting, { type: "gate-closed", at: 1, registry: REGISTRY, reason: "r", nextProbeAt: 1001 });
    assert.equal(renderView(down, 2000, 200)[0], "[+] 0/1 images done  2.0s elapsed  time left unknown: a registry is down");
    assert.equal(renderView(fold([started(A)], [A]), 0, 200)[0], "[+] 0/1 images done  0ms elapsed");
  });

  it("counts failures among the images done, and drops the time left at the end", () => {
    const view = fold([
      { type: "pulled", at: 900, image: A, attempt: 1, durationMs: 900, bytes: 2000 },
      { type: "failed", at: 950, image: B, class: "permanent", message: "manifest unknown", attempts: 1 },
    ]);
    assert.equal(renderView(view, 1000, 200)[0], "[+] 2/2 images done (1 failed)  2.0 kB/2.0 kB  1.0s elapsed");
  });
});

describe("live view: fitting the screen", () => {
  it("cuts lines to the terminal width so a redraw never wraps", () => {
    const lines = renderView(fold([]), 0, 30);
    assert.ok(lines.every((l) => l.length <= 30));
    assert.ok(lines.slice(1).every((l) => l.endsWith("…")));
  });

  it("folds finished images into one line when the batch is taller than the screen", () => {
    const view = fold([{ type: "pulled", at: 1, image: A, attempt: 1, durationMs: 1, bytes: 1 }, started(B, 1)], [A, B, C]);
    const lines = renderView(view, 2, 200, 3);
    assert.equal(lines.length, 3);
    assert.match(lines[0] ?? "", /^\[\+\] 1\/3 images done/);
    assert.match(lines[1] ?? "", /^resolving +127\.0\.0\.1:5000\/b:1/);
    assert.equal(lines[2], "… 1 finished, 1 more not shown (the summary lists every image)");
    assert.equal(renderView(view, 2, 200, 4).length, 4);
  });
});
