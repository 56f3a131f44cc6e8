// JUnit XML, so CI systems that already render test results (GitLab, Jenkins, GitHub test-report
// actions) show each image as a test case: failed images as failures, skipped and present images
// as skipped, with the per-attempt log where a person will look for it.
import { maskSecrets } from "../secrets.js";
import type { AttemptRecord, ImageResult, Report } from "../types.js";
import { clip } from "./limits.js";
import { countStatuses, describeOutcome, formatDuration, oneLine, plural, reasonOf } from "./summary.js";

/** Longest failure message attribute; the full story is in the element text. */
const SHORT_REASON_CHARS = 200;

// Characters XML 1.0 forbids outright. A single one (a stray \u0001 in an engine message, a lone
// surrogate) makes the whole file unparseable, so they are removed rather than escaped.
const ILLEGAL_XML_CHARS = /[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\u{10000}-\u{10ffff}]/gu;

const ENTITIES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&apos;",
  // A literal CR would be normalized away by parsers.
  "\r": "&#13;",
};

/** Text content: secrets masked, markup characters escaped, illegal characters dropped, line feeds kept. */
export function escapeXmlText(text: string): string {
  return maskSecrets(maskSecrets(text).replace(ILLEGAL_XML_CHARS, "")).replace(/[&<>"'\r]/g, (c) => ENTITIES[c] ?? c);
}

/** Attribute value: as text, and tabs and line feeds encoded, since parsers turn literal ones into spaces. */
export function escapeXmlAttribute(text: string): string {
  return escapeXmlText(text).replace(/\t/g, "&#9;").replace(/\n/g, "&#10;");
}

function attributes(pairs: Readonly<Record<string, string | number>>): string {
  return Object.entries(pairs)
    .map(([name, value]) => ` ${name}="${escapeXmlAttribute(String(value))}"`)
    .join("");
}

function seconds(ms: number): string {
  return (Math.max(0, ms) / 1000).toFixed(3);
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** "attempt 2: transient after 1.5s: received unexpected HTTP status: 503 Service Unavailable". */
export function attemptLine(attempt: AttemptRecord): string {
  const absorbed = attempt.absorbed ? " (absorbed by the outage gate)" : "";
  const message = attempt.message === undefined ? "" : clip(oneLine(attempt.message));
  const via = attempt.mirror === undefined ? "" : ` (mirror ${attempt.mirror}: spent no attempt)`;
  return `attempt ${attempt.number}${via}: ${attempt.class} after ${formatDuration(attempt.durationMs)}${absorbed}${message === "" ? "" : `: ${message}`}`;
}

function attemptLog(image: ImageResult): string {
  if (image.attempts.length === 0) return "no attempt was made";
  return image.attempts.map(attemptLine).join("\n");
}

function skippedMessage(image: ImageResult): string {
  const reason = reasonOf(image);
  if (reason !== "") return reason;
  return image.status === "present" ? "already present on the engine" : "no image for this platform";
}

function testcase(image: ImageResult): string[] {
  const lines = testcaseLines(image);
  if (image.source === undefined) return lines;
  // Which source served the image, as a testcase property (read by GitLab, Jenkins and most JUnit viewers).
  const property = ["      <properties>", `        <property${attributes({ name: "source", value: image.source })}/>`, "      </properties>"];
  const first = lines[0] ?? "";
  return first.endsWith("/>") ? [`${first.slice(0, -2)}>`, ...property, "    </testcase>"] : [first, ...property, ...lines.slice(1)];
}

function testcaseLines(image: ImageResult): string[] {
  const open = `    <testcase${attributes({
    classname: `prepull.${image.registry}`,
    name: image.reference,
    time: seconds(image.durationMs),
  })}`;
  switch (image.status) {
    case "failed": {
      const message = truncate(describeOutcome(image), SHORT_REASON_CHARS);
      const body = `${describeOutcome(image)} (${plural(image.attempts.length, "attempt")})\n${attemptLog(image)}`;
      return [`${open}>`, `      <failure${attributes({ message, type: image.class })}>${escapeXmlText(body)}</failure>`, "    </testcase>"];
    }
    case "skipped":
    case "present":
      return [`${open}>`, `      <skipped${attributes({ message: skippedMessage(image) })}/>`, "    </testcase>"];
    case "pulled":
      // A first-try pull needs no explanation; a pull that needed retries shows why it was slow.
      if (image.attempts.length <= 1 && image.mirror === undefined) return [`${open}/>`];
      return [
        `${open}>`,
        `      <system-out>${escapeXmlText(`pulled${image.mirror !== undefined ? ` from mirror ${image.mirror}` : ""} after ${plural(image.attempts.length, "attempt")}\n${attemptLog(image)}`)}</system-out>`,
        "    </testcase>",
      ];
  }
}

/** The report as a JUnit XML document with one test suite and one test case per image. */
export function toJUnit(report: Report): string {
  const counts = countStatuses(report.images);
  const totals = {
    tests: report.images.length,
    failures: counts.failed,
    errors: 0,
    skipped: counts.skipped + counts.present,
    time: seconds(report.durationMs),
  };
  const properties =
    report.interrupted === undefined
      ? []
      : ["    <properties>", `      <property${attributes({ name: "interrupted", value: report.interrupted })}/>`, "    </properties>"];
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites${attributes({ name: "prepull", ...totals })}>`,
    `  <testsuite${attributes({ name: "prepull", ...totals, timestamp: report.startedAt })}>`,
    ...properties,
    ...report.images.flatMap(testcase),
    "  </testsuite>",
    "</testsuites>",
  ];
  return `${lines.join("\n")}\n`;
}
