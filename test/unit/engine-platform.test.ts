// Platforms: how they are spelled, compared, configured (--platform, PULL_PLATFORM, compose
// `platform:`, the library option), handed to the engine with every image, and reported.
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import type { Engine, PullRequest } from "../../src/engine/engine.js";
import { formatPlatform, parsePlatform, platformMatches } from "../../src/engine/platform.js";
import { pullImages } from "../../src/index.js";
import { resolveSettings } from "../../src/policy/settings.js";
import { discoverComposeImages } from "../../src/sources/compose.js";

const spelled = (text: string) => {
  const parsed = parsePlatform(text);
  return parsed.ok ? formatPlatform(parsed.value) : `error: ${parsed.error}`;
};

describe("platform spelling", () => {
  it("normalizes the way containerd does", () => {
    assert.deepEqual(
      [
        "linux/amd64",
        "LINUX/AMD64",
        "linux/x86_64",
        "linux/aarch64",
        "linux/arm64/v8",
        "linux/arm/v7",
        "linux/armhf",
        "linux/armel",
        "windows/amd64",
        "linux/i386",
      ].map(spelled),
      ["linux/amd64", "linux/amd64", "linux/amd64", "linux/arm64", "linux/arm64", "linux/arm/v7", "linux/arm/v7", "linux/arm/v6", "windows/amd64", "linux/386"],
    );
  });

  it("rejects what is not os/arch[/variant], naming the text and the source", () => {
    assert.match(spelled("amd64"), /^error: --platform="amd64" is not a platform: it needs an OS and an architecture/);
    assert.match(spelled("linux//v7"), /each part must be a non-empty word/);
    assert.match(spelled("linux/arm/v7/extra"), /use os\/arch\[\/variant\]/);
  });

  it("matches what an engine reports: variant only when asked, arm64's v8 and arm's v7 implied", () => {
    const want = (text: string) => {
      const parsed = parsePlatform(text);
      assert.ok(parsed.ok);
      return parsed.value;
    };
    assert.equal(platformMatches({ os: "linux", architecture: "arm64", variant: "v8" }, want("linux/arm64")), true);
    assert.equal(platformMatches({ os: "linux", architecture: "arm64" }, want("linux/arm64/v8")), true);
    assert.equal(platformMatches({ os: "linux", architecture: "amd64" }, want("linux/arm64")), false);
    assert.equal(platformMatches({ os: "windows", architecture: "amd64" }, want("linux/amd64")), false);
    assert.equal(platformMatches({ os: "linux", architecture: "arm" }, want("linux/arm/v7")), true);
    assert.equal(platformMatches({ os: "linux", architecture: "arm", variant: "v6" }, want("linux/arm/v7")), false);
    assert.equal(platformMatches({ os: "linux", architecture: "arm", variant: "v6" }, want("linux/arm/v6")), true);
    assert.equal(platformMatches({}, want("linux/amd64")), false);
    // The engine's own platform has no variant: an arm/v7 engine holds a v6 image to os/arch only.
    assert.equal(platformMatches({ os: "linux", architecture: "arm", variant: "v6" }, want("linux/arm"), false), true);
  });
});

describe("platform settings", () => {
  it("reads PULL_PLATFORM and --platform (the flag wins), normalized; unset means the engine's own", () => {
    const env = resolveSettings({ PULL_PLATFORM: "linux/aarch64" });
    assert.ok(env.ok);
    assert.equal(env.value.platform, "linux/arm64");
    const flag = resolveSettings({ PULL_PLATFORM: "linux/aarch64" }, { platform: "linux/arm/v7" });
    assert.ok(flag.ok);
    assert.equal(flag.value.platform, "linux/arm/v7");
    const unset = resolveSettings({ PULL_PLATFORM: "" });
    assert.ok(unset.ok);
    assert.equal(unset.value.platform, undefined);
  });

  it("rejects a bad value, naming the variable or the flag", () => {
    const env = resolveSettings({ PULL_PLATFORM: "arm64" });
    assert.ok(!env.ok);
    assert.equal(env.error.source, "PULL_PLATFORM");
    assert.match(env.error.message, /^PULL_PLATFORM="arm64" is not a platform/);
    const flag = resolveSettings({}, { platform: "x" });
    assert.ok(!flag.ok);
    assert.match(flag.error.message, /^--platform="x" is not a platform/);
  });
});

describe("compose platform:", () => {
  it("travels with the service's image, normalized; a bad one names file and service", async () => {
    const dir = await mkdtemp(join(tmpdir(), "prepull-platform-"));
    try {
      const file = join(dir, "compose.yml");
      await writeFile(file, "services:\n  arm:\n    image: team/arm:1\n    platform: linux/aarch64\n  plain:\n    image: team/plain:1\n");
      const found = await discoverComposeImages([file], { env: {} });
      assert.ok(found.ok);
      assert.deepEqual(
        found.value.images.map((i) => [i.image, i.platform]),
        [
          ["team/arm:1", "linux/arm64"],
          ["team/plain:1", undefined],
        ],
      );
      await writeFile(file, "services:\n  arm:\n    image: team/arm:1\n    platform: arm64\n");
      const bad = await discoverComposeImages([file], { env: {} });
      assert.ok(!bad.ok);
      assert.match(bad.error.message, /compose\.yml: service "arm": platform="arm64" is not a platform/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("platform through a run", () => {
  function engineSeeing(platformOfPull: string | undefined) {
    const requests: PullRequest[] = [];
    const engine: Engine = {
      pull: async (request) => {
        requests.push(request);
        return { ok: true, bytes: 1, upToDate: false, ...(platformOfPull ? { platform: platformOfPull } : {}) };
      },
      hasImage: async () => false,
    };
    return { engine, requests };
  }

  it("hands PULL_PLATFORM to the engine with every image and reports the platform the engine pulled", async () => {
    const { engine, requests } = engineSeeing("linux/arm64");
    const report = await pullImages(["team/a:1", "team/b:1"], { engine, env: { PULL_PLATFORM: "linux/arm64", PULL_POLICY: "always" } });
    assert.deepEqual(
      requests.map((r) => r.reference.platform),
      ["linux/arm64", "linux/arm64"],
    );
    assert.equal(report.settings.platform, "linux/arm64");
    assert.deepEqual(
      report.images.map((i) => i.platform),
      ["linux/arm64", "linux/arm64"],
    );
  });

  it("checks a platform given in code like PULL_PLATFORM", async () => {
    const { engine } = engineSeeing(undefined);
    await assert.rejects(pullImages(["team/a:1"], { engine, env: {}, settings: { platform: "amd64" } }), /settings\.platform="amd64" is not a platform/);
    const report = await pullImages(["team/a:1"], { engine, env: { PULL_POLICY: "always" }, settings: { platform: "linux/x86_64" } });
    assert.equal(report.settings.platform, "linux/amd64");
    // Nothing asked, nothing reported by the engine: no platform in the report.
    const plain = await pullImages(["team/a:1"], { engine, env: { PULL_POLICY: "always" } });
    assert.equal(plain.images[0]?.platform, undefined);
  });
});
