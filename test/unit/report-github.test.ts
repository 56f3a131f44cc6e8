import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { annotations, escapeCell, escapeData, escapeProperty, groupEnd, groupStart, stepSummaryMarkdown } from "../../src/report/github.js";
import type { Report } from "../../src/types.js";
import { allPulled, appFailedTransient, controlCharacters, deadlineReached, interruptedBySigint, mixed, servercoreSkipped } from "../fixtures/reports.js";

describe("workflow command escaping", () => {
  it("escapes %, CR and LF in data, % first so escapes are not escaped twice", () => {
    assert.equal(escapeData("100%\r\ndone: a,b"), "100%25%0D%0Adone: a,b");
    assert.equal(escapeData("%0A"), "%250A");
  });

  it("also escapes : and , in properties", () => {
    assert.equal(escapeProperty("prepull: ghcr.io:443/a,b\n50%"), "prepull%3A ghcr.io%3A443/a%2Cb%0A50%25");
  });

  it("groups", () => {
    assert.equal(groupStart("Pulling 20 images"), "::group::Pulling 20 images");
    assert.equal(groupStart("evil\n::error::injected"), "::group::evil ::error::injected");
    assert.equal(groupEnd(), "::endgroup::");
  });
});

describe("annotations", () => {
  it("writes one error per failed image and one warning per skipped image, in report order", () => {
    assert.deepEqual(annotations(mixed), [
      "::warning title=prepull%3A mcr.microsoft.com/windows/servercore%3Altsc2022::skipped: no matching manifest for linux/amd64 in the manifest list entries",
      "::error title=prepull%3A registry.example.com%3A5000/team/app%3Alatest::transient: received unexpected HTTP status: 503 Service Unavailable (5 attempts)",
    ]);
  });

  it("writes nothing for a clean run", () => {
    assert.deepEqual(annotations(allPulled), []);
  });

  it("counts attempts in the singular and plural", () => {
    assert.deepEqual(annotations(interruptedBySigint), [
      "::error title=prepull%3A ghcr.io/acme/worker%3A2.3.1::aborted: interrupted by SIGINT (1 attempt)",
      "::error title=prepull%3A docker.io/library/postgres%3A16::aborted: interrupted by SIGINT before the first attempt (0 attempts)",
      "::error title=prepull%3A quay.io/prometheus/node-exporter%3Av1.8.2::aborted: interrupted by SIGINT before the first attempt (0 attempts)",
    ]);
  });

  it("cannot be broken out of by an engine message", () => {
    const report: Report = {
      ...mixed,
      images: [
        { ...appFailedTransient, reason: "boom 100%\n::add-mask::x\r\n::error::fake" },
        { ...servercoreSkipped, reason: "no\u001b[31m match\u0000" },
      ],
    };
    assert.deepEqual(annotations(report), [
      "::error title=prepull%3A registry.example.com%3A5000/team/app%3Alatest::transient: boom 100%25 ::add-mask::x ::error::fake (5 attempts)",
      "::warning title=prepull%3A mcr.microsoft.com/windows/servercore%3Altsc2022::skipped: no match",
    ]);
    for (const line of annotations(report)) assert.deepEqual(controlCharacters(line), []);
  });
});

describe("stepSummaryMarkdown", () => {
  it("renders heading, verdict, image table and registry table", () => {
    assert.equal(
      stepSummaryMarkdown(mixed),
      `## prepull

**Failed**: 2 pulled, 1 present, 1 skipped, 1 failed in 31.2s

| Image | Status | Attempts | Time | Reason |
| --- | --- | ---: | ---: | --- |
| docker.io/library/nginx:1.27 | pulled | 1 | 4.2s |  |
| ghcr.io/acme/api:2.3.1 | pulled | 2 | 9.4s |  |
| mcr.microsoft.com/windows/servercore:ltsc2022 | skipped | 1 | 310ms | no matching manifest for linux/amd64 in the manifest list entries |
| docker.io/library/redis:7 | present | 0 | 12ms |  |
| registry.example.com:5000/team/app:latest | failed | 5 | 31.0s | transient: received unexpected HTTP status: 503 Service Unavailable |

| Registry | Attempts | Failures | Gate closed |
| --- | ---: | ---: | ---: |
| docker.io | 1 | 0 | 0ms |
| ghcr.io | 2 | 1 | 0ms |
| mcr.microsoft.com | 1 | 1 | 0ms |
| registry.example.com:5000 | 5 | 5 | 12.5s |
`,
    );
  });

  it("says OK for a clean run and Incomplete for an interrupted one", () => {
    assert.equal(stepSummaryMarkdown(allPulled).split("\n")[2], "**OK**: 2 pulled in 9.5s");
    assert.equal(stepSummaryMarkdown(interruptedBySigint).split("\n")[2], "**Incomplete**: 1 pulled, 3 failed in 5.9s (interrupted by SIGINT)");
    assert.equal(stepSummaryMarkdown(deadlineReached).split("\n")[2], "**Incomplete**: 1 failed in 30m00s (deadline reached)");
  });

  it("leaves out the tables when there is nothing to list", () => {
    assert.equal(stepSummaryMarkdown({ ...allPulled, images: [], registries: [], durationMs: 4 }), "## prepull\n\n**OK**: no images in 4ms\n");
  });

  it("keeps a reason with pipes, line breaks and markup inside its cell", () => {
    const report: Report = { ...mixed, images: [{ ...appFailedTransient, reason: "a | b\nc <img src=x> & *d* _e_ `f` [g](h) \\|" }], registries: [] };
    assert.equal(
      stepSummaryMarkdown(report).split("\n").at(-2),
      "| registry.example.com:5000/team/app:latest | failed | 5 | 31.0s | transient: a \\| b c &lt;img src=x&gt; &amp; \\*d\\* \\_e\\_ \\`f\\` \\[g\\](h) \\\\\\| |",
    );
  });

  it("escapes cells", () => {
    assert.equal(escapeCell("x|y\r\nz~~s~~"), "x\\|y z\\~\\~s\\~\\~");
  });
});
