// The lock file (issue 12): its format written and read back, every validation error with its
// line, and --locked at run time with a scripted engine and registry on a fake clock: pulls by
// digest then tags, fails what the lock misses or what moved, and --lock's choice of digests.
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { parseCliArgs } from "../../src/cli/args.js";
import { FakeClock } from "../../src/clock/fake.js";
import type { AttemptOutcome, Engine, PullRequest } from "../../src/engine/engine.js";
import { tagQuery } from "../../src/engine/client.js";
import { formatLock, formatLockErrors, parseLock, type LockFile } from "../../src/lock/lock-file.js";
import { lockCheck, lockedEngine, lockEntries, readLockFile } from "../../src/lock/locked.js";
import { resolveSettings } from "../../src/policy/settings.js";
import { watchAttempt } from "../../src/policy/watchdog.js";
import type { ManifestResult, RegistryClient } from "../../src/registry/index.js";
import { schedule } from "../../src/run/scheduler.js";
import type { ImageResult, Reference, Report, Settings } from "../../src/types.js";
import { ref } from "../fixtures/values.js";

const A = `sha256:${"a".repeat(64)}`;
const B = `sha256:${"b".repeat(64)}`;
const C = `sha256:${"c".repeat(64)}`;
const HEADER = "# prepull-lock v1";

const lockOf = (text: string): LockFile => {
  const parsed = parseLock(text);
  assert.ok(parsed.ok, JSON.stringify(parsed));
  return parsed.value;
};

const errorsOf = (text: string) => {
  const parsed = parseLock(text);
  assert.ok(!parsed.ok, "expected the lock to be refused");
  return parsed.error;
};

describe("lock file format", () => {
  it("writes the header, the images sorted by reference, then the unlocked ones as comments, and reads them back", () => {
    const text = formatLock(
      [
        { reference: "docker.io/library/nginx:1.27", digest: B },
        { reference: "docker.io/library/alpine:3.20", digest: A },
      ],
      [{ reference: "ghcr.io/org/app:1", why: "failed: permanent\nsecond line" }],
    );
    const lines = text.split("\n");
    assert.equal(lines[0], HEADER);
    assert.deepEqual(
      lines.filter((l) => !l.startsWith("#") && l !== ""),
      [`docker.io/library/alpine:3.20 ${A}`, `docker.io/library/nginx:1.27 ${B}`],
    );
    assert.ok(lines.includes("# not locked: ghcr.io/org/app:1 (failed: permanent second line)"), text);
    assert.ok(text.endsWith("\n"));
    const lock = lockOf(text);
    assert.deepEqual(
      [...lock.entries.values()].map((e) => [e.reference.canonical, e.digest, e.line]),
      [
        ["docker.io/library/alpine:3.20", A, 4],
        ["docker.io/library/nginx:1.27", B, 5],
      ],
    );
    assert.deepEqual([...lock.unlocked], [["ghcr.io/org/app:1", 6]]);
  });

  it("the same inputs in another order give the same file (a diff shows only real changes)", () => {
    const images = [
      { reference: "b.io/x:1", digest: A },
      { reference: "a.io/y:1", digest: B },
    ];
    assert.equal(formatLock(images, []), formatLock([...images].reverse(), []));
  });

  it("accepts CRLF, a BOM, blank lines, comments, extra spaces and references as users write them", () => {
    const lock = lockOf(`\uFEFF${HEADER}\r\n\r\n# a comment\r\n  nginx:1.27   ${A}  \r\nalpine@${B} ${B}\r\n`);
    assert.deepEqual([...lock.entries.keys()], ["docker.io/library/nginx:1.27", `docker.io/library/alpine@${B}`]);
  });

  it("refuses a file without the header, and a format it does not read, on line 1", () => {
    assert.deepEqual(errorsOf(`nginx:1 ${A}\n`), [
      { line: 1, message: 'not a prepull lock file: the first line must be "# prepull-lock v1" (write the file with prepull --lock)' },
    ]);
    assert.deepEqual(errorsOf(""), [
      { line: 1, message: 'not a prepull lock file: the first line must be "# prepull-lock v1" (write the file with prepull --lock)' },
    ]);
    assert.match(errorsOf("# prepull-lock v2\n")[0]?.message ?? "", /format v2 is not the v1 this prepull reads: upgrade prepull/);
  });

  it("names the line of every bad entry: fields, reference, digest, a duplicate, a digest that contradicts the reference", () => {
    const errors = errorsOf(
      [
        HEADER,
        `nginx:1.27`,
        `Nginx:1 ${A}`,
        `nginx:2 sha256:abc`,
        `nginx:3 ${A} extra`,
        `alpine:1 ${A}`,
        `docker.io/library/alpine:1 ${B}`,
        `redis@${A} ${B}`,
        "",
      ].join("\n"),
    );
    assert.deepEqual(
      errors.map((e) => e.line),
      [2, 3, 4, 5, 7, 8],
    );
    assert.match(errors[0]?.message ?? "", /expected "REFERENCE DIGEST".* found 1 field:/);
    assert.match(errors[1]?.message ?? "", /invalid image reference "Nginx:1": .*lowercase/);
    assert.match(errors[2]?.message ?? "", /invalid digest for docker.io\/library\/nginx:2: sha256 digest must be exactly 64/);
    assert.match(errors[3]?.message ?? "", /found 3 fields/);
    assert.equal(errors[4]?.message, "docker.io/library/alpine:1 is already locked on line 6: each image may appear once");
    assert.match(errors[5]?.message ?? "", /names the digest sha256:a+ but is locked to sha256:b+/);
    assert.equal(formatLockErrors("ci/prepull.lock", errors.slice(0, 1)), `ci/prepull.lock:2: ${errors[0]?.message}`);
  });

  it("shows at most 20 errors of a file that is not a lock at all", () => {
    assert.equal(errorsOf([HEADER, ...Array.from({ length: 50 }, () => "garbage")].join("\n")).length, 20);
  });
});

describe("readLockFile", () => {
  it("reads a valid file, and names the file (and line) of a missing, directory or invalid one", async () => {
    const dir = await mkdtemp(join(tmpdir(), "prepull-lock-"));
    try {
      const good = join(dir, "good.lock");
      await writeFile(good, `${HEADER}\nnginx:1 ${A}\n`);
      const read = await readLockFile(good);
      assert.ok(read.ok);
      assert.equal(read.value.entries.get("docker.io/library/nginx:1")?.digest, A);
      const missing = await readLockFile(join(dir, "nope.lock"));
      assert.deepEqual(missing, {
        ok: false,
        error: `cannot read the lock file ${JSON.stringify(join(dir, "nope.lock"))}: no such file (write it first with prepull --lock)`,
      });
      const directory = await readLockFile(dir);
      assert.ok(!directory.ok && directory.error.endsWith("it is a directory"));
      const bad = join(dir, "bad.lock");
      await writeFile(bad, `${HEADER}\nnginx:1\n`);
      const invalid = await readLockFile(bad);
      assert.ok(!invalid.ok);
      assert.match(invalid.error, new RegExp(`^invalid lock file ".*bad.lock":\\n.*bad\\.lock:2: expected "REFERENCE DIGEST"`));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("--lock and --locked on the command line", () => {
  it("take a path each, cannot be combined, and share no path with another output", () => {
    const parsed = parseCliArgs(["--lock", "p.lock", "nginx"]);
    assert.ok(parsed.ok && parsed.value.lock === "p.lock" && parsed.value.locked === undefined);
    const locked = parseCliArgs(["--locked=p.lock", "nginx"]);
    assert.ok(locked.ok && locked.value.locked === "p.lock");
    const both = parseCliArgs(["--lock", "a", "--locked", "b"]);
    assert.ok(!both.ok && /--lock and --locked cannot be used together/.test(both.error));
    const clash = parseCliArgs(["--locked", "p.lock", "--json", "./p.lock"]);
    assert.ok(!clash.ok && /--json and --locked name the same file/.test(clash.error), JSON.stringify(clash));
  });
});

describe("lockCheck", () => {
  const lock = lockOf([HEADER, `nginx:1 ${A}`, `redis@${B} ${B}`, "# not locked: ghcr.io/org/app:1 (failed: permanent)", ""].join("\n"));
  const check = lockCheck(lock, "ci/prepull.lock");

  it("an image missing from the lock fails, naming the file and why", () => {
    assert.equal(check.missing(ref("nginx:1")), undefined);
    assert.equal(check.missing(ref(`redis@${B}`)), undefined);
    const missing = check.missing(ref("nginx:2"));
    assert.equal(missing?.rule, "lock-missing");
    assert.equal(missing?.status, "failed");
    assert.match(
      missing?.reason ?? "",
      /^docker.io\/library\/nginx:2 is not in the lock file ci\/prepull.lock: the image list changed since the lock was written/,
    );
    assert.match(check.missing(ref("ghcr.io/org/app:1"))?.reason ?? "", /could not lock it \(line 4 says why\)/);
  });

  it("a tag that names another digest now fails, naming both; the same digest, or a digest reference, passes", () => {
    assert.equal(check.moved(ref("nginx:1"), A), undefined);
    assert.equal(check.moved(ref(`redis@${B}`), C), undefined);
    const moved = check.moved(ref("nginx:1"), C);
    assert.equal(moved?.rule, "lock-tag-moved");
    assert.ok(moved?.reason.startsWith(`tag moved from ${A} to ${C}: ci/prepull.lock line 2 locks docker.io/library/nginx:1`), moved?.reason);
  });
});

/** An engine that records pulls and tags; its image store is a map of name → RepoDigests. */
function recordingEngine(options: { tag?: "ok" | "fails" | "absent"; pull?: AttemptOutcome } = {}) {
  const pulls: string[] = [];
  const tags: Array<[string, string]> = [];
  const repoDigests = new Map<string, string[]>();
  const engine: Engine = {
    async pull(request: PullRequest) {
      pulls.push(request.reference.canonical);
      return options.pull ?? { ok: true, bytes: 10, upToDate: false, digest: request.reference.digest ?? A };
    },
    hasImage: async (reference) => repoDigests.has(reference.canonical),
    repoDigests: async (reference) => repoDigests.get(reference.canonical),
    ...(options.tag === "absent"
      ? {}
      : {
          tag: async (source: string, target: Reference) => {
            tags.push([source, target.canonical]);
            return options.tag === "fails" ? { ok: false as const, error: "no such image" } : { ok: true as const, value: undefined };
          },
        }),
  };
  return { engine, pulls, tags, repoDigests };
}

const signal = new AbortController().signal;

describe("lockedEngine", () => {
  const lock = lockOf(`${HEADER}\nnginx:1 ${B}\n`);

  it("pulls a locked tag by its digest, then names it with the tag", async () => {
    const { engine, pulls, tags } = recordingEngine();
    const outcome = await lockedEngine(engine, lock).pull({ reference: ref("nginx:1"), signal });
    assert.deepEqual(pulls, [`docker.io/library/nginx@${B}`]);
    assert.deepEqual(tags, [[`docker.io/library/nginx@${B}`, "docker.io/library/nginx:1"]]);
    assert.ok(outcome.ok && outcome.digest === B);
  });

  it("an image the lock does not name passes through untouched", async () => {
    const { engine, pulls, tags } = recordingEngine();
    await lockedEngine(engine, lock).pull({ reference: ref("redis:7"), signal });
    assert.deepEqual([pulls, tags], [["docker.io/library/redis:7"], []]);
  });

  it("a tag the engine refuses, or an engine that cannot tag, fails the attempt saying so", async () => {
    const failing = await lockedEngine(recordingEngine({ tag: "fails" }).engine, lock).pull({ reference: ref("nginx:1"), signal });
    assert.ok(!failing.ok && failing.kind === "engine");
    assert.equal(failing.message, `pulled docker.io/library/nginx@${B} but could not name it docker.io/library/nginx:1: no such image`);
    const absent = await lockedEngine(recordingEngine({ tag: "absent" }).engine, lock).pull({ reference: ref("nginx:1"), signal });
    assert.ok(!absent.ok && absent.kind === "engine" && /cannot tag images/.test(absent.message));
  });

  it("present means the local tag already names the locked digest", async () => {
    const { engine, repoDigests } = recordingEngine();
    const locked = lockedEngine(engine, lock);
    repoDigests.set("docker.io/library/nginx:1", [`nginx@${A}`]);
    assert.equal(await locked.hasImage(ref("nginx:1")), false);
    repoDigests.set("docker.io/library/nginx:1", [`nginx@${A}`, `nginx@${B}`]);
    assert.equal(await locked.hasImage(ref("nginx:1")), true);
    // The engine's own answer (which holds the image to the platform asked) still decides first.
    const arm = { os: "linux", architecture: "arm64" };
    const platforms: unknown[] = [];
    const picky = lockedEngine({ ...engine, hasImage: async (_r, _s, platform) => (platforms.push(platform), false) }, lock);
    assert.equal(await picky.hasImage(ref("nginx:1"), undefined, arm), false);
    assert.deepEqual(platforms, [arm]);
  });
});

describe("lockedEngine passes the rest through", () => {
  it("keeps the engine's other members, and a class engine's `this`", async () => {
    class ClassEngine implements Engine {
      readonly platform = { os: "linux", architecture: "arm64" };
      private readonly insecure = ["127.0.0.1:5000"];
      pull = async (): Promise<AttemptOutcome> => ({ ok: true, bytes: 0, upToDate: true });
      async hasImage() {
        return false;
      }
      async registryConfig() {
        return { insecure: this.insecure, mirrors: [] };
      }
    }
    const wrapped = lockedEngine(new ClassEngine(), lockOf(`${HEADER}\n`));
    assert.deepEqual(wrapped.platform, { os: "linux", architecture: "arm64" });
    assert.deepEqual(await wrapped.registryConfig?.(), { insecure: ["127.0.0.1:5000"], mirrors: [] });
    assert.equal(wrapped.tag, undefined);
    assert.equal(wrapped.repoDigests, undefined);
  });
});

describe("tagQuery", () => {
  it("names the repository with its registry, and the tag (latest by default)", () => {
    assert.equal(tagQuery(ref("127.0.0.1:5000/team/app:1.2")), "repo=127.0.0.1%3A5000%2Fteam%2Fapp&tag=1.2");
    assert.equal(tagQuery(ref("nginx")), "repo=docker.io%2Flibrary%2Fnginx&tag=latest");
  });
});

describe("lockEntries", () => {
  const result = (reference: string, extra: Partial<ImageResult>): ImageResult => ({
    input: reference,
    reference,
    registry: "docker.io",
    status: "pulled",
    class: "pulled",
    bytes: 0,
    durationMs: 0,
    attempts: [],
    ...extra,
  });

  it("locks the registry's digest first, then the engine's, then a present image's RepoDigests, and a skipped image the registry named; lists the rest as not locked", async () => {
    const { engine, repoDigests } = recordingEngine();
    repoDigests.set("docker.io/library/present:1", [`present@${C}`, `other@${A}`]);
    repoDigests.set("docker.io/library/built:1", []);
    const report = {
      images: [
        result("docker.io/library/both:1", { resolvedDigest: A, digest: B }),
        result("docker.io/library/engine:1", { digest: B }),
        result("docker.io/library/present:1", { status: "present", class: "present" }),
        result("docker.io/library/built:1", { status: "present", class: "present" }),
        result("docker.io/library/broken:1", { status: "failed", class: "permanent", resolvedDigest: A }),
        result("docker.io/library/armonly:1", { status: "skipped", class: "skipped-platform", resolvedDigest: C }),
        result("docker.io/library/armonly:2", { status: "skipped", class: "skipped-platform" }),
      ],
    } as unknown as Report;
    const { locked, unlocked } = await lockEntries(report, engine);
    assert.deepEqual(locked, [
      { reference: "docker.io/library/both:1", digest: A },
      { reference: "docker.io/library/engine:1", digest: B },
      { reference: "docker.io/library/present:1", digest: C },
      { reference: "docker.io/library/armonly:1", digest: C },
    ]);
    assert.deepEqual(unlocked, [
      { reference: "docker.io/library/built:1", why: "present, but the engine has no registry digest for it (built locally?)" },
      { reference: "docker.io/library/broken:1", why: "failed: permanent" },
      { reference: "docker.io/library/armonly:2", why: "skipped: skipped-platform" },
    ]);
  });

  it("an engine that fails to say one image's digest is not asked again for the next", async () => {
    let asked = 0;
    const engine: Engine = {
      pull: async () => ({ ok: true, bytes: 0, upToDate: true }),
      hasImage: async () => true,
      repoDigests: async () => {
        asked++;
        throw new Error("engine unreachable: connection refused");
      },
    };
    const present = (reference: string) => result(reference, { status: "present", class: "present" });
    const report = { images: [present("docker.io/library/a:1"), present("docker.io/library/b:1")] } as unknown as Report;
    const { locked, unlocked } = await lockEntries(report, engine);
    assert.equal(asked, 1);
    assert.deepEqual(locked, []);
    assert.deepEqual(
      unlocked.map((u) => u.why),
      [
        "present, but the engine could not say its digest (engine unreachable: connection refused)",
        "present, but the engine was not asked its digest (it failed to answer for an earlier image)",
      ],
    );
  });
});

describe("--locked in the scheduler", () => {
  const settings = (): Settings => {
    const s = resolveSettings({ PULL_POLICY: "always" });
    assert.ok(s.ok);
    return s.value;
  };
  const registry = (current: Record<string, string>): RegistryClient => ({
    ping: async () => ({ kind: "ok", auth: "none" }),
    resolveManifest: async (target): Promise<ManifestResult> => ({ kind: "ok", digest: current[target.repository] ?? A, isIndex: false, via: "head" }),
    platformsOf: async () => ({ kind: "ok" }),
    lastQuota: () => undefined,
    close: () => undefined,
  });
  const run = async (images: string[], lockText: string, client?: RegistryClient) => {
    const lock = lockOf(lockText);
    const recorded = recordingEngine();
    const clock = new FakeClock();
    const result = await clock.run(
      schedule(images.map(ref), {
        engine: lockedEngine(recorded.engine, lock),
        ...(client ? { registry: client } : {}),
        lock: lockCheck(lock, "p.lock"),
        settings: settings(),
        clock,
        random: () => 0.5,
        watchAttempt,
      }),
      600_000,
    );
    return { ...recorded, images: result.images };
  };

  it("an image missing from the lock fails without an engine request; the locked one is pulled by digest and tagged", async () => {
    const { images, pulls, tags } = await run(["127.0.0.1:5000/a:1", "127.0.0.1:5000/b:1"], `${HEADER}\n127.0.0.1:5000/a:1 ${B}\n`);
    assert.deepEqual(
      images.map((i) => [i.reference, i.status, i.class, i.rule ?? ""]),
      [
        ["127.0.0.1:5000/a:1", "pulled", "pulled", ""],
        ["127.0.0.1:5000/b:1", "failed", "permanent", "lock-missing"],
      ],
    );
    assert.equal(images[0]?.digest, B);
    assert.deepEqual(pulls, [`127.0.0.1:5000/a@${B}`]);
    assert.deepEqual(tags, [[`127.0.0.1:5000/a@${B}`, "127.0.0.1:5000/a:1"]]);
  });

  it("a tag that moved in the registry fails before any pull, naming both digests; an unmoved one is pulled", async () => {
    const lockText = `${HEADER}\n127.0.0.1:5000/moved:1 ${A}\n127.0.0.1:5000/still:1 ${B}\n`;
    const { images, pulls } = await run(["127.0.0.1:5000/moved:1", "127.0.0.1:5000/still:1"], lockText, registry({ moved: C, still: B }));
    assert.deepEqual(
      images.map((i) => [i.status, i.rule ?? ""]),
      [
        ["failed", "lock-tag-moved"],
        ["pulled", ""],
      ],
    );
    assert.match(images[0]?.reason ?? "", new RegExp(`^tag moved from ${A} to ${C}`));
    assert.equal(images[0]?.resolvedDigest, C);
    assert.deepEqual(pulls, [`127.0.0.1:5000/still@${B}`]);
  });
});
