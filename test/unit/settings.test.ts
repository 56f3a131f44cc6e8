import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { readFileSync } from "node:fs";
import { settingsMarkdownRows } from "../../src/cli/help.js";
import { SETTINGS, reportSettings, resolveSettings } from "../../src/policy/settings.js";
import type { Settings } from "../../src/types.js";

const defaults = (): Settings => {
  const s = resolveSettings({});
  assert.ok(s.ok);
  return s.value;
};

describe("settings", () => {
  it("has the documented defaults", () => {
    assert.deepEqual(defaults(), {
      attempts: 5,
      backoffBaseMs: 2000,
      backoffMaxMs: 12_000,
      timeoutMs: 300_000,
      parallel: 8,
      rateLimitBackoffMs: 30_000,
      stallTimeoutMs: 60_000,
      deadlineMs: 900_000,
      pullPolicy: "missing",
      preflight: "on",
      quotaPlan: "fit",
    });
  });

  it("reads PULL_* variables, and flags override them", () => {
    const s = resolveSettings({ PULL_RETRIES: "3", PULL_BACKOFF_BASE: "0.5", PULL_PARALLEL: "2", PULL_SEED: "9", PULL_POLICY: "always" }, { parallel: "4" });
    assert.ok(s.ok);
    assert.equal(s.value.attempts, 3);
    assert.equal(s.value.backoffBaseMs, 500);
    assert.equal(s.value.parallel, 4);
    assert.equal(s.value.seed, 9);
    assert.equal(s.value.pullPolicy, "always");
  });

  it("accepts a deadline past Node's timer limit (the clock chains timers for it)", () => {
    const s = resolveSettings({ PULL_DEADLINE: "2147484" });
    assert.ok(s.ok);
    assert.equal(s.value.deadlineMs, 2_147_484_000);
  });

  it("treats an empty variable as unset", () => {
    const s = resolveSettings({ PULL_RETRIES: "" });
    assert.ok(s.ok);
    assert.equal(s.value.attempts, 5);
  });

  const bad: Array<[Record<string, string>, Record<string, string>, string, RegExp]> = [
    [{ PULL_RETRIES: "abc" }, {}, "PULL_RETRIES", /PULL_RETRIES="abc" is not a whole number/],
    [{ PULL_RETRIES: "-1" }, {}, "PULL_RETRIES", /not a whole number/],
    [{ PULL_RETRIES: "0" }, {}, "PULL_RETRIES", /below the minimum 1/],
    [{ PULL_RETRIES: "2.5" }, {}, "PULL_RETRIES", /not a whole number/],
    [{ PULL_BACKOFF_BASE: "-3" }, {}, "PULL_BACKOFF_BASE", /not a number of seconds/],
    [{ PULL_BACKOFF_BASE: "1e3" }, {}, "PULL_BACKOFF_BASE", /not a number of seconds/],
    [{ PULL_TIMEOUT: "0" }, {}, "PULL_TIMEOUT", /below the minimum/],
    [{ PULL_PARALLEL: "eight" }, {}, "PULL_PARALLEL", /PULL_PARALLEL="eight"/],
    [{}, { parallel: "x" }, "--parallel", /--parallel="x"/],
    [{ PULL_SEED: "seed" }, {}, "PULL_SEED", /PULL_SEED/],
    [{ PULL_POLICY: "sometimes" }, {}, "PULL_POLICY", /"always" or "missing" or "never"/],
    [{ PULL_BACKOFF_BASE: "10", PULL_BACKOFF_MAX: "5" }, {}, "PULL_BACKOFF_MAX", /below PULL_BACKOFF_BASE/],
    // 400 digits are Infinity as a number: the JSON report would write null.
    [{ PULL_DEADLINE: "9".repeat(400) }, {}, "PULL_DEADLINE", /too large/],
    [{ PULL_RETRIES: "9".repeat(20) }, {}, "PULL_RETRIES", /above the maximum 1000/],
  ];
  for (const [env, flags, source, message] of bad) {
    it(`rejects ${JSON.stringify({ ...env, ...flags })}, naming ${source}`, () => {
      const s = resolveSettings(env, flags);
      assert.equal(s.ok, false);
      if (s.ok) return;
      assert.equal(s.error.source, source);
      assert.match(s.error.message, message);
    });
  }
});

describe("one settings table", () => {
  it("the README's table of flags and variables is the settings table, row for row", () => {
    const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8").split("\n");
    const header = readme.indexOf("| flag | variable | default | meaning |");
    assert.ok(header > 0, "the README has the settings table");
    const rows = readme.slice(header + 2).filter((_, i, all) => all.slice(0, i + 1).every((line) => line.startsWith("|")));
    assert.deepEqual(rows, settingsMarkdownRows());
  });

  it("every knob has a flag, a PULL_* variable and a report key of its own", () => {
    for (const field of ["flag", "env", "report", "key"] as const) {
      const values = SETTINGS.map((s) => s[field]);
      assert.equal(new Set(values).size, values.length, `${field} values are unique`);
    }
    assert.ok(SETTINGS.every((s) => s.env.startsWith("PULL_") && s.flag.startsWith("--")));
  });

  it("PULL_RETRIES counts attempts, the first included, and keeps its report key", () => {
    const s = resolveSettings({ PULL_RETRIES: "3" });
    assert.ok(s.ok);
    assert.equal(s.value.attempts, 3);
    assert.equal(reportSettings(s.value).retries, 3);
  });

  it("refuses times that cannot be counted in whole milliseconds, naming the variable, the flag or the option", () => {
    const flag = resolveSettings({}, { backoffMaxMs: "1".repeat(20) });
    assert.ok(!flag.ok);
    assert.equal(flag.error.source, "--backoff-max");
    assert.match(flag.error.message, /too large to count in whole milliseconds/);
    const code = resolveSettings({}, {}, { deadlineMs: Number.POSITIVE_INFINITY });
    assert.ok(!code.ok);
    assert.match(code.error.message, /settings\.deadlineMs must be a number of milliseconds/);
  });

  it("a value given in code wins over a flag and a variable", () => {
    const s = resolveSettings({ PULL_PARALLEL: "2" }, { parallel: "3" }, { parallel: 4 });
    assert.ok(s.ok);
    assert.equal(s.value.parallel, 4);
  });
});
