import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { XMLValidator } from "fast-xml-parser";
import { junitParser, type JUnitSuite } from "../fixtures/validators.js";
import { attemptLine, escapeXmlAttribute, escapeXmlText, toJUnit } from "../../src/report/junit.js";
import type { ImageResult, Report } from "../../src/types.js";
import { allPulled, appFailedTransient, controlCharacters, deadlineReached, interruptedBySigint, mixed } from "../fixtures/reports.js";

const parser = junitParser;

type Suite = JUnitSuite;

function parse(report: Report): { suites: Record<string, string>; suite: Suite } {
  const xml = toJUnit(report);
  assert.equal(XMLValidator.validate(xml), true);
  const doc = parser.parse(xml) as { testsuites: Record<string, string> & { testsuite: Suite } };
  // trimValues is off so text content compares exactly; that leaves the indentation as "#text".
  const { testsuite, "#text": _indentation, ...suites } = doc.testsuites;
  return { suites, suite: testsuite };
}

describe("toJUnit", () => {
  it("starts with an XML declaration and ends with a newline", () => {
    const xml = toJUnit(allPulled);
    assert.ok(xml.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites '), xml.slice(0, 80));
    assert.ok(xml.endsWith("</testsuites>\n"));
  });

  it("counts tests, failures and skips on both levels", () => {
    const { suites, suite } = parse(mixed);
    const totals = { tests: "5", failures: "1", errors: "0", skipped: "2", time: "31.212" };
    assert.deepEqual(suites, { name: "prepull", ...totals });
    assert.deepEqual(
      { name: suite.name, tests: suite.tests, failures: suite.failures, errors: suite.errors, skipped: suite.skipped, time: suite.time },
      { name: "prepull", ...totals },
    );
    assert.equal(suite.timestamp, "2025-03-14T09:26:53.000Z");
    assert.equal(suite.properties, undefined);
  });

  it("has one test case per image, named by registry and normalized reference, timed in seconds", () => {
    const { suite } = parse(mixed);
    assert.deepEqual(
      suite.testcase?.map((c) => [c.classname, c.name, c.time]),
      [
        ["prepull.docker.io", "docker.io/library/nginx:1.27", "4.210"],
        ["prepull.ghcr.io", "ghcr.io/acme/api:2.3.1", "9.400"],
        ["prepull.mcr.microsoft.com", "mcr.microsoft.com/windows/servercore:ltsc2022", "0.310"],
        ["prepull.docker.io", "docker.io/library/redis:7", "0.012"],
        ["prepull.registry.example.com:5000", "registry.example.com:5000/team/app:latest", "31.040"],
      ],
    );
  });

  it("reports a failed image as a failure typed by its class, with the attempt log as text", () => {
    const failed = parse(mixed).suite.testcase?.[4];
    assert.deepEqual(failed?.failure, {
      message: "transient: received unexpected HTTP status: 503 Service Unavailable",
      type: "transient",
      "#text": [
        "transient: received unexpected HTTP status: 503 Service Unavailable (5 attempts)",
        'attempt 1: transient after 10.0s: Get "https://registry.example.com:5000/v2/": net/http: TLS handshake timeout',
        "attempt 2: transient after 820ms: received unexpected HTTP status: 502 Bad Gateway",
        "attempt 3: transient after 640ms: received unexpected HTTP status: 503 Service Unavailable",
        "attempt 4: transient after 655ms: received unexpected HTTP status: 503 Service Unavailable",
        "attempt 5: transient after 650ms: received unexpected HTTP status: 503 Service Unavailable",
      ].join("\n"),
    });
    assert.equal(failed?.skipped, undefined);
  });

  it("reports skipped-platform and present images as skipped, with a message", () => {
    const cases = parse(mixed).suite.testcase;
    assert.deepEqual(cases?.[2]?.skipped, { message: "no matching manifest for linux/amd64 in the manifest list entries" });
    assert.deepEqual(cases?.[3]?.skipped, { message: "already present on the engine" });
    assert.equal(cases?.[2]?.failure, undefined);
  });

  it("adds system-out only to pulls that needed retries", () => {
    const cases = parse(mixed).suite.testcase;
    assert.equal(cases?.[0]?.["system-out"], undefined);
    assert.equal(
      cases?.[1]?.["system-out"],
      "pulled after 2 attempts\nattempt 1: transient after 1.5s: received unexpected HTTP status: 503 Service Unavailable\nattempt 2: pulled after 6.9s",
    );
  });

  it("writes a first-try pull as an empty element", () => {
    assert.match(toJUnit(allPulled), /\n {4}<testcase classname="prepull.docker.io" name="docker.io\/library\/nginx:1.27" time="4.210"\/>\n/);
  });

  it("records an interruption as a suite property, and images that never started as failures", () => {
    const { suite } = parse(interruptedBySigint);
    assert.deepEqual(suite.properties?.property, [{ name: "interrupted", value: "SIGINT" }]);
    assert.equal(suite.failures, "3");
    assert.deepEqual(suite.testcase?.[2]?.failure, {
      message: "aborted: interrupted by SIGINT before the first attempt",
      type: "aborted",
      "#text": "aborted: interrupted by SIGINT before the first attempt (0 attempts)\nno attempt was made",
    });
  });

  it("marks attempts the outage gate absorbed", () => {
    const text = parse(deadlineReached).suite.testcase?.[0]?.failure?.["#text"] ?? "";
    assert.equal(
      text.split("\n")[1],
      "attempt 1: rate-limited after 930ms (absorbed by the outage gate): toomanyrequests: You have reached your pull rate limit. You may increase the limit by authenticating and upgrading: https://www.docker.com/increase-rate-limit",
    );
  });

  it("writes an empty suite for a run without images", () => {
    const { suites, suite } = parse({ ...allPulled, images: [], registries: [], durationMs: 3 });
    assert.equal(suites.tests, "0");
    assert.equal(suite.testcase, undefined);
  });

  it("keeps engine text with markup, quotes, control characters and emoji well-formed", () => {
    const nasty = `"quoted" <b>bold</b> & 'apos' ]]> bell\u0001\u0007 whale 🐳\r\nsecond line`;
    const image: ImageResult = {
      ...appFailedTransient,
      reason: nasty,
      attempts: [{ number: 1, startedAt: "2025-03-14T09:26:53.000Z", durationMs: 5, class: "transient", message: nasty }],
    };
    const report: Report = { ...mixed, images: [image] };
    const xml = toJUnit(report);
    assert.deepEqual(controlCharacters(xml, "\n"), []);
    assert.ok(xml.includes("&quot;quoted&quot; &lt;b&gt;bold&lt;/b&gt; &amp; &apos;apos&apos; ]]&gt; bell whale 🐳"));
    const failure = parse(report).suite.testcase?.[0]?.failure;
    const clean = `"quoted" <b>bold</b> & 'apos' ]]> bell whale 🐳 second line`;
    assert.equal(failure?.message, `transient: ${clean}`);
    assert.equal(failure?.["#text"], `transient: ${clean} (1 attempt)\nattempt 1: transient after 5ms: ${clean}`);
  });

  it("shortens a long failure message attribute but keeps the full reason in the text", () => {
    const reason = "x".repeat(300);
    const failure = parse({ ...mixed, images: [{ ...appFailedTransient, reason }] }).suite.testcase?.[0]?.failure;
    assert.equal(failure?.message, `transient: ${"x".repeat(188)}…`);
    assert.equal(failure?.message.length, 200);
    assert.ok(failure?.["#text"].startsWith(`transient: ${reason} (5 attempts)\n`));
  });
});

describe("XML escaping", () => {
  it("escapes the five markup characters in text", () => {
    assert.equal(escapeXmlText(`a & b < c > d " e ' f`), "a &amp; b &lt; c &gt; d &quot; e &apos; f");
  });

  it("drops characters XML 1.0 forbids, keeps tab, line feed, astral characters and encodes CR", () => {
    assert.equal(escapeXmlText("a\u0000b\u0001c\u001bd\u0008e\tf\ng\rh"), "abcde\tf\ng&#13;h");
    assert.equal(escapeXmlText("lone \ud800 surrogate \udfff, non-characters \ufffe\uffff"), "lone  surrogate , non-characters ");
    assert.equal(escapeXmlText("whale 🐳 café \u00a0 \ue000"), "whale 🐳 café \u00a0 \ue000");
  });

  it("encodes tab, line feed and CR in attributes so parsers do not fold them into spaces", () => {
    assert.equal(escapeXmlAttribute('a\tb\nc\rd"e'), "a&#9;b&#10;c&#13;d&quot;e");
  });

  it("formats one attempt line with class, duration and message", () => {
    assert.equal(
      attemptLine({ number: 3, startedAt: "2025-03-14T09:27:00.000Z", durationMs: 61_000, class: "stalled", message: "no progress\nfor 60s" }),
      "attempt 3: stalled after 1m01s: no progress for 60s",
    );
    assert.equal(attemptLine({ number: 1, startedAt: "2025-03-14T09:27:00.000Z", durationMs: 999, class: "pulled" }), "attempt 1: pulled after 999ms");
  });
});
