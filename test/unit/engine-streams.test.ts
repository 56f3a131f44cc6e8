// The stream parser, the success contract and the classifier on what engines really answered:
// streams recorded from podman 4.3 and dockerd 20.10 (test/fixtures/engine-streams, re-recorded by
// its record.ts), and Docker 29's containerd-store shapes modelled from moby's source.
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, it } from "node:test";
import { classify } from "../../src/classify/index.js";
import { confirmPull, engineError, streamOutcome } from "../../src/engine/client.js";
import { parsePullStream } from "../../src/engine/pull-stream.js";
import type { AttemptOutcome } from "../../src/engine/engine.js";
import type { Reference, FailureClass } from "../../src/types.js";
import type { RecordedStream } from "../fixtures/engine-streams/record.js";

const DIR = fileURLToPath(new URL("../fixtures/engine-streams/", import.meta.url));
const load = (engine: string): Map<string, RecordedStream> =>
  new Map(
    readdirSync(join(DIR, engine))
      .filter((f) => f.endsWith(".json"))
      .map((f) => [f.slice(0, -5), JSON.parse(readFileSync(join(DIR, engine, f), "utf8")) as RecordedStream]),
  );

const ref: Reference = {
  input: "127.0.0.1:5000/team/app:1",
  registry: "127.0.0.1:5000",
  repository: "team/app",
  tag: "1",
  canonical: "127.0.0.1:5000/team/app:1",
};
const AMD64 = { os: "linux", architecture: "amd64" } as const;
const shown = (architecture: string) => ({ ok: true as const, value: { id: "sha256:1", repoDigests: [], os: "linux", architecture } });

/** What the client makes of a recorded answer, before the inspect that confirms a success. */
function outcomeOf(recorded: RecordedStream): AttemptOutcome {
  if (recorded.httpStatus !== 200) return engineError(recorded.httpStatus, recorded.body, ref);
  return streamOutcome(parsePullStream(recorded.body));
}

function classOf(outcome: AttemptOutcome): FailureClass | "ok" {
  if (outcome.ok) return "ok";
  assert.equal(outcome.kind, "engine");
  return outcome.kind === "engine"
    ? classify({ message: outcome.message, ...(outcome.httpStatus !== undefined ? { httpStatus: outcome.httpStatus } : {}) }).class
    : "transient";
}

// Same scenario, same verdict, whatever the engine: that is what lets one scheduler drive both.
const EXPECTED: Record<string, FailureClass | "ok"> = {
  clean: "ok",
  "slow-layer": "ok",
  "unknown-tag": "permanent",
  "manifest-500": "transient",
  "blob-500": "transient",
  "manifest-401": "permanent",
  "manifest-403": "permanent",
  // Both engines: dockerd fails at once (its 429 is not retried), podman retries on its own and succeeds.
  "manifest-429-twice": "ok",
  "arm64-only": "skipped-platform",
  "two-platforms-arm64": "ok",
  "two-platforms-missing-variant": "skipped-platform",
};

for (const engine of ["podman", "dockerd"]) {
  describe(`recorded ${engine} streams`, () => {
    const recorded = load(engine);
    it("has every scenario recorded", () => assert.deepEqual([...recorded.keys()].sort(), Object.keys(EXPECTED).sort()));
    for (const [name, expected] of Object.entries(EXPECTED)) {
      const stream = recorded.get(name);
      if (!stream) continue;
      const want = engine === "dockerd" && name === "manifest-429-twice" ? "rate-limited" : expected;
      it(`${name}: ${want}`, () => assert.equal(classOf(outcomeOf(stream)), want));
    }
  });
}

describe("podman 4.3's stream shape", () => {
  const podman = load("podman");
  const body = (name: string) => podman.get(name)?.body ?? "";

  it("answers every failure with HTTP 200 and one error line, before any progress", () => {
    for (const [name, stream] of podman) {
      if (EXPECTED[name] === "ok") continue;
      assert.equal(stream.httpStatus, 200, name);
      assert.equal(body(name).trim().split("\n").length, 1, name);
      assert.ok(parsePullStream(body(name)).error, name);
    }
  });

  it("ends a success with 'Download complete' and the image id: no 'Pulling from', no 'Status:' line", () => {
    const state = parsePullStream(body("clean"));
    assert.equal(state.finished, false);
    assert.equal(state.error, undefined);
    assert.equal(state.lastStatus, "Download complete");
    assert.doesNotMatch(body("clean"), /Pulling from|"Status: |Waiting|Extracting|Retrying in/);
    // Evidence only: the engine must then show the image for the platform asked.
    assert.deepEqual(confirmPull(streamOutcome(state) as Extract<AttemptOutcome, { ok: true }>, shown("amd64"), AMD64, ref), {
      ok: true,
      bytes: 0,
      upToDate: false,
      platform: "linux/amd64",
    });
    const missing = confirmPull(streamOutcome(state) as Extract<AttemptOutcome, { ok: true }>, { ok: true, value: undefined }, AMD64, ref);
    assert.ok(!missing.ok);
  });

  it("counts bytes from its 'Downloading' lines (modelled from podman's compat handler: current/total per layer)", () => {
    const lines = [
      { status: "Pulling fs layer", progressDetail: {}, id: "0cb088307c5a" },
      { status: "Downloading", progressDetail: { current: 1_000_000, total: 3_000_000 }, progress: "[=>  ]", id: "0cb088307c5a" },
      { status: "Downloading", progressDetail: { current: 3_000_000, total: 3_000_000 }, progress: "[===]", id: "0cb088307c5a" },
      { status: "Download complete", progressDetail: {}, id: "0cb088307c5a" },
      { status: "Download complete", progressDetail: {}, id: "cafb9898d137" },
    ];
    const state = parsePullStream(lines.map((l) => JSON.stringify(l)).join("\n"));
    assert.equal(state.bytes, 3_000_000);
    assert.equal(state.error, undefined);
  });

  it("names a missing platform in its own words, classified as skipped", () => {
    assert.match(body("arm64-only"), /no image found in manifest list for architecture amd64, variant \\"\\", OS linux/);
    assert.equal(classify({ httpStatus: 200, message: parsePullStream(body("two-platforms-missing-variant")).error ?? "" }).rule, "no-image-in-manifest-list");
  });

  it("quotes a blob's registry status in its own words", () => {
    assert.equal(classify({ httpStatus: 200, message: parsePullStream(body("blob-500")).error ?? "" }).rule, "http-5xx");
  });
});

// Docker 29 with the containerd image store, modelled from moby daemon/containerd/image_pull.go and
// errors.go (translateRegistryError): we cannot run it here. Its failures before any progress come
// as real HTTP statuses (errdefs → 404, 401, 429 ...); registry errors read "error from registry: <message>",
// and the containerd cause is appended after ": ".
describe("Docker 29 (containerd image store) shapes", () => {
  const rows: Array<{ status: number; message: string; class: FailureClass; rule?: string }> = [
    {
      status: 404,
      message: "no matching manifest for linux/amd64 in the manifest list entries: no match for platform in manifest: not found",
      class: "skipped-platform",
      rule: "no-matching-manifest",
    },
    {
      status: 404,
      message: "no matching manifest for linux/arm/v7 in the manifest list entries: no match for platform in manifest: not found",
      class: "skipped-platform",
      rule: "no-matching-manifest",
    },
    {
      status: 404,
      message: "pull access denied for team/app, repository does not exist or may require 'docker login'",
      class: "permanent",
      rule: "pull-access-denied",
    },
    { status: 404, message: "error from registry: manifest unknown", class: "permanent", rule: "manifest-unknown" },
    { status: 401, message: "error from registry: authentication required - token has expired", class: "permanent", rule: "auth-required" },
    { status: 403, message: "error from registry: requested access to the resource is denied", class: "permanent", rule: "denied" },
    {
      status: 429,
      message: "error from registry: You have reached your unauthenticated pull rate limit. https://www.docker.com/increase-rate-limit",
      class: "rate-limited",
      rule: "pull-rate-limit",
    },
    // A registry that words its 429 its own way: the status carries it.
    { status: 429, message: "error from registry: Rate exceeded", class: "rate-limited", rule: "status-429" },
    { status: 503, message: "error from registry: service unavailable", class: "transient", rule: "status-5xx" },
    {
      status: 500,
      message: "unknown: unexpected status from HEAD request to https://registry.local/v2/team/app/manifests/1: 502 Bad Gateway",
      class: "transient",
      rule: "http-5xx",
    },
    // In the stream, after progress: containerd's blob reader names the URL before the status.
    {
      status: 200,
      message:
        "failed to copy: httpReadSeeker: failed open: unexpected status code https://registry.local/v2/team/app/blobs/sha256:0123: 503 Service Unavailable",
      class: "transient",
      rule: "http-5xx",
    },
    {
      status: 200,
      message: "failed to copy: httpReadSeeker: failed open: content at https://registry.local/v2/team/app/blobs/sha256:0123 not found: not found",
      class: "permanent",
      rule: "not-found",
    },
    {
      status: 200,
      message: "failed to copy: read tcp 10.0.0.2:4312->10.0.0.5:443: read: connection reset by peer",
      class: "transient",
      rule: "connection-reset",
    },
  ];
  for (const row of rows) {
    it(`${row.status} ${JSON.stringify(row.message)} → ${row.class}`, () => {
      const got = classify({ httpStatus: row.status, message: row.message });
      assert.equal(got.class, row.class);
      if (row.rule) assert.equal(got.rule, row.rule);
    });
  }

  it("keeps the stream's final line as evidence: Digest then Status, as on the classic store", () => {
    const text = [
      { status: "Pulling from team/app", id: "1" },
      { status: "Pulling fs layer", progressDetail: {}, id: "70f5ac315c5a" },
      { status: "Downloading", progressDetail: { current: 3190, total: 3190 }, id: "70f5ac315c5a" },
      { status: "Download complete", progressDetail: {}, id: "70f5ac315c5a" },
      { status: "Extracting", progressDetail: { current: 3190, total: 3190 }, id: "70f5ac315c5a" },
      { status: "Pull complete", progressDetail: {}, id: "70f5ac315c5a" },
      { status: "Digest: sha256:4f53e2564790c8e7856ec08e384732aa38dc43c52f02952483e3f003afbf23db" },
      { status: "Status: Downloaded newer image for team/app:1" },
    ]
      .map((l) => JSON.stringify(l))
      .join("\n");
    const outcome = streamOutcome(parsePullStream(text));
    assert.deepEqual(outcome, { ok: true, digest: "sha256:4f53e2564790c8e7856ec08e384732aa38dc43c52f02952483e3f003afbf23db", bytes: 3190, upToDate: false });
    // ... and still only evidence: an image of another platform is not a success.
    const wrong = confirmPull(outcome as Extract<AttemptOutcome, { ok: true }>, shown("arm64"), AMD64, ref);
    assert.ok(!wrong.ok && wrong.kind === "engine");
    assert.equal(classify({ httpStatus: 200, message: wrong.message }).class, "skipped-platform");
  });
});
