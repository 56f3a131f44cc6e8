// The fault scenarios of issue 4's benchmark, as fault-proxy rules. Each window is timed from the
// moment its rules are added, which the bench does right before it spawns the puller.
import type { FaultProxy } from "../stack/fault-proxy.js";

export interface Scenario {
  readonly id: number;
  readonly name: string;
  readonly title: string;
  /** The fault window: from the puller's start until this many ms later. */
  readonly faultMs: number;
  /** Registry-wide trouble: the outage targets (≤ 1 attempt per 3 s, clean batch + 5 s) apply. */
  readonly registryWide: boolean;
  /** A part of the window that is a full outage, for the attempt-rate figures (default: all of it). */
  readonly outageMs?: number;
  /** Adds the rules for a batch of these repositories; returns a function that removes them. */
  install(proxy: FaultProxy, repositories: readonly string[]): () => void;
  /** A throttle: every answer in the window says Retry-After this many seconds (issue 8). */
  readonly retryAfterS?: number;
  /** Images of the batch that cannot be pulled at all (issue 8): no fault, a bad reference. */
  readonly broken?: { readonly notFound: readonly number[]; readonly platformMissing: readonly number[] };
}

/** Which 2 of the 20 images fail in scenario 1: one in prepull's first 8, one queued behind them. */
export const FAILING_INDEXES = [4, 13] as const;

/** Scenario 6: images asked for by a tag their repository does not have, and one arm64-only index. */
export const NOT_FOUND_INDEXES = [2, 11, 17] as const;
export const PLATFORM_MISSING_INDEXES = [7] as const;
/** The tag scenario 6 asks for instead of v1 (never pushed). */
export const MISSING_TAG = "no-such-tag";
/** The tag of scenario 6's arm64-only index. */
export const ARM_ONLY_TAG = "arm64-only";

const exactly = (names: readonly string[]): RegExp => new RegExp(`^(${names.map((n) => n.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("|")})$`);

function installAll(proxy: FaultProxy, rules: Parameters<FaultProxy["addFault"]>[0][]): () => void {
  const removers = rules.map((rule) => proxy.addFault(rule));
  return () => removers.forEach((remove) => remove());
}

export const SCENARIOS: readonly Scenario[] = [
  {
    id: 1,
    name: "two-images-500",
    title: "2 of 20 images: every manifest request (HEAD and GET, prepull's and the engine's) 500 for 25 s",
    faultMs: 25_000,
    registryWide: false,
    install: (proxy, repositories) =>
      installAll(proxy, [
        {
          name: "s1-two-images-500",
          match: { kind: "manifest", repository: exactly(FAILING_INDEXES.map((i) => repositories[i] as string)) },
          when: { untilMs: 25_000 },
          action: { status: 500 },
        },
      ]),
  },
  {
    id: 2,
    name: "outage-503",
    title: "all manifests 503 for 45 s",
    faultMs: 45_000,
    registryWide: true,
    install: (proxy) => installAll(proxy, [{ name: "s2-outage-503", match: { kind: "manifest" }, when: { untilMs: 45_000 }, action: { status: 503 } }]),
  },
  {
    id: 3,
    name: "random-500",
    title: "every request 500 with p = 0.3 for 40 s",
    faultMs: 40_000,
    registryWide: false,
    install: (proxy) =>
      installAll(proxy, [{ name: "s3-random-500", match: { kind: "any" }, when: { untilMs: 40_000, probability: 0.3 }, action: { status: 500 } }]),
  },
  {
    id: 4,
    name: "brownout",
    title: "manifests 503 for 20 s, then 40 s admitting ~2 manifest requests/s (503 to the rest)",
    faultMs: 60_000,
    outageMs: 20_000,
    registryWide: true,
    install: (proxy) =>
      installAll(proxy, [
        { name: "s4-outage-503", match: { kind: "manifest" }, when: { untilMs: 20_000 }, action: { status: 503 } },
        { name: "s4-brownout", match: { kind: "manifest" }, when: { afterMs: 20_000, untilMs: 60_000 }, action: { admitPerSecond: 2, status: 503 } },
      ]),
  },

  {
    id: 5,
    name: "retry-after-429",
    title: "every manifest request 429 with Retry-After: 8 for 8 s",
    faultMs: 8_000,
    retryAfterS: 8,
    registryWide: true,
    install: (proxy) =>
      installAll(proxy, [
        { name: "s5-429-retry-after", match: { kind: "manifest" }, when: { untilMs: 8_000 }, action: { status: 429, headers: { "Retry-After": "8" } } },
      ]),
  },
  {
    id: 6,
    name: "not-found",
    title: `${NOT_FOUND_INDEXES.length} images with an unknown tag (404) and ${PLATFORM_MISSING_INDEXES.length} arm64-only index among ${20 - NOT_FOUND_INDEXES.length - PLATFORM_MISSING_INDEXES.length} healthy images; no fault`,
    faultMs: 0,
    registryWide: false,
    broken: { notFound: NOT_FOUND_INDEXES, platformMissing: PLATFORM_MISSING_INDEXES },
    install: () => () => undefined,
  },
];
