// Mirrors (issue 11): the rules as written, an image's name on a mirror, the source an attempt
// picks, and the scheduler's failover on a fake clock with a scripted registry client and engine.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FakeClock } from "../../src/clock/fake.js";
import type { AttemptOutcome, Engine, PullRequest } from "../../src/engine/engine.js";
import { chooseSource, mirrorsOf, onMirror, parseMirrorList, parseMirrorRule } from "../../src/policy/mirrors.js";
import { createRegistryCoordinator } from "../../src/policy/registry-coordinator.js";
import { resolveSettings } from "../../src/policy/settings.js";
import { watchAttempt } from "../../src/policy/watchdog.js";
import type { ManifestResult, ManifestTarget, RegistryClient } from "../../src/registry/index.js";
import { schedule } from "../../src/run/scheduler.js";
import type { LockCheck } from "../../src/lock/locked.js";
import type { MirrorRule, PullEvent, Reference, Report, Settings } from "../../src/types.js";
import { formatSummary } from "../../src/report/summary.js";
import { toJson } from "../../src/report/json.js";
import { toJUnit } from "../../src/report/junit.js";
import { describeEvent } from "../../src/report/log-lines.js";
import { allPulled, nginxPulled } from "../fixtures/reports.js";
import { compileReportSchema } from "../fixtures/validators.js";
import { ref, settingsOf } from "../fixtures/values.js";

const rule = (s: string): MirrorRule => {
  const r = parseMirrorRule(s);
  assert.ok(r.ok, s);
  return r.value;
};
const D1 = `sha256:${"1".repeat(64)}`;
const D2 = `sha256:${"2".repeat(64)}`;

describe("mirror rules", () => {
  it("reads REGISTRY=host[:port][/prefix], Hub's spellings as docker.io", () => {
    assert.deepEqual(rule("docker.io=127.0.0.1:5001"), { registry: "docker.io", host: "127.0.0.1:5001", key: "127.0.0.1:5001" });
    assert.deepEqual(rule("index.docker.io=harbor.example/proxy-hub/"), {
      registry: "docker.io",
      host: "harbor.example",
      prefix: "proxy-hub",
      key: "harbor.example/proxy-hub",
    });
    assert.deepEqual(rule("GHCR.io=123.dkr.ecr.eu-west-1.amazonaws.com/ghcr"), {
      registry: "ghcr.io",
      host: "123.dkr.ecr.eu-west-1.amazonaws.com",
      prefix: "ghcr",
      key: "123.dkr.ecr.eu-west-1.amazonaws.com/ghcr",
    });
  });

  for (const [entry, why] of [
    ["docker.io", /expected REGISTRY=MIRROR/],
    ["docker.io=https://mirror.example", /without a scheme/],
    ["docker.io=mirror", /needs a dot or a port/],
    ["docker.io=mirror.example/Proxy", /path prefix component "Proxy"/],
    ["ghcr.io=ghcr.io", /the registry itself/],
    ["=mirror.example", /not a registry/],
    ["docker.io=", /not a mirror host/],
  ] as const) {
    it(`refuses ${JSON.stringify(entry)}, quoting it`, () => {
      const r = parseMirrorRule(entry);
      assert.ok(!r.ok);
      assert.match(r.error, why);
      assert.ok(r.error.includes(JSON.stringify(entry)));
    });
  }

  it("reads a list separated by commas, spaces or newlines, in order, several mirrors per registry", () => {
    const r = parseMirrorList(["docker.io=a.example,ghcr.io=b.example/ghcr\n docker.io=c.example:5000 docker.io=a.example"]);
    assert.ok(r.ok);
    assert.deepEqual(
      mirrorsOf("docker.io", r.value).map((m) => m.key),
      ["a.example", "c.example:5000"],
    );
    assert.deepEqual(
      mirrorsOf("ghcr.io", r.value).map((m) => m.key),
      ["b.example/ghcr"],
    );
    assert.deepEqual(mirrorsOf("quay.io", r.value), []);
  });

  it("names every bad entry of a list", () => {
    const r = parseMirrorList(["docker.io=ok.example,bad1,docker.io=http://x"]);
    assert.ok(!r.ok);
    assert.match(r.error, /"bad1".*"docker.io=http:\/\/x"/);
  });

  it("is one row of the settings table: flags win over PULL_MIRRORS, errors name the source", () => {
    const env = resolveSettings({ PULL_MIRRORS: "docker.io=a.example ghcr.io=b.example" });
    assert.ok(env.ok);
    assert.deepEqual(
      env.value.mirrors?.map((m) => m.key),
      ["a.example", "b.example"],
    );
    const flag = resolveSettings({ PULL_MIRRORS: "docker.io=a.example" }, { mirrors: ["docker.io=c.example", "docker.io=d.example"] });
    assert.ok(flag.ok);
    assert.deepEqual(
      flag.value.mirrors?.map((m) => m.key),
      ["c.example", "d.example"],
    );
    const bad = resolveSettings({ PULL_MIRRORS: "docker.io=nodot" });
    assert.ok(!bad.ok);
    assert.equal(bad.error.source, "PULL_MIRRORS");
    assert.match(bad.error.message, /"docker.io=nodot"/);
    const none = resolveSettings({ PULL_MIRRORS: "" });
    assert.ok(none.ok);
    assert.equal(none.value.mirrors, undefined);
    const keep = resolveSettings({ PULL_KEEP_MIRROR_NAMES: "true" });
    assert.ok(keep.ok);
    assert.equal(keep.value.keepMirrorNames, true);
    assert.ok(!resolveSettings({ PULL_KEEP_MIRROR_NAMES: "maybe" }).ok);
  });
});

describe("an image's name on a mirror", () => {
  it("keeps Docker Hub's library/ and puts the prefix first", () => {
    assert.equal(onMirror(ref("nginx:1.25"), rule("docker.io=harbor.example/proxy-hub")).canonical, "harbor.example/proxy-hub/library/nginx:1.25");
    assert.equal(onMirror(ref("nginx"), rule("docker.io=127.0.0.1:5001")).canonical, "127.0.0.1:5001/library/nginx:latest");
    assert.equal(
      onMirror(ref("bitnami/redis:7"), rule("docker.io=1.dkr.ecr.us-east-1.amazonaws.com/hub")).canonical,
      "1.dkr.ecr.us-east-1.amazonaws.com/hub/bitnami/redis:7",
    );
    assert.equal(onMirror(ref("ghcr.io/org/app:1"), rule("ghcr.io=mirror.local/ghcr")).canonical, "mirror.local/ghcr/org/app:1");
  });

  it("pins the digest when it is known, and keeps the user's input", () => {
    const m = onMirror(ref("nginx:1.25"), rule("docker.io=m.example:5000"), D1);
    assert.equal(m.canonical, `m.example:5000/library/nginx@${D1}`);
    assert.equal(m.input, "nginx:1.25");
    assert.equal(onMirror(ref(`nginx@${D2}`), rule("docker.io=m.example:5000")).canonical, `m.example:5000/library/nginx@${D2}`);
  });
});

describe("source choice", () => {
  it("is the first mirror with an open gate the image has not passed over; none: upstream", () => {
    assert.equal(
      chooseSource([
        { key: "a", open: false, passed: false },
        { key: "b", open: true, passed: true },
        { key: "c", open: true, passed: false },
      ]),
      "c",
    );
    assert.equal(
      chooseSource([
        { key: "a", open: true, passed: false },
        { key: "b", open: true, passed: false },
      ]),
      "a",
    );
    assert.equal(chooseSource([{ key: "a", open: false, passed: false }]), undefined);
    assert.equal(chooseSource([]), undefined);
  });
});

// ---------------------------------------------------------------------------------------------
// The scheduler with mirrors, on a fake clock.

const MIRROR = "cache.example:5000";
const settings = (env: Record<string, string> = {}): Settings =>
  settingsOf({ PULL_MIRRORS: `registry.example=${MIRROR}`, PULL_RETRIES: "2", PULL_BACKOFF_BASE: "1", ...env });

type Answer = (target: ManifestTarget) => ManifestResult;
const ok = (digest: string): ManifestResult => ({ kind: "ok", digest, isIndex: false, via: "head" });
const notFound: ManifestResult = { kind: "not-found", stage: "manifest", reason: "manifest-unknown" };
const down: ManifestResult = { kind: "unavailable", stage: "manifest", status: 503 };

function fakes(clock: FakeClock, head: Answer, pull: (r: Reference) => AttemptOutcome) {
  const heads: string[] = [];
  const pulls: string[] = [];
  const tags: Array<[string, string]> = [];
  const removed: string[] = [];
  const client: RegistryClient = {
    ping: async () => ({ kind: "ok", auth: "none" }),
    async resolveManifest(target) {
      heads.push(`${target.registry}/${target.repository}${target.digest ? `@${target.digest}` : `:${target.tag}`}`);
      await clock.sleep(10);
      return head(target);
    },
    platformsOf: async () => ({ kind: "ok" }),
    lastQuota: () => undefined,
    close: () => undefined,
  };
  const engine: Engine = {
    async pull(request: PullRequest) {
      pulls.push(request.reference.canonical);
      await clock.sleep(100, request.signal).catch(() => undefined);
      const outcome = pull(request.reference);
      if (outcome.ok) request.onAnswer?.();
      return outcome;
    },
    hasImage: async () => false,
    async tag(source, target) {
      tags.push([source, target.canonical]);
      return { ok: true, value: undefined };
    },
    async removeImage(name) {
      removed.push(name);
      return { ok: true, value: undefined };
    },
  };
  return { client, engine, heads, pulls, tags, removed };
}

async function run(clock: FakeClock, images: string[], f: ReturnType<typeof fakes>, s: Settings = settings(), lock?: LockCheck) {
  const events: PullEvent[] = [];
  const result = await clock.run(
    schedule(images.map(ref), {
      engine: f.engine,
      registry: f.client,
      settings: s,
      clock,
      random: () => 0.5,
      watchAttempt,
      onEvent: (e) => events.push(e),
      coordinatorFor: (registry, emit) => createRegistryCoordinator({ registry, clock, random: () => 0.5, emit }),
      ...(lock ? { lock } : {}),
    }),
    3_600_000,
  );
  return { ...result, events };
}

const pulledAs = (digest: string): AttemptOutcome => ({ ok: true, bytes: 100, upToDate: false, digest });
const engine503: AttemptOutcome = {
  ok: false,
  kind: "engine",
  httpStatus: 500,
  message: "received unexpected HTTP status: 503 Service Unavailable",
  bytes: 0,
  answered: false,
};

describe("the scheduler with a mirror", () => {
  it("pulls from the mirror by the registry's digest, names the image as asked and drops the mirror's name", async () => {
    const clock = new FakeClock();
    const f = fakes(
      clock,
      (t) => ok(t.digest ?? D1),
      (r) => pulledAs(r.digest ?? D1),
    );
    const { images, registries } = await run(clock, ["registry.example/app:1"], f);
    assert.deepEqual(f.pulls, [`${MIRROR}/app@${D1}`]);
    assert.deepEqual(f.tags, [[`${MIRROR}/app@${D1}`, "registry.example/app:1"]]);
    assert.deepEqual(f.removed, [`${MIRROR}/app@${D1}`]);
    assert.equal(images[0]?.source, "mirror");
    assert.equal(images[0]?.mirror, MIRROR);
    assert.equal(images[0]?.attempts[0]?.mirror, MIRROR);
    const mirrorStats = registries.find((r) => r.registry === MIRROR);
    assert.equal(mirrorStats?.mirrorOf, "registry.example");
    assert.equal(mirrorStats?.bytes, 100);
  });

  it("keeps the mirror's name with --keep-mirror-names", async () => {
    const clock = new FakeClock();
    const f = fakes(
      clock,
      (t) => ok(t.digest ?? D1),
      (r) => pulledAs(r.digest ?? D1),
    );
    await run(clock, ["registry.example/app:1"], f, settings({ PULL_KEEP_MIRROR_NAMES: "1" }));
    assert.equal(f.tags.length, 1);
    assert.deepEqual(f.removed, []);
  });

  it("an image the mirror lacks goes upstream without spending an attempt", async () => {
    const clock = new FakeClock();
    const f = fakes(
      clock,
      (t) => (t.registry === MIRROR ? notFound : ok(D1)),
      (r) => pulledAs(r.digest ?? D1),
    );
    const { images, events } = await run(clock, ["registry.example/app:1"], f);
    assert.deepEqual(f.pulls, ["registry.example/app:1"]);
    assert.equal(images[0]?.source, "upstream");
    assert.equal(images[0]?.attempts.length, 1);
    const failover = events.find((e) => e.type === "failover");
    assert.ok(failover && failover.type === "failover" && /does not have/.test(failover.reason) && failover.to === "registry registry.example");
  });

  it("a mirror whose attempts fail sends the image upstream; its failures spend none of the image's attempts", async () => {
    const clock = new FakeClock();
    const f = fakes(
      clock,
      (t) => ok(t.digest ?? D1),
      (r) => (r.registry === MIRROR ? engine503 : pulledAs(D1)),
    );
    // PULL_RETRIES=2: one mirror failure and one upstream attempt; the image still has a retry left.
    const { images } = await run(clock, ["registry.example/app:1"], f);
    assert.equal(images[0]?.status, "pulled");
    assert.equal(images[0]?.source, "upstream");
    assert.deepEqual(
      images[0]?.attempts.map((a) => [a.class, a.mirror]),
      [
        ["transient", MIRROR],
        ["pulled", undefined],
      ],
    );
  });

  it("when upstream is down, the mirror serves by its own digest for the tag", async () => {
    const clock = new FakeClock();
    const f = fakes(
      clock,
      (t) => (t.registry === MIRROR ? ok(D2) : down),
      (r) => (r.registry === MIRROR ? pulledAs(D2) : engine503),
    );
    const { images } = await run(clock, ["registry.example/a:1", "registry.example/b:1", "registry.example/c:1"], f);
    assert.deepEqual(
      images.map((i) => i.source),
      ["mirror", "mirror", "mirror"],
    );
    assert.deepEqual(
      f.pulls.filter((p) => p.startsWith("registry.example")),
      [],
    );
    assert.ok(f.pulls.every((p) => p.endsWith(`@${D2}`)));
  });

  it("a mirror that names another digest for the tag is reported, not trusted: the image goes upstream", async () => {
    const clock = new FakeClock();
    // The mirror lacks the registry's digest but serves D2 under the tag.
    const f = fakes(
      clock,
      (t) => (t.registry === MIRROR ? (t.digest === D1 ? notFound : ok(D2)) : ok(D1)),
      (r) => pulledAs(r.digest ?? D1),
    );
    const { images, events } = await run(clock, ["registry.example/app:1"], f);
    assert.deepEqual(f.pulls, ["registry.example/app:1"]);
    assert.equal(images[0]?.source, "upstream");
    const warning = events.find((e) => e.type === "failover" && e.warning);
    assert.ok(warning && warning.type === "failover" && warning.reason.includes(D2) && warning.reason.includes(D1));
    // The report says so too, on the image that was pulled anyway.
    assert.ok(images[0]?.reason?.includes(D2));
  });

  it("a mirror whose tag is stale but that holds the registry's digest serves that digest", async () => {
    const clock = new FakeClock();
    const f = fakes(
      clock,
      (t) => (t.registry === MIRROR ? ok(t.digest ?? D2) : ok(D1)),
      (r) => pulledAs(r.digest ?? D1),
    );
    const { images } = await run(clock, ["registry.example/app:1"], f);
    assert.deepEqual(f.pulls, [`${MIRROR}/app@${D1}`]);
    assert.equal(images[0]?.source, "mirror");
  });

  it("a mirror whose HEADs fail closes its own gate; later images skip it without asking", async () => {
    const clock = new FakeClock();
    const f = fakes(
      clock,
      (t) => (t.registry === MIRROR ? down : ok(D1)),
      () => pulledAs(D1),
    );
    // More images than HEADs in flight at once (16): the later ones find the gate closed.
    const images = Array.from({ length: 100 }, (_, i) => `registry.example/app${i}:1`);
    const result = await run(clock, images, f, settings({ PULL_PARALLEL: "1" }));
    assert.ok(result.images.every((i) => i.status === "pulled" && i.source === "upstream"));
    assert.ok(result.images.every((i) => i.attempts.length === 1));
    const mirrorHeads = f.heads.filter((h) => h.startsWith(MIRROR)).length;
    assert.ok(mirrorHeads < images.length, `the closed gate spared HEADs (${mirrorHeads} of ${images.length})`);
    assert.ok(result.events.some((e) => e.type === "gate-closed" && e.registry === MIRROR));
    assert.ok(result.events.some((e) => e.type === "failover" && /gate (is )?closed/.test(e.reason)));
  });

  it("upstream down and the mirror down too: the image waits for whichever comes back first, and the mirror serves", async () => {
    const clock = new FakeClock();
    const mirrorBack = 20_000;
    const f = fakes(
      clock,
      (t) => (t.registry === MIRROR ? (clock.now() >= mirrorBack ? ok(D2) : down) : down),
      (r) => (r.registry === MIRROR ? pulledAs(D2) : engine503),
    );
    const images = Array.from({ length: 20 }, (_, i) => `registry.example/app${i}:1`);
    const result = await run(clock, images, f, settings({ PULL_RETRIES: "3" }));
    assert.ok(
      result.images.every((i) => i.status === "pulled" && i.source === "mirror"),
      JSON.stringify(result.images.map((i) => [i.status, i.source, i.reason])),
    );
    // Once both gates closed, nothing went upstream through the engine: the images waited for a gate.
    assert.ok(f.pulls.filter((p) => p.startsWith("registry.example")).length <= images.length);
  });
});

describe("mirrors in the reports", () => {
  const base: Report = {
    ...allPulled,
    images: [
      { ...nginxPulled, source: "mirror", mirror: "harbor.example/proxy-hub", attempts: [{ ...nginxPulled.attempts[0]!, mirror: "harbor.example/proxy-hub" }] },
    ],
    registries: [
      { registry: "harbor.example/proxy-hub", attempts: 1, failures: 0, gateClosedMs: 0, mirrorOf: "docker.io", bytes: nginxPulled.bytes },
      { registry: "docker.io", attempts: 0, failures: 0, gateClosedMs: 1500 },
    ],
    engineMirrors: ["https://mirror.gcr.io/"],
  };

  it("the summary shows each image's source, bytes per source, and the engine's own mirrors", () => {
    const text = formatSummary(base);
    assert.match(text, /STATUS\s+SOURCE\s+IMAGE/);
    assert.match(text, /pulled\s+mirror harbor\.example\/proxy-hub\s+docker\.io\/library\/nginx:1\.27/);
    assert.match(text, /harbor\.example\/proxy-hub \(mirror of docker\.io\)\s+1\s+0\s+0ms\s+72\.4 MB/);
    assert.match(text, /engine registry-mirrors .*Docker Hub only.*https:\/\/mirror\.gcr\.io\//);
  });

  it("a plain run's summary has no source columns", () => {
    assert.doesNotMatch(formatSummary(allPulled), /SOURCE|BYTES/);
  });

  it("the JSON report carries the source, valid against the schema", () => {
    const json = JSON.parse(toJson(base)) as {
      images: Array<{ source: string; mirror: string; attempts: Array<{ mirror: string }> }>;
      registries: Array<{ mirrorOf?: string }>;
      engineMirrors: string[];
    };
    const validate = compileReportSchema();
    assert.ok(validate(json), JSON.stringify(validate.errors));
    assert.equal(json.images[0]?.source, "mirror");
    assert.equal(json.images[0]?.attempts[0]?.mirror, "harbor.example/proxy-hub");
    assert.equal(json.registries[0]?.mirrorOf, "docker.io");
    assert.deepEqual(json.engineMirrors, ["https://mirror.gcr.io/"]);
  });

  it("a failover is a log line; a warning shows even when quiet", () => {
    const event: PullEvent = {
      type: "failover",
      at: 0,
      image: "docker.io/library/nginx:1",
      from: "mirror m.example",
      to: "registry docker.io",
      reason: "the mirror does not have it (404)",
    };
    assert.equal(describeEvent(event, "normal"), "docker.io/library/nginx:1: mirror m.example → registry docker.io: the mirror does not have it (404)");
    assert.equal(describeEvent(event, "quiet"), undefined);
    assert.match(describeEvent({ ...event, warning: true }, "quiet") ?? "", /^WARNING: /);
  });

  it("JUnit names the mirror that served an image", () => {
    assert.match(toJUnit(base), /pulled from mirror harbor\.example\/proxy-hub after 1 attempt/);
  });
});

describe("the registry's refusals a mirror may overcome", () => {
  it("an image the registry denies (a mirror with credentials of its own) goes to the mirror, not failed at once", async () => {
    const clock = new FakeClock();
    const denied: ManifestResult = { kind: "denied", stage: "manifest", status: 401, credentialsSent: false };
    const f = fakes(
      clock,
      (t) => (t.registry === MIRROR ? ok(D1) : denied),
      (r) => pulledAs(r.digest ?? D1),
    );
    const { images } = await run(clock, ["registry.example/private:1"], f);
    assert.equal(images[0]?.status, "pulled");
    assert.equal(images[0]?.source, "mirror");
  });

  it("an image the registry does not have fails at once, mirrors or not", async () => {
    const clock = new FakeClock();
    const f = fakes(
      clock,
      (t) => (t.registry === MIRROR ? ok(D1) : notFound),
      (r) => pulledAs(r.digest ?? D1),
    );
    const { images } = await run(clock, ["registry.example/app:nope"], f);
    assert.equal(images[0]?.status, "failed");
    assert.deepEqual(f.pulls, []);
  });
});

describe("mirrors under --locked", () => {
  it("the registry down, the mirror's tag moved on: the mirror serves the locked digest, which it still holds", async () => {
    const clock = new FakeClock();
    const f = fakes(
      clock,
      (t) => (t.registry === MIRROR ? ok(t.digest ?? D2) : down),
      (r) => pulledAs(r.digest ?? D2),
    );
    const lock: LockCheck = { missing: () => undefined, moved: () => undefined, digest: () => D1 };
    const { images } = await run(clock, ["registry.example/app:1"], f, settings(), lock);
    assert.deepEqual(f.pulls, [`${MIRROR}/app@${D1}`]);
    assert.equal(images[0]?.source, "mirror");
    assert.equal(images[0]?.digest, D1);
  });
});
