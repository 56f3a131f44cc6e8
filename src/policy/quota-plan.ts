// The quota plan: when a registry's pull quota (Docker Hub's ratelimit headers, read for free by
// the preflight HEADs) cannot cover what the batch needs from it, say so before pulling and decide
// which images go. Pure: the images come in batch order, the quota as the registry reported it.
import type { RegistryQuota } from "../types.js";

export interface QuotaPlan {
  /** Images (canonical) that will not be pulled, in batch order; empty when the quota suffices or the plan is "all". */
  readonly notPulled: readonly string[];
  /** Pulls the batch needs beyond what is left; 0 when it fits. */
  readonly short: number;
}

/**
 * One pull per image that is not already present: a Docker Hub "pull" is one manifest GET by the
 * engine (up to two for a multi-platform index count once). "fit" pulls the first `remaining`
 * images in batch order and leaves the rest, so the quota does not run out in the middle of a pull
 * and every image gets a clear answer at once; "all" tries every image anyway.
 */
export function planQuota(needed: readonly string[], quota: RegistryQuota | undefined, plan: "fit" | "all"): QuotaPlan {
  const remaining = quota?.remaining;
  if (remaining === undefined || needed.length <= remaining) return { notPulled: [], short: 0 };
  const short = needed.length - remaining;
  return { notPulled: plan === "fit" ? needed.slice(remaining) : [], short };
}

/** "2 of 100 pulls left per 6 h for 198.51.100.9": the quota as every output says it. */
export function describeQuota(quota: RegistryQuota): string {
  const window = quota.windowSeconds !== undefined ? ` per ${formatWindow(quota.windowSeconds)}` : "";
  const left = quota.remaining !== undefined ? `${quota.remaining} of ${quota.limit} pulls left` : `${quota.limit} pulls`;
  return `${left}${window}${quota.source ? ` for ${quota.source}` : ""}`;
}

function formatWindow(seconds: number): string {
  return seconds % 3600 === 0 ? `${seconds / 3600} h` : seconds % 60 === 0 ? `${seconds / 60} min` : `${seconds} s`;
}
