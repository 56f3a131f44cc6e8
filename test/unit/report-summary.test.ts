import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { describeOutcome, formatBytes, formatDuration, formatSummary, oneLine, verdict } from "../../src/report/summary.js";
import type { Report } from "../../src/types.js";
import {
  allPulled,
  apiRetried,
  appFailedTransient,
  controlCharacters,
  deadlineReached,
  interruptedBySigint,
  mixed,
  redisPresent,
} from "../fixtures/reports.js";

describe("formatDuration", () => {
  const cases: [number, string][] = [
    [0, "0ms"],
    [850, "850ms"],
    [999.4, "999ms"],
    [999.6, "1.0s"],
    [1_000, "1.0s"],
    [12_345, "12.3s"],
    [59_940, "59.9s"],
    [59_960, "1m00s"],
    [125_000, "2m05s"],
    [3_599_400, "59m59s"],
    [3_599_600, "1h00m"],
    [3_725_000, "1h02m"],
    [-5, "0ms"],
    [Number.NaN, "0ms"],
  ];
  for (const [ms, expected] of cases) {
    it(`${ms} → ${expected}`, () => assert.equal(formatDuration(ms), expected));
  }
});

describe("formatBytes", () => {
  const cases: [number, string][] = [
    [0, "0 B"],
    [999, "999 B"],
    [1_000, "1.0 kB"],
    [1_234_567, "1.2 MB"],
    [999_949, "999.9 kB"],
    [999_960, "1.0 MB"],
    [72_431_104, "72.4 MB"],
    [5_368_709_120, "5.4 GB"],
    [-1, "0 B"],
  ];
  for (const [n, expected] of cases) {
    it(`${n} → ${expected}`, () => assert.equal(formatBytes(n), expected));
  }
});

describe("oneLine", () => {
  it("removes ANSI sequences and control characters and folds line breaks", () => {
    assert.equal(oneLine("\u001b[31mred\u001b[0m\r\n\tnext\u0000\u0007 line\u001b]0;title\u0007 end  "), "red next line end");
  });
});

describe("describeOutcome", () => {
  it("leads failures with their class and falls back to the last engine message", () => {
    assert.equal(describeOutcome(appFailedTransient), "transient: received unexpected HTTP status: 503 Service Unavailable");
    assert.equal(describeOutcome({ ...appFailedTransient, reason: undefined }), "transient: received unexpected HTTP status: 503 Service Unavailable");
    assert.equal(describeOutcome({ ...appFailedTransient, reason: undefined, attempts: [] }), "transient");
    assert.equal(describeOutcome(apiRetried), "");
    assert.equal(describeOutcome(redisPresent), "");
  });
});

describe("verdict", () => {
  it("lists non-zero counts in a fixed order, with the run time and any interruption", () => {
    assert.equal(verdict(mixed), "2 pulled, 1 present, 1 skipped, 1 failed in 31.2s");
    assert.equal(verdict(interruptedBySigint), "1 pulled, 3 failed in 5.9s (interrupted by SIGINT)");
    assert.equal(verdict({ ...interruptedBySigint, interrupted: "SIGTERM" }), "1 pulled, 3 failed in 5.9s (interrupted by SIGTERM)");
    assert.equal(verdict(deadlineReached), "1 failed in 30m00s (deadline reached)");
    assert.equal(verdict({ ...allPulled, images: [], durationMs: 40 }), "no images in 40ms");
  });
});

describe("formatSummary", () => {
  const expectedMixed = [
    "STATUS   IMAGE                                          ATTEMPTS   TIME  REASON",
    "pulled   docker.io/library/nginx:1.27                          1   4.2s",
    "pulled   ghcr.io/acme/api:2.3.1                                2   9.4s",
    "skipped  mcr.microsoft.com/windows/servercore:ltsc2022         1  310ms  no matching manifest for linux/amd64 in the manifest list entries",
    "present  docker.io/library/redis:7                             0   12ms",
    "failed   registry.example.com:5000/team/app:latest             5  31.0s  transient: received unexpected HTTP status: 503 Service Unavailable",
    "",
    "REGISTRY                   ATTEMPTS  FAILURES  GATE CLOSED",
    "docker.io                         1         0          0ms",
    "ghcr.io                           2         1          0ms",
    "mcr.microsoft.com                 1         1          0ms",
    "registry.example.com:5000         5         5        12.5s",
    "",
    "prepull: 2 pulled, 1 present, 1 skipped, 1 failed in 31.2s",
    "",
  ].join("\n");

  it("prints an aligned image table, a registry table and the verdict", () => {
    assert.equal(formatSummary(mixed), expectedMixed);
  });

  it("contains no control codes without color", () => {
    const nasty: Report = { ...mixed, images: [{ ...appFailedTransient, reason: "\u001b[1mbold\u001b[22m\u0007 and\rCR" }] };
    const text = formatSummary(nasty);
    assert.deepEqual(controlCharacters(text, "\n"), []);
    assert.match(text, /transient: bold and CR\n/);
  });

  it("colors only the status, keeping the columns aligned", () => {
    const colored = formatSummary(mixed, { color: true });
    const lines = colored.split("\n");
    assert.equal(lines[1], "\u001b[32mpulled\u001b[39m   docker.io/library/nginx:1.27                          1   4.2s");
    assert.equal(lines[3]?.slice(0, 20), "\u001b[33mskipped\u001b[39m  m");
    assert.equal(lines[5]?.slice(0, 20), "\u001b[31mfailed\u001b[39m   r");
    // Without the color codes the output is the plain one, character for character.
    const plain = ["\u001b[31m", "\u001b[32m", "\u001b[33m", "\u001b[39m"].reduce((text, code) => text.replaceAll(code, ""), colored);
    assert.equal(plain, expectedMixed);
  });

  it("prints the registry gate time and the interruption", () => {
    assert.equal(
      formatSummary(deadlineReached),
      [
        "STATUS  IMAGE                        ATTEMPTS    TIME  REASON",
        "failed  docker.io/bitnami/kafka:3.7         2  30m00s  deadline: run deadline of 30m00s reached",
        "",
        "REGISTRY   ATTEMPTS  FAILURES  GATE CLOSED",
        "docker.io         2         2       28m59s",
        "",
        "prepull: 1 failed in 30m00s (deadline reached)",
        "",
      ].join("\n"),
    );
  });

  it("prints only the verdict when there is nothing to list", () => {
    assert.equal(formatSummary({ ...allPulled, images: [], registries: [], durationMs: 850 }), "prepull: no images in 850ms\n");
  });
});
