// What the run learns from the registry itself (issue 8), through prepull's registry client:
// the preflight HEAD of each image before its first pull, the HEAD polls that replace engine
// attempts while one image's manifest keeps failing, and the HEAD probes of a closed gate. Every
// answer is a typed value; this file turns it into what the scheduler does next.
import type { DirectProbeAnswer } from "../policy/gate.js";
import { parsePlatform } from "../engine/platform.js";
import { describeQuota, planQuota } from "../policy/quota-plan.js";
import type { DirectCoordination } from "../policy/registry-coordinator.js";
import { hasPlatform, type Platform, type Quota, type RegistryClient, type RegistryFailure } from "../registry/index.js";
import { onMirror } from "../policy/mirrors.js";
import type { Clock, MirrorRule, OutcomeClass, PullEvent, Random, Reference, RegistryQuota } from "../types.js";

/** How often one image asks for its manifest while it waits to retry: about once a second (±10 %). */
export const MANIFEST_POLL_MS = 1000;
/** A throttle without a Retry-After: ask again after this, doubling per registry up to the cap. */
const THROTTLE_FALLBACK_MS = 2000;
const THROTTLE_FALLBACK_CAP_MS = 30_000;

export interface DirectContext {
  readonly client: RegistryClient;
  readonly clock: Clock;
  readonly random: Random;
  readonly signal: AbortSignal;
  readonly emit: (event: PullEvent) => void;
  /** The platform the engine pulls for, when it said. */
  readonly platform?: Platform;
  readonly coordination: (registry: string) => DirectCoordination;
}

/** What the run remembers per registry about talking to it directly. */
export interface DirectState {
  /** Registries prepull could not reach itself: the engine alone talks to them for the rest of the run. */
  readonly off: Set<string>;
  /** Throttles without a Retry-After so far, per registry (their fallback wait doubles). */
  readonly throttles: Map<string, number>;
  /** The latest image each registry served, the best candidate for a gate probe. */
  readonly served: Map<string, Reference>;
  /** When each image last asked for its manifest: its polls keep their cadence from one wait to the next. */
  readonly asked: Map<string, number>;
}

export function createDirectState(): DirectState {
  return { off: new Set(), throttles: new Map(), served: new Map(), asked: new Map() };
}

/** The end of an image's life decided before any engine attempt. */
export interface Settled {
  readonly status: "failed" | "skipped" | "present";
  readonly class: OutcomeClass;
  readonly rule: string;
  readonly reason: string;
}

export type PreflightResult = { readonly kind: "pull"; readonly digest?: string } | ({ readonly kind: "settled"; readonly digest?: string } & Settled);

/**
 * One manifest HEAD before the first pull, through the registry's gate: a 404/401/403 or a missing
 * platform ends the image with no engine attempt; a throttle closes the gate until the registry
 * says; an outage's 5xx counts toward the gate like an engine attempt's; anything else (the
 * registry unreachable from here, an answer we cannot use) leaves the decision to the engine.
 */
export async function preflight(
  reference: Reference,
  ctx: DirectContext,
  state: DirectState,
  options: { readonly waitForGate?: boolean } = {},
): Promise<PreflightResult> {
  const gate = ctx.coordination(reference.registry);
  for (;;) {
    if (state.off.has(reference.registry)) return { kind: "pull" };
    // An image with mirrors does not wait for its registry's gate: a mirror may serve it meanwhile.
    if (options.waitForGate === false && !gate.isOpen) return { kind: "pull" };
    await gate.whenOpen(reference.canonical, ctx.signal);
    const check = gate.check(reference.repository);
    const result = await ctx.client.resolveManifest(reference, { signal: ctx.signal });
    if (result.kind === "ok") {
      check.answered();
      state.served.set(reference.registry, reference);
      const quota = quotaExhausted(reference.registry, result.quota);
      if (quota) return { kind: "settled", digest: result.digest, ...quota };
      const platform = result.isIndex ? await missingPlatform(reference, result.digest, ctx) : undefined;
      return platform ? { kind: "settled", digest: result.digest, ...platform } : { kind: "pull", digest: result.digest };
    }
    if (result.kind === "unavailable") {
      check.failed();
      // Give the rest of the first wave's answers a moment to tell an outage (the gate closes, and
      // this image asks again when it opens) from this image's own problem (the engine tries).
      if (gate.isOpen) await ctx.clock.sleep(pollDelay(ctx.random), ctx.signal);
      if (gate.isOpen) return { kind: "pull" };
      continue;
    }
    check.done();
    const settled = settle(reference, result, ctx, state);
    if (settled === "again") continue;
    if (settled === "engine") return { kind: "pull" };
    return { kind: "settled", ...settled };
  }
}

/** What an image does after its manifest HEAD failed with `result`, other than a 5xx. */
function settle(reference: Reference, result: RegistryFailure, ctx: DirectContext, state: DirectState): Settled | "again" | "engine" {
  const { registry } = reference;
  switch (result.kind) {
    case "not-found":
      return result.reason === "name-unknown"
        ? {
            status: "failed",
            class: "permanent",
            rule: "registry-name-unknown",
            reason: `repository ${registry}/${reference.repository} not found on the registry (name unknown): check the image name`,
          }
        : {
            status: "failed",
            class: "permanent",
            rule: "registry-manifest-unknown",
            reason: `manifest unknown: ${registry} has no ${reference.digest ? `manifest ${reference.digest}` : `tag "${reference.tag ?? "latest"}"`} for ${reference.repository}: check the tag`,
          };
    case "denied":
      return { status: "failed", class: "permanent", rule: "registry-denied", reason: deniedReason(reference, result) };
    case "throttled": {
      if (result.throttle.kind === "quota") return quotaFailure(registry, result.quota ?? ctx.client.lastQuota(registry));
      throttleGate(registry, result.until, `the registry asked to slow down (HTTP ${result.status}, ${result.throttle.rule})`, ctx, state);
      return "again";
    }
    case "unreachable":
      turnOff(registry, `prepull cannot reach it directly (${result.cause}); pulling through the engine only`, ctx, state);
      return "engine";
    default:
      // rejected, protocol-error, credentials-error: the engine gets its own say on this image.
      return "engine";
  }
}

function deniedReason(reference: Reference, result: Extract<RegistryFailure, { kind: "denied" }>): string {
  const base = `access denied to ${reference.registry}/${reference.repository} (HTTP ${result.status})`;
  if (result.credentialsSent && result.anonymousWorks) {
    return `${base} with the credentials in your Docker config, although the image is public (an anonymous pull works): the stored credentials for ${reference.registry} are stale or lack access; log in again (docker login ${reference.registry}) or remove them`;
  }
  if (result.credentialsSent) return `${base} with the credentials in your Docker config: check that this account may pull the image, and the image name`;
  return `${base} without credentials: the image is private or does not exist; log in (docker login ${reference.registry}) or check the name`;
}

/** An index without this engine's platform: skipped, like the engine's "no matching manifest", with no attempt. */
async function missingPlatform(reference: Reference, digest: string, ctx: DirectContext): Promise<Settled | undefined> {
  // The platform asked for (--platform, compose platform:), else the engine's own.
  const asked = reference.platform ? parsePlatform(reference.platform) : undefined;
  const platform = asked?.ok ? asked.value : ctx.platform;
  if (!platform) return undefined;
  const found = await ctx.client.platformsOf(reference, digest, { signal: ctx.signal });
  if (found.kind !== "ok" || found.platforms === undefined || hasPlatform(found.platforms, platform)) return undefined;
  const wanted = [platform.os, platform.architecture, platform.variant].filter(Boolean).join("/");
  const has = found.platforms.filter((p) => p.os !== "unknown").map((p) => [p.os, p.architecture, p.variant].filter(Boolean).join("/"));
  return {
    status: "skipped",
    class: "skipped-platform",
    rule: "registry-no-platform",
    reason: `no matching manifest for ${wanted} in the manifest list entries (it has ${has.join(", ") || "no platforms"})`,
  };
}

function quotaExhausted(registry: string, quota: Quota | undefined): Settled | undefined {
  return quota?.remaining === 0 ? quotaFailure(registry, quota) : undefined;
}

function quotaFailure(registry: string, quota: Quota | undefined): Settled {
  return {
    status: "failed",
    class: "rate-limited",
    rule: "registry-pull-quota",
    reason: `${registry}'s pull quota is used up${quota ? ` (${describeQuota(quota)})` : ""}: waiting helps nobody for hours; log in (docker login) for a larger quota, or pull through a mirror`,
  };
}

function throttleGate(registry: string, until: number | undefined, reason: string, ctx: DirectContext, state: DirectState): void {
  let at = until;
  if (at === undefined) {
    const count = state.throttles.get(registry) ?? 0;
    state.throttles.set(registry, count + 1);
    at = ctx.clock.now() + Math.min(THROTTLE_FALLBACK_CAP_MS, THROTTLE_FALLBACK_MS * 2 ** count);
  }
  ctx.coordination(registry).throttle(at, `${reason}: no requests for ${Math.max(0, Math.round((at - ctx.clock.now()) / 100) / 10)}s`);
}

function turnOff(registry: string, message: string, ctx: DirectContext, state: DirectState): void {
  if (state.off.has(registry)) return;
  state.off.add(registry);
  ctx.coordination(registry).probeWith(undefined);
  ctx.emit({ type: "registry-direct-off", at: ctx.clock.now(), registry, message });
}

/** The closed gate's probe: one HEAD of an image the registry served lately (else the oldest waiter's). */
export function gateProbe(
  registry: string,
  ctx: DirectContext,
  state: DirectState,
  byImage: ReadonlyMap<string, Reference>,
): (image: string) => Promise<DirectProbeAnswer> {
  return async (image) => {
    const reference = state.served.get(registry) ?? byImage.get(image);
    if (!reference || state.off.has(registry)) return "unreachable";
    const result = await ctx.client.resolveManifest(reference, { signal: ctx.signal, explainNotFound: false });
    switch (result.kind) {
      case "ok":
      case "not-found":
      case "denied":
      case "rejected":
        return "up";
      case "unavailable":
        return result.until !== undefined ? { until: result.until, reason: `the registry asked to wait (HTTP ${result.status} with Retry-After)` } : "down";
      case "throttled":
        return { until: result.until ?? ctx.clock.now() + THROTTLE_FALLBACK_MS, reason: `the registry asked to slow down (HTTP ${result.status})` };
      case "unreachable":
        turnOff(registry, `prepull cannot reach it directly (${result.cause}); pulling through the engine only`, ctx, state);
        return "unreachable";
      default:
        return "unreachable";
    }
  };
}

/** How a retry's wait ended. */
export type RetryWait =
  /** The manifest answers (or nothing more can be learned here): start the engine attempt now. */
  | { readonly kind: "go" }
  /** The wait ran out while the registry's gate was closed: the gate's, not the image's, problem. */
  | { readonly kind: "gate-closed" }
  /** The wait ran out and the manifest still fails: this attempt is spent without asking the engine. */
  | { readonly kind: "spent"; readonly message: string; readonly rule: string }
  /** The registry's pull quota is used up. */
  | ({ readonly kind: "settled" } & Settled);

/**
 * The wait before a retry of an image whose manifest failed: instead of sleeping and then spending
 * an engine attempt on a pull that cannot succeed, ask for the manifest about once a second and go
 * the moment it answers. A closed gate does the asking for its registry meanwhile (no polls).
 */
export async function waitForManifest(reference: Reference, delayMs: number, ctx: DirectContext, state: DirectState): Promise<RetryWait> {
  const { clock, signal } = ctx;
  const gate = ctx.coordination(reference.registry);
  const deadline = clock.now() + delayMs;
  let last: { message: string; rule: string } | undefined;
  const image = reference.canonical;
  for (;;) {
    if (state.off.has(reference.registry)) {
      await clock.sleep(Math.max(0, deadline - clock.now()), signal);
      return { kind: "go" };
    }
    if (!gate.isOpen) return (await openedBefore(gate, reference, deadline, ctx)) ? { kind: "go" } : { kind: "gate-closed" };
    const nextAsk = (state.asked.get(image) ?? Number.NEGATIVE_INFINITY) + pollDelay(ctx.random);
    await clock.sleep(Math.max(0, Math.min(nextAsk, deadline) - clock.now()), signal);
    if (!gate.isOpen) continue;
    // The wait ran out before the next poll is due: the last answer stands, the HEADs stay about a second apart.
    if (last && clock.now() >= deadline && clock.now() < nextAsk) return { kind: "spent", ...last };
    state.asked.set(image, clock.now());
    const result = await ctx.client.resolveManifest(reference, { signal, explainNotFound: false });
    if (result.kind === "ok") {
      state.served.set(reference.registry, reference);
      const quota = quotaExhausted(reference.registry, result.quota);
      return quota ? { kind: "settled", ...quota } : { kind: "go" };
    }
    if (result.kind === "unavailable")
      last = {
        message: `the manifest still fails: HTTP ${result.status}${result.message ? ` ${result.message}` : ""} (asked the registry directly)`,
        rule: "registry-unavailable",
      };
    else {
      const settled = settle(reference, result, ctx, state);
      // A definite answer (not found, denied) is the engine's to give in an attempt of its own.
      if (settled === "engine" || (typeof settled === "object" && settled.class !== "rate-limited")) return { kind: "go" };
      if (typeof settled === "object") return { kind: "settled", ...settled };
    }
    if (clock.now() >= deadline) return last ? { kind: "spent", ...last } : { kind: "go" };
  }
}

async function openedBefore(gate: DirectCoordination, reference: Reference, deadline: number, ctx: DirectContext): Promise<boolean> {
  const stop = new AbortController();
  const signal = AbortSignal.any([ctx.signal, stop.signal]);
  try {
    return await Promise.race([
      gate.whenOpen(reference.canonical, signal).then(() => true),
      ctx.clock.sleep(Math.max(0, deadline - ctx.clock.now()), signal).then(() => false),
    ]);
  } finally {
    stop.abort();
  }
}

function pollDelay(random: Random): number {
  return Math.round(MANIFEST_POLL_MS * (0.9 + 0.2 * random()));
}

/**
 * Holds each registry's pulls until every image of that registry has had its preflight, then
 * applies the quota plan once: images the quota cannot cover end at once, before any pull. Only
 * registries that report a quota hold their pulls.
 */
export function createQuotaBarrier(init: {
  readonly references: readonly Reference[];
  readonly plan: "fit" | "all";
  readonly quotaOf: (registry: string) => RegistryQuota | undefined;
  readonly emit: (event: PullEvent) => void;
  readonly clock: Clock;
}): { arrive(reference: Reference, pulls: boolean): Promise<Settled | undefined> } {
  interface Group {
    readonly expected: Set<string>;
    readonly needed: Set<string>;
    readonly order: readonly string[];
    readonly settled: Promise<ReadonlySet<string>>;
    readonly resolve: (notPulled: ReadonlySet<string>) => void;
    reason: string;
  }
  const groups = new Map<string, Group>();
  for (const reference of init.references) {
    let group = groups.get(reference.registry);
    if (!group) {
      let resolve: (notPulled: ReadonlySet<string>) => void = () => undefined;
      const settled = new Promise<ReadonlySet<string>>((r) => (resolve = r));
      group = { expected: new Set(), needed: new Set(), order: [], settled, resolve, reason: "" };
      groups.set(reference.registry, group);
    }
    group.expected.add(reference.canonical);
    (group.order as string[]).push(reference.canonical);
  }
  const decide = (registry: string, group: Group) => {
    const quota = init.quotaOf(registry);
    const needed = group.order.filter((image) => group.needed.has(image));
    const plan = planQuota(needed, quota, init.plan);
    if (plan.short > 0 && quota) {
      const what =
        init.plan === "fit"
          ? `pulling the first ${needed.length - plan.short} and failing the other ${plan.short} now (--quota-plan all tries them anyway)`
          : "trying every image anyway (--quota-plan all)";
      group.reason = `not pulled: ${registry}'s pull quota (${describeQuota(quota)}) is ${plan.short} short of the ${needed.length} pulls this batch needs; log in (docker login) for a larger quota, or pull through a mirror`;
      init.emit({
        type: "quota-short",
        at: init.clock.now(),
        registry,
        quota,
        needed: needed.length,
        notPulled: plan.notPulled,
        message: `registry ${registry}: the batch needs ${needed.length} pulls, its quota has ${quota.remaining ?? "?"} left (${describeQuota(quota)}): ${what}`,
      });
    }
    group.resolve(new Set(plan.notPulled));
  };
  return {
    async arrive(reference, pulls) {
      const group = groups.get(reference.registry);
      if (!group || !group.expected.has(reference.canonical)) return undefined;
      group.expected.delete(reference.canonical);
      if (pulls) group.needed.add(reference.canonical);
      if (group.expected.size === 0) decide(reference.registry, group);
      // A registry that reported no quota (everything but Docker Hub) has no plan to wait for:
      // the pull starts now instead of after the slowest preflight of the batch.
      if (!pulls || init.quotaOf(reference.registry) === undefined) return undefined;
      const notPulled = await group.settled;
      return notPulled.has(reference.canonical) ? { status: "failed", class: "rate-limited", rule: "quota-plan", reason: group.reason } : undefined;
    },
  };
}

/** What a mirror's manifest HEAD says about one image, before an attempt there. */
export type MirrorCheck =
  /** The mirror has it: pull it by this digest. */
  | { readonly kind: "has"; readonly digest: string }
  /** The mirror cannot serve this image (it lacks it, or refuses it): the next source, for the rest of the run. */
  | { readonly kind: "lacks"; readonly reason: string }
  /** The mirror names another digest for the tag than the registry does: not trusted, reported. */
  | { readonly kind: "other-digest"; readonly digest: string; readonly reason: string }
  /** The mirror is down or throttling now: the next source, this time. */
  | { readonly kind: "down"; readonly reason: string }
  /** prepull cannot ask it directly: the engine tries it by the image's own tag or digest. */
  | { readonly kind: "unknown" };

/**
 * The manifest HEAD of an image on a mirror, through the mirror's own gate. By tag when the image
 * has one: a pull-through cache then refreshes its tag from upstream (and falls back to its cached
 * tag when upstream is down), and a static mirror's stale tag shows. When the tag names another
 * digest than the registry does (or is missing), a second HEAD asks for the registry's digest:
 * a mirror that holds it serves it; one that does not is reported, never trusted silently.
 */
export async function checkMirror(
  reference: Reference,
  rule: MirrorRule,
  digest: string | undefined,
  ctx: DirectContext,
  state: DirectState,
): Promise<MirrorCheck> {
  if (state.off.has(rule.key)) return { kind: "unknown" };
  const gate = ctx.coordination(rule.key);
  const target = onMirror(reference, rule);
  const check = gate.check(target.repository);
  const head = (t: Reference) => ctx.client.resolveManifest(t, { signal: ctx.signal, explainNotFound: false });
  const holdsDigest = async () => digest !== undefined && digest !== reference.digest && (await head(onMirror(reference, rule, digest))).kind === "ok";
  const result = await head(target);
  switch (result.kind) {
    case "ok":
      check.answered();
      state.served.set(rule.key, target);
      if (digest === undefined || result.digest === digest) return { kind: "has", digest: result.digest };
      if (await holdsDigest()) return { kind: "has", digest };
      return {
        kind: "other-digest",
        digest: result.digest,
        reason: `mirror ${rule.key} names ${result.digest} for ${target.repository}:${reference.tag ?? "latest"}, the registry names ${digest}, and the mirror does not hold ${digest}: its copy differs (rewritten or stale), not trusted`,
      };
    case "not-found":
      check.done();
      if (digest !== undefined && (await holdsDigest())) return { kind: "has", digest };
      return {
        kind: "lacks",
        reason: `the mirror does not have ${target.repository} ${reference.digest ?? `tag "${reference.tag ?? "latest"}"`}${digest !== undefined && digest !== reference.digest ? ` nor ${digest}` : ""} (404)`,
      };
    case "unavailable":
      check.failed();
      return { kind: "down", reason: `the mirror answered HTTP ${result.status}${result.message ? ` ${result.message}` : ""}` };
    case "throttled":
      check.done();
      throttleGate(rule.key, result.until, `the mirror asked to slow down (HTTP ${result.status})`, ctx, state);
      return { kind: "down", reason: `the mirror asked to slow down (HTTP ${result.status})` };
    case "unreachable":
      // A mirror that cannot be reached counts toward its gate: the next images skip it without asking.
      check.failed();
      return { kind: "down", reason: `the mirror cannot be reached (${result.cause})` };
    case "denied":
      check.done();
      return { kind: "lacks", reason: `the mirror denied access to ${target.repository} (HTTP ${result.status})` };
    default:
      check.done();
      return { kind: "unknown" };
  }
}
