// The run talking to the registry itself (issue 8), with a scripted registry client and engine on
// a fake clock: what preflight settles without the engine, how throttles and outages are waited
// out by HEAD, and how one image's failing manifest is asked for instead of pulled.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FakeClock } from "../../src/clock/fake.js";
import type { AttemptOutcome, Engine, PullRequest } from "../../src/engine/engine.js";
import { createRegistryCoordinator } from "../../src/policy/registry-coordinator.js";
import { watchAttempt } from "../../src/policy/watchdog.js";
import type { ManifestResult, ManifestTarget, PlatformsResult, Quota, RegistryClient } from "../../src/registry/index.js";
import { schedule } from "../../src/run/scheduler.js";
import type { PullEvent, Settings } from "../../src/types.js";
import { ref, settingsOf } from "../fixtures/values.js";

const DIGEST = `sha256:${"a".repeat(64)}`;
const ok = (extra: Partial<Extract<ManifestResult, { kind: "ok" }>> = {}): ManifestResult => ({
  kind: "ok",
  digest: DIGEST,
  isIndex: false,
  via: "head",
  ...extra,
});
const unavailable: ManifestResult = { kind: "unavailable", stage: "manifest", status: 503 };
const pulled: AttemptOutcome = { ok: true, bytes: 100, upToDate: false, digest: DIGEST };
const engine500: AttemptOutcome = {
  ok: false,
  kind: "engine",
  httpStatus: 500,
  message: "received unexpected HTTP status: 500 Internal Server Error",
  bytes: 0,
  answered: false,
};

/** A registry whose HEAD answer is a function of the repository and the time; every request is logged. */
function scriptedRegistry(clock: FakeClock, answer: (repository: string, at: number) => ManifestResult, platforms?: PlatformsResult, quota?: Quota) {
  const heads: Array<{ repository: string; at: number }> = [];
  const client: RegistryClient = {
    ping: async () => ({ kind: "ok", auth: "none" }),
    async resolveManifest(target: ManifestTarget) {
      heads.push({ repository: target.repository, at: clock.now() });
      await clock.sleep(10);
      return answer(target.repository, clock.now());
    },
    platformsOf: async () => platforms ?? { kind: "ok" },
    lastQuota: () => quota,
    close: () => undefined,
  };
  return { client, heads };
}

function scriptedEngine(clock: FakeClock, answer: (repository: string, at: number) => AttemptOutcome, options: { platform?: Engine["platform"] } = {}) {
  const pulls: Array<{ repository: string; at: number }> = [];
  const engine: Engine = {
    async pull(request: PullRequest) {
      pulls.push({ repository: request.reference.repository, at: clock.now() });
      await clock.sleep(100, request.signal).catch(() => undefined);
      const outcome = answer(request.reference.repository, clock.now());
      if (outcome.ok) request.onAnswer?.();
      return outcome;
    },
    hasImage: async () => false,
    ...(options.platform ? { platform: options.platform } : {}),
  };
  return { engine, pulls };
}

async function run(clock: FakeClock, images: string[], engine: Engine, client: RegistryClient, s: Settings = settingsOf()) {
  const events: PullEvent[] = [];
  const result = await clock.run(
    schedule(images.map(ref), {
      engine,
      registry: client,
      settings: s,
      clock,
      random: () => 0.5,
      watchAttempt,
      onEvent: (e) => events.push(e),
      coordinatorFor: (registry, emit) => createRegistryCoordinator({ registry, clock, random: () => 0.5, emit }),
    }),
    3_600_000,
  );
  return { result, events };
}

const image = (repository: string) => `127.0.0.1:5000/${repository}:1`;

describe("preflight", () => {
  it("a missing tag, a missing repository and a denied image fail at once, with no engine attempt", async () => {
    const clock = new FakeClock();
    const { client } = scriptedRegistry(clock, (repository) =>
      repository === "notag"
        ? { kind: "not-found", stage: "manifest", reason: "manifest-unknown" }
        : repository === "norepo"
          ? { kind: "not-found", stage: "manifest", reason: "name-unknown" }
          : repository === "private"
            ? { kind: "denied", stage: "manifest", status: 401, credentialsSent: true, anonymousWorks: true }
            : ok(),
    );
    const { engine, pulls } = scriptedEngine(clock, () => pulled);
    const { result } = await run(clock, ["notag", "norepo", "private", "fine"].map(image), engine, client);
    assert.deepEqual(
      pulls.map((p) => p.repository),
      ["fine"],
    );
    assert.deepEqual(
      result.images.map((i) => [i.status, i.class, i.rule, i.attempts.length]),
      [
        ["failed", "permanent", "registry-manifest-unknown", 0],
        ["failed", "permanent", "registry-name-unknown", 0],
        ["failed", "permanent", "registry-denied", 0],
        ["pulled", "pulled", undefined, 1],
      ],
    );
    assert.match(result.images[2]?.reason ?? "", /credentials .* although the image is public/);
    assert.equal(result.images[3]?.resolvedDigest, DIGEST);
  });

  it("an index without this engine's platform is skipped with no engine attempt", async () => {
    const clock = new FakeClock();
    const { client } = scriptedRegistry(clock, () => ok({ isIndex: true }), { kind: "ok", platforms: [{ os: "linux", architecture: "arm64" }] });
    const { engine, pulls } = scriptedEngine(clock, () => pulled, { platform: { os: "linux", architecture: "amd64" } });
    const { result } = await run(clock, [image("armonly")], engine, client);
    assert.equal(pulls.length, 0);
    assert.deepEqual([result.images[0]?.status, result.images[0]?.class], ["skipped", "skipped-platform"]);
    assert.match(result.images[0]?.reason ?? "", /no matching manifest for linux\/amd64 .*it has linux\/arm64/);
  });

  it("a 429 with Retry-After closes the gate: no request of any kind to that registry until then", async () => {
    const clock = new FakeClock();
    const until = 8000;
    const { client, heads } = scriptedRegistry(clock, (_r, at) =>
      at < until
        ? { kind: "throttled", stage: "manifest", status: 429, throttle: { kind: "generic", rule: "retry-after", retryAfterMs: until - at }, until }
        : ok(),
    );
    const { engine, pulls } = scriptedEngine(clock, () => pulled);
    const images = Array.from({ length: 6 }, (_, i) => image(`app${i}`));
    const { result } = await run(clock, images, engine, client);
    assert.ok(result.images.every((i) => i.status === "pulled"));
    // The first wave of HEADs is in flight when the first 429 arrives; after it, silence until 8 s.
    const firstAnswer = 10;
    assert.deepEqual(
      heads.filter((h) => h.at >= firstAnswer && h.at < until),
      [],
    );
    assert.deepEqual(
      pulls.filter((p) => p.at < until),
      [],
    );
    assert.ok(Math.min(...pulls.map((p) => p.at)) < until + 1500, "pulls start right after the interval");
  });

  it("a registry that is down during preflight is asked by one HEAD about every second, and no engine attempt runs until it answers", async () => {
    const clock = new FakeClock();
    const downUntil = 20_000;
    const { client, heads } = scriptedRegistry(clock, (_r, at) => (at < downUntil ? unavailable : ok()));
    const { engine, pulls } = scriptedEngine(clock, () => pulled);
    const images = Array.from({ length: 10 }, (_, i) => image(`svc${i}`));
    const { result, events } = await run(clock, images, engine, client);
    assert.ok(result.images.every((i) => i.status === "pulled" && i.attempts.length === 1));
    assert.deepEqual(
      pulls.filter((p) => p.at < downUntil),
      [],
      "zero engine attempts during the outage",
    );
    const closedAt = events.find((e) => e.type === "gate-closed")?.at ?? Number.NaN;
    const whileDown = heads.filter((h) => h.at > closedAt && h.at < downUntil);
    const perSecond = whileDown.length / ((downUntil - closedAt) / 1000);
    assert.ok(perSecond <= 1.2, `${whileDown.length} HEADs in ${downUntil - closedAt} ms`);
    const opened = events.find((e) => e.type === "gate-opened")?.at ?? Number.NaN;
    assert.ok(opened - downUntil <= 1200, `the gate opened ${opened - downUntil} ms after the outage ended`);
  });

  it("a registry prepull cannot reach is said once, and the engine alone pulls from it", async () => {
    const clock = new FakeClock();
    const { client, heads } = scriptedRegistry(clock, () => ({ kind: "unreachable", stage: "ping", cause: "connect ECONNREFUSED 127.0.0.1:5000" }));
    const { engine, pulls } = scriptedEngine(clock, () => pulled);
    const { result, events } = await run(clock, [image("a"), image("b"), image("c")], engine, client);
    assert.ok(result.images.every((i) => i.status === "pulled"));
    assert.equal(pulls.length, 3);
    assert.equal(events.filter((e) => e.type === "registry-direct-off").length, 1);
    assert.ok(heads.length <= 3);
  });
});

describe("one image's manifest keeps failing while its registry serves the rest", () => {
  it("waits on HEADs about a second apart instead of engine attempts, and pulls the moment the HEAD answers", async () => {
    const clock = new FakeClock();
    const healsAt = 15_000;
    const { client, heads } = scriptedRegistry(clock, (repository, at) => (repository === "broken" && at < healsAt ? unavailable : ok()));
    const { engine, pulls } = scriptedEngine(clock, (repository, at) => (repository === "broken" && at < healsAt ? engine500 : pulled));
    const { result } = await run(clock, [image("broken"), image("fine1"), image("fine2")], engine, client);
    const broken = result.images[0];
    assert.equal(broken?.status, "pulled");
    // Its preflight said 503: the engine had one go, then only HEADs until the manifest answered.
    assert.deepEqual(
      pulls.filter((p) => p.repository === "broken").map((p) => p.at >= healsAt),
      [false, true],
    );
    const polls = heads.filter((h) => h.repository === "broken").map((h) => h.at);
    const gaps = polls.slice(2).map((at, i) => at - (polls[i + 1] as number));
    assert.ok(gaps.length >= 10, `${gaps.length} polls`);
    for (const gap of gaps) assert.ok(gap >= 500 && gap <= 1200, `poll spacing ${gap}`);
    assert.ok(gaps.filter((gap) => gap >= 900 && gap <= 1120).length >= 0.8 * gaps.length, `about a second apart: ${gaps.join(", ")}`);
    const lastPull = pulls.filter((p) => p.repository === "broken").at(-1)?.at ?? Number.NaN;
    assert.ok(lastPull - healsAt <= 1200, `pulled ${lastPull - healsAt} ms after the manifest answered`);
  });

  it("still fails within its PULL_RETRIES/backoff schedule when the manifest never answers", async () => {
    const clock = new FakeClock();
    const { client } = scriptedRegistry(clock, (repository) => (repository === "broken" ? unavailable : ok()));
    const { engine, pulls } = scriptedEngine(clock, (repository) => (repository === "broken" ? engine500 : pulled));
    const { result } = await run(clock, [image("broken"), image("fine")], engine, client);
    const broken = result.images[0];
    assert.deepEqual([broken?.status, broken?.class, broken?.attempts.length], ["failed", "transient", 5]);
    assert.equal(pulls.filter((p) => p.repository === "broken").length, 1, "one engine attempt, four spent on HEADs");
    assert.ok((broken?.durationMs ?? 0) <= 30_000, `failed after ${broken?.durationMs} ms`);
    assert.ok((broken?.durationMs ?? 0) >= 26_000);
  });
});

describe("quota plan", () => {
  it("fit: pulls what the quota covers and fails the rest before any pull, saying so once", async () => {
    const clock = new FakeClock();
    const quota = { limit: 100, remaining: 2, windowSeconds: 21_600, source: "203.0.113.7" };
    const { client } = scriptedRegistry(clock, () => ok({ quota }), undefined, quota);
    const { engine, pulls } = scriptedEngine(clock, () => pulled);
    const images = ["q1", "q2", "q3", "q4"].map(image);
    const { result, events } = await run(clock, images, engine, client);
    assert.deepEqual(pulls.map((p) => p.repository).sort(), ["q1", "q2"]);
    assert.deepEqual(
      result.images.map((i) => [i.status, i.rule]),
      [
        ["pulled", undefined],
        ["pulled", undefined],
        ["failed", "quota-plan"],
        ["failed", "quota-plan"],
      ],
    );
    const short = events.filter((e) => e.type === "quota-short");
    assert.equal(short.length, 1);
    assert.ok(events.findIndex((e) => e.type === "quota-short") < events.findIndex((e) => e.type === "attempt-started"), "said before pulling");
    assert.match(result.images[2]?.reason ?? "", /2 of 100 pulls left per 6 h for 203\.0\.113\.7.*2 short of the 4 pulls/);
    assert.deepEqual(result.registries[0]?.quota, quota);
  });

  it("all: warns, then pulls every image", async () => {
    const clock = new FakeClock();
    const quota = { limit: 100, remaining: 1 };
    const { client } = scriptedRegistry(clock, () => ok({ quota }), undefined, quota);
    const { engine, pulls } = scriptedEngine(clock, () => pulled);
    const { result, events } = await run(clock, ["a", "b"].map(image), engine, client, settingsOf({ PULL_QUOTA_PLAN: "all" }));
    assert.equal(pulls.length, 2);
    assert.ok(result.images.every((i) => i.status === "pulled"));
    assert.equal(events.filter((e) => e.type === "quota-short").length, 1);
  });

  it("a HEAD that reports no pulls left fails the image at once: waiting helps nobody for hours", async () => {
    const clock = new FakeClock();
    const quota = { limit: 100, remaining: 0, windowSeconds: 21_600, source: "acct-1" };
    const { client } = scriptedRegistry(clock, () => ok({ quota }), undefined, quota);
    const { engine, pulls } = scriptedEngine(clock, () => pulled);
    const { result } = await run(clock, [image("z")], engine, client);
    assert.equal(pulls.length, 0);
    assert.deepEqual([result.images[0]?.class, result.images[0]?.rule], ["rate-limited", "registry-pull-quota"]);
    assert.match(result.images[0]?.reason ?? "", /0 of 100 pulls left per 6 h for acct-1.*log in/);
  });
});

describe("preflight overlaps the pulls", () => {
  it("a registry that reports no quota does not hold an image's pull until the slowest preflight of the batch", async () => {
    const clock = new FakeClock();
    const { client } = scriptedRegistry(clock, () => ok());
    // One preflight takes 5 s (a slow HEAD); the others 10 ms.
    const slow: RegistryClient = {
      ...client,
      async resolveManifest(target) {
        if (target.repository === "slow") await clock.sleep(5000);
        return client.resolveManifest(target);
      },
    };
    const { engine, pulls } = scriptedEngine(clock, () => pulled);
    await run(clock, [image("slow"), image("fast")], engine, slow);
    assert.ok((pulls.find((p) => p.repository === "fast")?.at ?? Number.NaN) < 1000, JSON.stringify(pulls));
  });
});
