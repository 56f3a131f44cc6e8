// The progress watchdog of one attempt. The daemon has no read timeout on manifests or blobs: a
// stalled registry leaves the pull stream silent, or keeps it chatty with "Waiting" and
// "Retrying in N seconds" lines while no byte arrives. So progress means downloaded bytes, and
// nothing else. The watchdog sleeps on the injected clock exactly until its next deadline (the
// stall deadline or the hard cap, whichever comes first), wakes, and looks again: no polling.
import type { Clock } from "../types.js";

export type WatchVerdict =
  /** No byte arrived for idleMs (>= stallTimeoutMs). layer: where the bytes last moved, else the layer seen last. */
  | { readonly kind: "stalled"; readonly idleMs: number; readonly layer?: string; readonly lastStatus?: string }
  /** The attempt reached timeoutMs, even though it was still progressing. */
  | { readonly kind: "timeout" }
  /** stop() was called, or the signal aborted, before either. */
  | { readonly kind: "stopped" };

export interface AttemptWatch {
  /** One line of the pull stream. Only an increase of the cumulative bytes counts as progress. */
  progress(p: { bytes: number; layer?: string; status?: string }): void;
  /** Ends the watch; the verdict becomes "stopped" unless it was already given. Idempotent. */
  stop(): void;
  readonly verdict: Promise<WatchVerdict>;
  /** Clock time of the last byte increase (the start of the attempt until the first byte). */
  readonly lastProgressAt: number;
  /** Highest cumulative byte count seen. */
  readonly bytes: number;
  /** The latest status line, e.g. "Waiting" (for engineWedged). */
  readonly lastStatus: string | undefined;
}

export interface WatchOptions {
  readonly clock: Clock;
  /** No byte for this long → "stalled". A request still waiting for response headers has made no progress. Infinity disables it. */
  readonly stallTimeoutMs: number;
  /** Hard cap on the attempt → "timeout", even while bytes still flow. Infinity disables it. */
  readonly timeoutMs: number;
  /** Aborting it stops the watch ("stopped"). */
  readonly signal?: AbortSignal;
}

export function watchAttempt(options: WatchOptions): AttemptWatch {
  const { clock, stallTimeoutMs, timeoutMs, signal } = options;
  for (const [name, value] of [
    ["stallTimeoutMs", stallTimeoutMs],
    ["timeoutMs", timeoutMs],
  ] as const) {
    if (!(typeof value === "number" && value > 0))
      throw new RangeError(`watchAttempt option ${name} must be a positive number of milliseconds (or Infinity), got ${String(value)}`);
  }
  const startedAt = clock.now();
  let lastProgressAt = startedAt;
  let bytes = 0;
  let progressLayer: string | undefined;
  let lineLayer: string | undefined;
  let lastStatus: string | undefined;
  let done = false;
  const wake = new AbortController();
  const stop = () => {
    if (done) return;
    done = true;
    wake.abort();
  };
  const stopped = new Promise<void>((resolve) => wake.signal.addEventListener("abort", () => resolve(), { once: true }));

  const verdict = (async (): Promise<WatchVerdict> => {
    try {
      for (;;) {
        if (done) return { kind: "stopped" };
        const now = clock.now();
        const stallAt = lastProgressAt + stallTimeoutMs;
        const capAt = startedAt + timeoutMs;
        // Checked first: when both are due, "stalled" says more (it names the layer).
        if (now >= stallAt) {
          done = true;
          const layer = progressLayer ?? lineLayer;
          return {
            kind: "stalled",
            idleMs: now - lastProgressAt,
            ...(layer !== undefined ? { layer } : {}),
            ...(lastStatus !== undefined ? { lastStatus } : {}),
          };
        }
        if (now >= capAt) {
          done = true;
          return { kind: "timeout" };
        }
        const next = Math.min(stallAt, capAt);
        if (Number.isFinite(next)) await clock.sleep(next - now, wake.signal);
        else await stopped;
      }
    } catch {
      // Only the sleep rejects, and only when stop() or the signal woke it.
      return { kind: "stopped" };
    } finally {
      signal?.removeEventListener("abort", stop);
    }
  })();

  if (signal?.aborted) stop();
  else signal?.addEventListener("abort", stop, { once: true });

  return {
    verdict,
    stop,
    get lastProgressAt() {
      return lastProgressAt;
    },
    get bytes() {
      return bytes;
    },
    get lastStatus() {
      return lastStatus;
    },
    progress(p) {
      if (done) return;
      if (p.status !== undefined) lastStatus = p.status;
      if (p.layer !== undefined) lineLayer = p.layer;
      if (p.bytes > bytes) {
        bytes = p.bytes;
        lastProgressAt = clock.now();
        progressLayer = p.layer ?? progressLayer;
      }
    },
  };
}

/** Pulls that must all be stuck at "Waiting" before the engine counts as wedged. */
export const WEDGE_MIN_PULLS = 2;

/**
 * True when the engine looks wedged: at least `minPulls` pulls are in flight, and every one of them
 * has downloaded nothing for windowMs while its latest status is "Waiting" — its layers wait for
 * download slots that stalled registry connections still hold (cancelling a pull does not close
 * them). One pull alone is not enough: its own stalled layers may be what holds the slots, and
 * the stall watchdog already reports that.
 */
export function engineWedged(
  inFlight: ReadonlyArray<{ readonly image: string; readonly lastProgressAt: number; readonly status?: string }>,
  now: number,
  windowMs: number,
  minPulls = WEDGE_MIN_PULLS,
): boolean {
  return inFlight.length >= minPulls && inFlight.every((p) => now - p.lastProgressAt >= windowMs && isWaiting(p.status));
}

/**
 * Layers queued for a download slot show "Waiting"; a layer whose download request never got an
 * answer is still at "Pulling fs layer" (observed on dockerd 20.10 with a stalled blob request).
 */
function isWaiting(status: string | undefined): boolean {
  const s = status?.trim().toLowerCase();
  return s !== undefined && (s.startsWith("waiting") || s === "pulling fs layer");
}

/** How the scheduler gets a watch for each attempt (tests pass one that never fires). */
export type WatchAttempt = (options: WatchOptions) => AttemptWatch;
