// Every report writer against hostile content: secrets the engine quoted back, a 2 MB error line,
// a digest and byte counts outside the schema, and text that would act on a terminal or a CI
// runner. Masking and bounds are asserted on the writers' real output.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { annotations, stepSummaryMarkdown } from "../../src/report/github.js";
import { toJson } from "../../src/report/json.js";
import { toJUnit } from "../../src/report/junit.js";
import { clip, foreign, MESSAGE_LIMIT, STEP_SUMMARY_LIMIT } from "../../src/report/limits.js";
import { applyEvent, initialView, renderView } from "../../src/report/live-view.js";
import { formatLogLine } from "../../src/report/log-lines.js";
import { formatSummary, terminalSafe } from "../../src/report/summary.js";
import { MASK, registerSecret, SecretMasker, secrets } from "../../src/secrets.js";
import type { ImageResult, PullEvent, Report } from "../../src/types.js";
import { compileReportSchema, parseJUnit } from "../fixtures/validators.js";
import { appFailedTransient, failedAfterRetries } from "../fixtures/reports.js";

const PASSWORD = 'pa"ss\\word-hardening';
const TOKEN = "tok-hardening-0123456789";
registerSecret(PASSWORD);
registerSecret(TOKEN);
const header = Buffer.from(JSON.stringify({ username: "u", password: PASSWORD, serveraddress: "r" })).toString("base64url");
secrets.addEncoded(`${header}==`);
const FORMS = [
  PASSWORD,
  JSON.stringify(PASSWORD).slice(1, -1),
  TOKEN,
  header,
  `${header}==`,
  header.replace(/-/g, "+").replace(/_/g, "/"),
  encodeURIComponent(PASSWORD),
];

function failedWith(message: string, extra: Partial<ImageResult> = {}): Report {
  const image: ImageResult = {
    ...appFailedTransient,
    reason: message,
    attempts: appFailedTransient.attempts.map((a) => ({ ...a, message })),
    ...extra,
  };
  return { ...failedAfterRetries, images: [image] };
}

const leaky = failedWith(`denied: ${FORMS.join(" | ")} \u0001 hun\u0001ter`);
const validate = compileReportSchema();

describe("the masker", () => {
  it("masks every registered form, longest first, and leaves other text alone", () => {
    const masker = new SecretMasker();
    masker.add("abc");
    masker.add("abcdef");
    assert.equal(masker.mask("x abcdef y abc z ab"), `x ${MASK} y ${MASK} z ab`);
  });

  it("derives JSON-escaped, URL-encoded and the four base64 spellings", () => {
    const masker = new SecretMasker();
    masker.add('a"b/c+d?');
    const b64 = Buffer.from('a"b/c+d?').toString("base64");
    for (const form of ['a"b/c+d?', 'a\\"b/c+d?', encodeURIComponent('a"b/c+d?'), b64, b64.replace(/=+$/, ""), Buffer.from('a"b/c+d?').toString("base64url")]) {
      assert.equal(masker.mask(`<${form}>`), `<${MASK}>`, form);
    }
  });

  it("treats regular-expression characters in a secret literally", () => {
    const masker = new SecretMasker();
    masker.add(".*");
    assert.equal(masker.mask("abc .* def"), `abc ${MASK} def`);
  });
});

describe("report writers: no secret in any output", () => {
  const outputs: Record<string, string> = {
    json: toJson(leaky),
    junit: toJUnit(leaky),
    summary: formatSummary(leaky),
    stepSummary: stepSummaryMarkdown(leaky),
    annotations: annotations(leaky).join("\n"),
    logLine:
      formatLogLine({ type: "failed", at: 0, image: "x", class: "permanent", message: leaky.images[0]?.reason ?? "", attempts: 1 }, "normal", new Date(0)) ??
      "",
    terminal: terminalSafe(`prepull: ${leaky.images[0]?.reason ?? ""}`),
    liveView: renderView(
      applyEvent(initialView(["r/x:1"], 5), {
        type: "attempt-failed",
        at: 0,
        image: "r/x:1",
        attempt: 1,
        class: "permanent",
        message: leaky.images[0]?.reason ?? "",
        durationMs: 1,
      }),
      0,
      100_000,
    ).join("\n"),
  };
  for (const [name, text] of Object.entries(outputs)) {
    it(`${name}: every secret form masked`, () => {
      for (const form of FORMS) assert.ok(!text.includes(form), `${name} leaks ${form}`);
      // Markdown escapes the mask's asterisks; it renders as *** all the same.
      assert.ok(text.includes(MASK) || text.includes("\\*\\*\\*"), `${name} shows no mask at all`);
    });
  }

  it("a control byte planted inside a secret does not hide it from the masker", () => {
    registerSecret("hunter");
    assert.ok(!formatSummary(leaky).includes("hunter"));
    assert.ok(!toJUnit(leaky).includes("hunter"));
  });
});

describe("report writers: bounded messages", () => {
  const huge = `manifest unknown: ${"x".repeat(2_000_000)}`;
  const report = failedWith(huge);

  it("clips a message and says how much was cut", () => {
    assert.equal(clip("abcdef", 3), "abc …[3 more characters cut]");
    assert.equal(clip("abc", 3), "abc");
    assert.equal(foreign("a".repeat(10), 4), "aaaa …[6 more characters cut]");
    // A surrogate pair is never split.
    assert.ok(!/[\ud800-\udbff]$/.test(clip("a😀b", 2).split(" ")[0] ?? ""));
  });

  it("a 2 MB engine message gives small JSON, JUnit, summary and step summary that still say what was cut", () => {
    for (const [name, text] of [
      ["json", toJson(report)],
      ["junit", toJUnit(report)],
      ["summary", formatSummary(report)],
      ["stepSummary", stepSummaryMarkdown(report)],
    ] as const) {
      assert.ok(text.length < 10 * MESSAGE_LIMIT * report.images[0]!.attempts.length, `${name}: ${text.length} characters`);
      assert.match(text, /more characters cut/, name);
    }
    assert.equal(validate(JSON.parse(toJson(report))), true, JSON.stringify(validate.errors));
    parseJUnit(toJUnit(report));
  });

  it("keeps the step summary under GitHub's 1 MiB with thousands of long failures, naming how many rows were left out", () => {
    const many: Report = {
      ...failedAfterRetries,
      images: Array.from({ length: 3000 }, (_, i) => ({ ...appFailedTransient, reference: `r.example/img${i}:1`, reason: "y".repeat(5000) })),
    };
    const markdown = stepSummaryMarkdown(many);
    assert.ok(Buffer.byteLength(markdown) <= STEP_SUMMARY_LIMIT, `${Buffer.byteLength(markdown)} bytes`);
    assert.ok(STEP_SUMMARY_LIMIT < 1024 * 1024);
    assert.match(markdown, /… \d+ more images not shown/);
    assert.match(markdown, /\| Registry \|/);
  });
});

describe("JSON report: always valid against its schema", () => {
  it("drops a digest the schema refuses and rounds fractional bytes down", () => {
    const odd = failedWith("x", { status: "pulled", class: "pulled", digest: "<not a digest>", bytes: 1234.75 });
    const parsed = JSON.parse(toJson(odd)) as { images: Array<{ digest?: string; bytes: number }> };
    assert.equal(parsed.images[0]?.digest, undefined);
    assert.equal(parsed.images[0]?.bytes, 1234);
    assert.equal(validate(parsed), true, JSON.stringify(validate.errors));
  });
});

describe("terminalSafe: user text never acts on a terminal or a CI runner", () => {
  it("escapes control characters and neutralizes workflow commands on any line", () => {
    const text = terminalSafe('service "a\n::error::pwned\u001b[31m\u009b" in f\n  ok\n   ::warning::x\n##[error]y');
    assert.deepEqual(text.split("\n"), ['service "a', '> ::error::pwned\\u001b[31m\\u009b" in f', "  ok", "> ::warning::x", "> ##[error]y"]);
  });
});

describe("log lines: engine status and messages bounded", () => {
  it("a progress line with a huge status is one bounded line", () => {
    const event: PullEvent = { type: "progress", at: 0, image: "x", bytes: 0, status: "Waiting ".repeat(100_000) };
    const line = formatLogLine(event, "verbose", new Date(0)) ?? "";
    assert.ok(line.length < MESSAGE_LIMIT + 200);
    assert.equal(line.split("\n").length, 1);
  });
});
