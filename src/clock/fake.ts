// A clock for tests: time stands still until the test moves it, so backoff schedules and probe
// times are asserted exactly and an hour-long outage replays in milliseconds.
import type { Clock } from "../types.js";

interface Timer {
  readonly at: number;
  readonly seq: number;
  readonly resolve: () => void;
}

const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

export class FakeClock implements Clock {
  #now: number;
  #seq = 0;
  #timers: Timer[] = [];
  /** Every sleep requested, in order: [time it was requested, duration]. */
  readonly sleeps: Array<readonly [at: number, ms: number]> = [];

  constructor(start = 0) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    this.sleeps.push([this.#now, ms]);
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const timer: Timer = {
        at: this.#now + Math.max(0, ms),
        seq: this.#seq++,
        resolve: () => {
          signal?.removeEventListener("abort", onAbort);
          resolve();
        },
      };
      const onAbort = () => {
        this.#timers = this.#timers.filter((t) => t !== timer);
        reject(signal?.reason);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#timers.push(timer);
    });
  }

  /** Number of sleeps not yet due. */
  get pending(): number {
    return this.#timers.length;
  }

  /** Moves time forward by ms, firing due timers in order and letting the code they wake run. */
  async advance(ms: number): Promise<void> {
    const target = this.#now + ms;
    await settle();
    for (;;) {
      const next = this.#earliest();
      if (!next || next.at > target) break;
      this.#fire(next);
      await settle();
    }
    this.#now = target;
    await settle();
  }

  /**
   * Runs until `done` settles, jumping straight to the next timer whenever the code under test is
   * idle. Fails when nothing is pending and `done` still has not settled (a deadlock), or when
   * more than `limitMs` of fake time would pass.
   */
  async run<T>(done: Promise<T>, limitMs = 24 * 3600_000): Promise<T> {
    let finished = false;
    const watched = done.finally(() => {
      finished = true;
    });
    watched.catch(() => undefined);
    const start = this.#now;
    for (;;) {
      for (let i = 0; i < 5 && !finished; i++) await settle();
      if (finished) return watched;
      const next = this.#earliest();
      if (!next) throw new Error(`FakeClock.run: nothing pending at t=${this.#now} and the promise has not settled`);
      if (next.at - start > limitMs) throw new Error(`FakeClock.run: exceeded ${limitMs} ms of fake time`);
      this.#fire(next);
    }
  }

  #earliest(): Timer | undefined {
    let best: Timer | undefined;
    for (const t of this.#timers) if (!best || t.at < best.at || (t.at === best.at && t.seq < best.seq)) best = t;
    return best;
  }

  #fire(timer: Timer): void {
    this.#timers = this.#timers.filter((t) => t !== timer);
    this.#now = Math.max(this.#now, timer.at);
    timer.resolve();
  }
}
