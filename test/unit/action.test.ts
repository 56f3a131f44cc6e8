// The GitHub Action's translation layer: INPUT_* → the CLI's argv, the report → step outputs, and
// action.yml kept in step with both.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { parse } from "yaml";
import {
  argvFromInputs,
  BOOLEAN_INPUTS,
  fileCommand,
  inputVariable,
  outputsOf,
  PATH_LIST_INPUTS,
  VALUE_INPUTS,
  WORD_LIST_INPUTS,
} from "../../src/action/action.js";
import { parseCliArgs } from "../../src/cli/args.js";
import type { ImageResult, Report } from "../../src/types.js";

const actionYml = parse(readFileSync(new URL("../../action.yml", import.meta.url), "utf8")) as {
  inputs: Record<string, { default?: string }>;
  outputs: Record<string, unknown>;
  runs: { using: string; main: string };
};

const argv = (inputs: Record<string, string>) => {
  const env = Object.fromEntries(Object.entries(inputs).map(([name, value]) => [inputVariable(name), value]));
  const result = argvFromInputs(env);
  assert.ok(result.ok, result.ok ? "" : result.error);
  return result.value;
};

function image(reference: string, status: ImageResult["status"]): ImageResult {
  return { input: reference, reference, registry: "r", status, class: status === "pulled" ? "pulled" : "transient", bytes: 0, durationMs: 1, attempts: [] };
}

describe("action inputs", () => {
  it("names the variable as the runner does: upper case, hyphens kept, spaces as underscores", () => {
    assert.equal(inputVariable("env-file"), "INPUT_ENV-FILE");
    assert.equal(inputVariable("backoff base"), "INPUT_BACKOFF_BASE");
  });

  it("passes nothing for empty inputs, so PULL_* variables and defaults still apply", () => {
    assert.deepEqual(argv({ images: "", retries: "", quiet: "false", file: "\n" }), ["--"]);
    assert.deepEqual(argv({}), ["--"]);
  });

  it("splits images on spaces and newlines and puts them after --, so none is read as an option", () => {
    assert.deepEqual(argv({ images: " nginx:1.27\n\tredis:7  -rf\r\n" }), ["--", "nginx:1.27", "redis:7", "-rf"]);
    const parsed = parseCliArgs(argv({ images: "--help -rf" }));
    assert.ok(parsed.ok);
    assert.equal(parsed.value.help, false);
    assert.deepEqual(parsed.value.images, ["--help", "-rf"]);
  });

  it("gives each value as --name=value, so a value starting with '-' stays a value", () => {
    const parsed = parseCliArgs(argv({ retries: "-3", json: "--out.json" }));
    assert.ok(parsed.ok);
    assert.equal(parsed.value.settings.attempts, "-3");
    assert.equal(parsed.value.json, "--out.json");
  });

  it("repeats the option once per line of a path list, keeping spaces inside a path", () => {
    assert.deepEqual(argv({ compose: "tests/a compose.yml\n\n  tests/b/  \n", "env-file": "ci.env" }), [
      "--compose=tests/a compose.yml",
      "--compose=tests/b/",
      "--env-file=ci.env",
      "--",
    ]);
    assert.deepEqual(argv({ profile: "db cache\nqueue" }), ["--profile=db", "--profile=cache", "--profile=queue", "--"]);
  });

  it("maps the policy inputs to the CLI's flags, which parse into the same settings", () => {
    const parsed = parseCliArgs(
      argv({
        pull: "always",
        retries: "3",
        "backoff-base": "0.5",
        "backoff-max": "4",
        timeout: "60",
        parallel: "4",
        "rate-limit-backoff": "10",
        "stall-timeout": "20",
        deadline: "600",
        seed: "7",
        images: "nginx",
      }),
    );
    assert.ok(parsed.ok);
    assert.deepEqual(parsed.value.settings, {
      pullPolicy: "always",
      attempts: "3",
      backoffBaseMs: "0.5",
      backoffMaxMs: "4",
      timeoutMs: "60",
      parallel: "4",
      rateLimitBackoffMs: "10",
      stallTimeoutMs: "20",
      deadlineMs: "600",
      seed: "7",
    });
  });

  it("accepts YAML booleans and rejects anything else, naming the input", () => {
    assert.deepEqual(argv({ quiet: "True", verbose: "FALSE" }), ["--quiet", "--"]);
    const bad = argvFromInputs({ [inputVariable("verbose")]: "yes" });
    assert.deepEqual(bad, { ok: false, error: 'input "verbose" must be true or false, not "yes"' });
  });
});

describe("action outputs", () => {
  const report = {
    images: [image("a:1", "pulled"), image("b:1", "present"), image("c:1", "failed"), image("d:1", "skipped"), image("e:1", "pulled")],
  } as unknown as Report;

  it("gives the on-engine list, every count, and absolute report paths for the reports asked for", () => {
    const env = { [inputVariable("json")]: "out/report.json", [inputVariable("pulled")]: "/abs/pulled.txt" };
    assert.deepEqual(outputsOf(report, env, "/work"), {
      "pulled-list": "a:1\nb:1\ne:1",
      "pulled-count": "2",
      "present-count": "1",
      "skipped-count": "1",
      "failed-count": "1",
      "mirrored-count": "0",
      sources: "",
      "json-path": "/work/out/report.json",
      "pulled-path": "/abs/pulled.txt",
    });
  });

  it("writes multiline values in the file-command format, with a delimiter the value cannot contain", () => {
    assert.equal(fileCommand("pulled-list", "a\nb", "EOF_1"), "pulled-list<<EOF_1\na\nb\nEOF_1\n");
    assert.throws(() => fileCommand("x", "line\nEOF_1\nfailed-count<<y", "EOF_1"), /contains the delimiter/);
    const random = fileCommand("x", "v");
    assert.match(random, /^x<<(ghadelimiter_[0-9a-f-]{36})\nv\n\1\n$/);
    assert.notEqual(random, fileCommand("x", "v"));
  });
});

describe("action.yml", () => {
  it("runs the committed bundle on Node 24", () => {
    assert.deepEqual(actionYml.runs, { using: "node24", main: "dist-action/index.js" });
  });

  it("declares exactly the inputs the entry reads, and every CLI option it maps to exists", () => {
    const read = ["images", ...BOOLEAN_INPUTS, ...VALUE_INPUTS, ...PATH_LIST_INPUTS, ...WORD_LIST_INPUTS];
    assert.deepEqual(Object.keys(actionYml.inputs).sort(), [...read].sort());
    for (const name of [...VALUE_INPUTS, ...PATH_LIST_INPUTS, ...WORD_LIST_INPUTS, ...BOOLEAN_INPUTS]) {
      const flag = (BOOLEAN_INPUTS as readonly string[]).includes(name) ? `--${name}` : `--${name}=1`;
      const parsed = parseCliArgs([flag]);
      assert.ok(parsed.ok, `input ${name}: ${parsed.ok ? "" : parsed.error}`);
    }
  });

  it("declares every output the entry writes", () => {
    const written = Object.keys(outputsOf({ images: [] } as unknown as Report, { INPUT_JSON: "j", INPUT_JUNIT: "u", INPUT_PULLED: "p", INPUT_LOCK: "l" }, "/"));
    assert.deepEqual(Object.keys(actionYml.outputs).sort(), [...written, "exit-code"].sort());
  });
});
