// PULL_PARALLEL as a counting semaphore: FIFO, and a waiter that is aborted leaves the queue.

export interface Slots {
  acquire(signal?: AbortSignal): Promise<void>;
  release(): void;
  readonly inUse: number;
  /** The most slots ever held at once (tests assert it never exceeds the limit). */
  readonly highWater: number;
}

export function createSlots(limit: number): Slots {
  let inUse = 0;
  let highWater = 0;
  const waiters: Array<() => void> = [];
  const take = () => {
    inUse++;
    highWater = Math.max(highWater, inUse);
  };
  return {
    get inUse() {
      return inUse;
    },
    get highWater() {
      return highWater;
    },
    acquire(signal) {
      if (signal?.aborted) return Promise.reject(signal.reason);
      if (inUse < limit && waiters.length === 0) {
        take();
        return Promise.resolve();
      }
      return new Promise<void>((resolve, reject) => {
        const grant = () => {
          signal?.removeEventListener("abort", onAbort);
          take();
          resolve();
        };
        const onAbort = () => {
          const index = waiters.indexOf(grant);
          if (index >= 0) waiters.splice(index, 1);
          reject(signal?.reason);
        };
        signal?.addEventListener("abort", onAbort, { once: true });
        waiters.push(grant);
      });
    },
    release() {
      inUse--;
      const next = waiters.shift();
      if (next) next();
    },
  };
}
