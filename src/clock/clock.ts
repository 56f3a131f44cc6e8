// The real clock. Tests use FakeClock (fake.ts) instead; nothing in the core calls Date.now or setTimeout.
import type { Clock } from "../types.js";

/** Node fires a timer of 2^31 ms or more after 1 ms instead: longer waits are chained from timers this long. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

export interface TimerApi {
  readonly now: () => number;
  readonly setTimeout: (callback: () => void, ms: number) => unknown;
  readonly clearTimeout: (handle: unknown) => void;
}

const nodeTimers: TimerApi = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/**
 * A clock over real timers. A wait longer than `maxTimerMs` is a chain of timers, each at most
 * that long, re-aimed at the deadline every time, so PULL_DEADLINE=2147484 waits 24.9 days and
 * not 1 ms. The parameters exist for tests.
 */
export function createSystemClock(timers: TimerApi = nodeTimers, maxTimerMs: number = MAX_TIMER_MS): Clock {
  return {
    now: timers.now,
    sleep: (ms, signal) =>
      new Promise<void>((resolve, reject) => {
        if (signal?.aborted) return reject(signal.reason);
        const deadline = timers.now() + Math.max(0, ms);
        let handle: unknown;
        const onAbort = () => {
          timers.clearTimeout(handle);
          reject(signal?.reason);
        };
        const arm = () => {
          const left = deadline - timers.now();
          if (left > maxTimerMs) {
            handle = timers.setTimeout(arm, maxTimerMs);
            return;
          }
          handle = timers.setTimeout(
            () => {
              signal?.removeEventListener("abort", onAbort);
              resolve();
            },
            Math.max(0, left),
          );
        };
        arm();
        signal?.addEventListener("abort", onAbort, { once: true });
      }),
  };
}

export const systemClock: Clock = createSystemClock();
