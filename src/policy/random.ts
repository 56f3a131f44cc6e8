// Seeded uniform random numbers, so jitter is reproducible with --seed and exact in tests.
import type { Random } from "../types.js";

/** mulberry32: tiny, fast, and good enough to spread retries; not for cryptography. */
export function seededRandom(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
