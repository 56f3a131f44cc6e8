// What a CI job gets from prepull, through the built CLI on a real dockerd and a real registry
// behind the fault proxy: images from compose files, the pull policy, the JUnit, JSON and pulled
// files, GitHub Actions commands and step summary, and plain logs when the output is a pipe.
// Every assertion is on what the job sees (exit code, stdout/stderr lines, files) or on what the
// registry saw (the proxy's request log).
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { startStack, type Stack } from "../../stack/stack.js";
import { compileReportSchema, parseJUnit } from "../fixtures/validators.js";
import type { JUnitCase, JUnitSuite } from "../fixtures/validators.js";
import { baseEnv, runCli, tempDir, type CliResult } from "./run-cli.js";

const COMPOSE_DIR = fileURLToPath(new URL("../fixtures/ci-compose", import.meta.url));

/** The timestamp every plain log line starts with. */
const STAMPED = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z \S/;
// eslint-disable-next-line no-control-regex
const ESCAPE = /\x1b/;
/** The summary's status cell for a present image, in color. */
const GREEN_PRESENT = "\u001b[32mpresent\u001b[39m";

interface Attempt {
  number: number;
  class: string;
  message?: string;
  durationMs: number;
}
interface ImageEntry {
  input: string;
  reference: string;
  registry: string;
  status: string;
  class: string;
  reason?: string;
  digest?: string;
  bytes: number;
  attempts: Attempt[];
}
interface JsonReport {
  exitCode: number;
  interrupted?: string;
  settings: Record<string, unknown>;
  images: ImageEntry[];
  registries: Array<{ registry: string; attempts: number; failures: number; gateClosedMs: number }>;
}
interface JUnitDoc {
  testsuites: { tests: string; failures: string; errors: string; skipped: string; testsuite: JUnitSuite & { testcase: JUnitCase[] } };
}

const lines = (text: string) => text.split("\n").filter((line) => line !== "");
const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");

describe("prepull in CI: inputs and outputs on a real engine and registry", () => {
  let stack: Stack;
  let env: Record<string, string>;
  let files: Awaited<ReturnType<typeof tempDir>>;
  const validate = compileReportSchema();

  before(async () => {
    stack = await startStack({ seed: 11 });
    // No PULL_POLICY: the default ("missing") is part of what is tested.
    env = baseEnv({ DOCKER_HOST: stack.engine.dockerHost, PULL_BACKOFF_BASE: "0.2", PULL_BACKOFF_MAX: "1" });
    files = await tempDir();
  });
  after(async () => {
    await stack?.stop();
    await files?.remove();
  });

  /** HEAD requests on a tag's manifest: one per engine pull attempt (see stack/README.md). */
  const attemptsOn = (repository: string) => stack.proxy.count({ repository, kind: "manifest", method: "HEAD" });
  const readJson = async (path: string) => {
    const report = JSON.parse(await readFile(path, "utf8")) as JsonReport;
    assert.ok(validate(report), JSON.stringify(validate.errors));
    return report;
  };
  const readJUnit = async (path: string) => parseJUnit(await readFile(path, "utf8")) as JUnitDoc;
  const explain = (run: CliResult) => `exit ${run.code}\nstdout:\n${run.stdout}\nstderr:\n${run.stderr}`;

  describe("--compose", () => {
    const runId = randomBytes(4).toString("hex");
    let composeEnv: Record<string, string>;
    let expected: string[];

    before(async () => {
      composeEnv = { ...env, REGISTRY: stack.host, RUN_ID: runId };
      // What the fixture files resolve to: file order (compose.yaml, docker-compose.override.yml),
      // then service order; worker and the override's app repeat app's image; migrations is build-only.
      const tags: Array<[string, string]> = [
        ["app", "1"],
        ["db", "1"],
        ["cache", "7-alpine"],
        ["debug-ui", "2"],
        ["search", "3"],
      ];
      for (const [name, tag] of tags) await stack.pushImage(`${name}-${runId}`, tag);
      expected = tags.slice(0, 4).map(([name, tag]) => stack.ref(`${name}-${runId}`, tag));
    });

    const composeRepos = () => new RegExp(`-${runId}$`);

    it("--print lists the resolved, normalized images and pulls nothing", async () => {
      const since = stack.proxy.now();
      const run = await runCli(["--compose", COMPOSE_DIR, "--print"], { env: composeEnv });
      assert.equal(run.code, 0, explain(run));
      assert.equal(run.stdout, expected.map((ref) => `${ref}\n`).join(""));
      // REGISTRY from the environment beat the .env beside the files; CACHE_TAG came from that .env.
      assert.equal(run.stderr, `prepull: not pullable: service "migrations" in ${join(COMPOSE_DIR, "compose.yaml")} (build only)\n`);
      assert.equal(stack.proxy.count({ since }), 0, "--print must not reach the registry");
      assert.equal(stack.proxy.count({ repository: composeRepos() }), 0);
    });

    it("pulls every image of the directory once and writes JUnit and JSON for them", async () => {
      const json = files.file("compose.json");
      const junit = files.file("compose.xml");
      const run = await runCli(["--compose", COMPOSE_DIR, "--junit", junit, "--json", json], { env: composeEnv });
      assert.equal(run.code, 0, explain(run));
      assert.deepEqual(
        ["app", "db", "cache", "debug-ui"].map((name) => attemptsOn(`${name}-${runId}`)),
        [1, 1, 1, 1],
      );
      const report = await readJson(json);
      assert.deepEqual(
        report.images.map((i) => [i.input, i.reference, i.status]),
        expected.map((ref) => [ref, ref, "pulled"]),
      );
      const suite = (await readJUnit(junit)).testsuites.testsuite;
      assert.deepEqual([suite.tests, suite.failures, suite.errors, suite.skipped], ["4", "0", "0", "0"]);
      assert.deepEqual(
        suite.testcase.map((c) => c.name),
        expected,
      );
      assert.match(run.stdout, /^prepull: 4 pulled in \S+$/m);
    });

    it("a required variable that is not set stops the run with exit 2, naming the file, the service and the variable", async () => {
      const since = stack.proxy.now();
      const file = join(COMPOSE_DIR, "broken", "compose.yml");
      const run = await runCli(["--compose", join(COMPOSE_DIR, "broken")], { env: composeEnv });
      assert.equal(run.code, 2, explain(run));
      assert.equal(run.stdout, "");
      const [message, ...rest] = lines(run.stderr);
      assert.deepEqual(rest, []);
      assert.match(message ?? "", new RegExp(`^prepull: ${escapeRegExp(file)}: service "api": image: .*\\bMISSING\\b`));
      assert.match(message ?? "", /set MISSING/);
      // Nothing was pulled, not even the service of the same file whose image is fine.
      assert.equal(stack.proxy.count({ since }), 0);
    });

    it("--env-file provides a variable (and the environment still wins over it)", async () => {
      const dir = join(COMPOSE_DIR, "extra");
      const envFile = join(dir, "ci.env");
      const search = stack.ref(`search-${runId}`, "3");

      const without = await runCli(["--compose", dir, "--print"], { env: composeEnv });
      assert.equal(without.code, 2, explain(without));
      assert.match(without.stderr, new RegExp(`^prepull: ${escapeRegExp(join(dir, "compose.yml"))}: service "search": image: .*\\bSEARCH_TAG\\b`));

      const overridden = await runCli(["--compose", dir, "--env-file", envFile, "--print"], { env: { ...composeEnv, SEARCH_TAG: "4" } });
      assert.equal(overridden.code, 0, explain(overridden));
      assert.equal(overridden.stdout, `${stack.ref(`search-${runId}`, "4")}\n`);

      const pulled = files.file("env-file.txt");
      const run = await runCli(["--compose", dir, "--env-file", envFile, "--pulled", pulled], { env: composeEnv });
      assert.equal(run.code, 0, explain(run));
      assert.equal(attemptsOn(`search-${runId}`), 1);
      assert.equal(await readFile(pulled, "utf8"), `${search}\n`);
    });
  });

  describe("--pull policy", () => {
    it("missing (the default) asks the engine and skips a present image without a registry request; always pulls it again", async () => {
      const repo = stack.image("policy");
      await stack.pushImage(repo, "1");
      const ref = stack.ref(repo, "1");
      const manifestRequests = () => stack.proxy.count({ repository: repo, kind: "manifest" });

      const first = await runCli([ref], { env });
      assert.equal(first.code, 0, explain(first));
      assert.equal(attemptsOn(repo), 1);
      const afterFirst = manifestRequests();

      const json = files.file("present.json");
      for (const args of [
        [ref, "--json", json],
        [ref, "--pull", "missing"],
      ]) {
        const run = await runCli(args, { env });
        assert.equal(run.code, 0, explain(run));
        assert.match(run.stdout, new RegExp(`^present  ${escapeRegExp(ref)}  +0  +\\S+  already present on the engine \\(--pull missing\\)$`, "m"));
        assert.match(run.stdout, /^prepull: 1 present in \S+$/m);
      }
      // The flag wins over PULL_POLICY.
      const flagOverEnv = await runCli([ref, "--pull", "missing"], { env: { ...env, PULL_POLICY: "always" } });
      assert.equal(flagOverEnv.code, 0, explain(flagOverEnv));
      assert.match(flagOverEnv.stdout, /^prepull: 1 present in \S+$/m);
      assert.equal(manifestRequests(), afterFirst, "a present image must not cost a manifest request");

      const report = await readJson(json);
      assert.deepEqual(
        report.images.map((i) => [i.reference, i.status, i.class, i.attempts.length]),
        [[ref, "present", "present", 0]],
      );
      assert.equal(report.settings.pullPolicy, "missing");

      const always = await runCli([ref, "--pull", "always"], { env });
      assert.equal(always.code, 0, explain(always));
      assert.equal(attemptsOn(repo), 2);
      assert.match(always.stdout, /^prepull: 1 pulled in \S+$/m);

      const fromEnv = await runCli([ref], { env: { ...env, PULL_POLICY: "always" } });
      assert.equal(fromEnv.code, 0, explain(fromEnv));
      assert.equal(attemptsOn(repo), 3);
    });
  });

  describe("reports of a mixed run: pulled, present, failed, skipped", () => {
    const outputs = { json: "", junit: "", pulled: "" };
    let refs: { ok: string; present: string; unknown: string; arm: string };
    /** The ok image as the user wrote it: no tag. */
    let okInput: string;
    let repos: { ok: string; present: string; known: string; arm: string };
    let run: CliResult;

    before(async () => {
      repos = { ok: stack.image("ok"), present: stack.image("present"), known: stack.image("known"), arm: stack.image("armonly") };
      await stack.pushImage(repos.ok, "latest", { sizeBytes: 100_000 });
      await stack.pushImage(repos.present, "1");
      await stack.pushImage(repos.known, "1");
      await stack.pushPlatformList(repos.arm, "1", ["arm64"]);
      okInput = `${stack.host}/${repos.ok}`;
      refs = {
        ok: stack.ref(repos.ok, "latest"),
        present: stack.ref(repos.present, "1"),
        unknown: stack.ref(repos.known, "does-not-exist"),
        arm: stack.ref(repos.arm, "1"),
      };
      const warmUp = await runCli([refs.present], { env });
      assert.equal(warmUp.code, 0, explain(warmUp));
      outputs.json = files.file("mixed.json");
      outputs.junit = files.file("mixed.xml");
      outputs.pulled = files.file("mixed.txt");
      // Settings from flags and from PULL_* variables, so the report has to say which were used.
      const flags = ["--retries", "4", "--timeout", "120", "--parallel", "3", "--stall-timeout", "30", "--deadline", "600", "--rate-limit-backoff", "10"];
      const outputFlags = ["--json", outputs.json, "--junit", outputs.junit, "--pulled", outputs.pulled];
      run = await runCli([okInput, refs.present, refs.unknown, refs.arm, ...flags, ...outputFlags], { env });
    });

    it("exits 1 and says so in the verdict", () => {
      assert.equal(run.code, 1, explain(run));
      assert.match(run.stdout, /^prepull: 1 pulled, 1 present, 1 skipped, 1 failed in \S+$/m);
      // The unknown tag and the foreign platform are each tried once; the present image's one attempt was the warm-up.
      assert.deepEqual([attemptsOn(repos.ok), attemptsOn(repos.present), attemptsOn(repos.known), attemptsOn(repos.arm)], [1, 1, 1, 1]);
    });

    it("JUnit: one suite, one testcase per image, a typed failure and skips, as a real parser reads it", async () => {
      const doc = await readJUnit(outputs.junit);
      const totals = doc.testsuites;
      assert.deepEqual([totals.tests, totals.failures, totals.errors, totals.skipped], ["4", "1", "0", "2"]);
      const suite = totals.testsuite;
      assert.deepEqual([suite.name, suite.tests, suite.failures, suite.errors, suite.skipped], ["prepull", "4", "1", "0", "2"]);
      assert.equal(suite.properties, undefined, "a complete run has no interrupted property");
      assert.deepEqual(
        suite.testcase.map((c) => [c.classname, c.name]),
        [refs.ok, refs.present, refs.unknown, refs.arm].map((ref) => [`prepull.${stack.host}`, ref]),
      );
      const [ok, present, unknown, arm] = suite.testcase;
      assert.ok(ok && present && unknown && arm);
      assert.equal(ok.failure, undefined);
      assert.equal(ok.skipped, undefined);
      assert.match(ok.time, /^\d+\.\d{3}$/);

      assert.equal(present.skipped?.message, "already present on the engine (--pull missing)");
      assert.equal(present.failure, undefined);

      assert.equal(unknown.skipped, undefined);
      assert.equal(unknown.failure?.type, "permanent");
      assert.match(unknown.failure?.message ?? "", new RegExp(`^permanent: manifest for ${escapeRegExp(refs.unknown)} not found: manifest unknown`));
      const body = (unknown.failure?.["#text"] ?? "").split("\n");
      assert.match(body[0] ?? "", /\(1 attempt\)$/);
      assert.match(body[1] ?? "", /^attempt 1: permanent after \S+: manifest for .* not found: manifest unknown/);
      assert.equal(body.length, 2);

      assert.equal(arm.skipped?.message, "no matching manifest for linux/amd64 in the manifest list entries");
      assert.equal(arm.failure, undefined);
    });

    it("JSON: valid against the schema, with every attempt's class and message, registry stats and settings", async () => {
      const report = await readJson(outputs.json);
      assert.equal(report.exitCode, 1);
      assert.equal(report.interrupted, undefined);
      assert.deepEqual(
        report.images.map((i) => [i.input, i.reference, i.registry, i.status, i.class, i.attempts.map((a) => [a.number, a.class])]),
        [
          // The reference as given, and normalized.
          [okInput, refs.ok, stack.host, "pulled", "pulled", [[1, "pulled"]]],
          [refs.present, refs.present, stack.host, "present", "present", []],
          [refs.unknown, refs.unknown, stack.host, "failed", "permanent", [[1, "permanent"]]],
          [refs.arm, refs.arm, stack.host, "skipped", "skipped-platform", [[1, "skipped-platform"]]],
        ],
      );
      const [ok, , unknown, arm] = report.images;
      assert.match(ok?.digest ?? "", /^sha256:[0-9a-f]{64}$/);
      assert.ok((ok?.bytes ?? 0) > 0, "the pulled image's bytes");
      assert.equal(unknown?.attempts[0]?.message, `manifest for ${refs.unknown} not found: manifest unknown: manifest unknown`);
      assert.equal(arm?.attempts[0]?.message, "no matching manifest for linux/amd64 in the manifest list entries");
      // The present image made no attempt, and a platform skip is not a registry failure.
      assert.deepEqual(report.registries, [{ registry: stack.host, attempts: 3, failures: 1, gateClosedMs: 0 }]);
      assert.deepEqual(report.settings, {
        retries: 4,
        backoffBaseMs: 200,
        backoffMaxMs: 1000,
        timeoutMs: 120_000,
        parallel: 3,
        seed: 1,
        rateLimitBackoffMs: 10_000,
        stallTimeoutMs: 30_000,
        deadlineMs: 600_000,
        pullPolicy: "missing",
        preflight: "off",
        quotaPlan: "fit",
      });
    });

    it("--pulled lists exactly the images now on the engine: pulled and present, not failed or skipped", async () => {
      assert.equal(await readFile(outputs.pulled, "utf8"), `${refs.ok}\n${refs.present}\n`);
    });
  });

  describe("GitHub Actions", () => {
    it("groups the log, annotates failed and skipped images with escaped workflow commands, and appends the step summary", async () => {
      const [ok, denied, arm] = [stack.image("gh-ok"), stack.image("gh-denied"), stack.image("gh-arm")];
      await stack.pushImage(ok, "1");
      await stack.pushImage(denied, "1");
      await stack.pushPlatformList(arm, "1", ["arm64"]);
      // A registry's error text is foreign: a percent sign, line breaks, and a line that would be a
      // workflow command of its own if it reached the start of a log line.
      stack.proxy.addFault({
        match: { kind: "manifest", repository: denied },
        action: {
          status: 403,
          body: { errors: [{ code: "DENIED", message: "quota 100% used,\r\n::warning::injected by the registry\nsee https://example.com/quota" }] },
        },
      });
      const summaryFile = files.file("step-summary.md");
      const previous = "## Build\n\nEarlier step output, kept as it was.\n";
      await writeFile(summaryFile, previous);
      const [okRef, deniedRef, armRef] = [stack.ref(ok, "1"), stack.ref(denied, "1"), stack.ref(arm, "1")];

      const run = await runCli([okRef, deniedRef, armRef], { env: { ...env, GITHUB_ACTIONS: "true", GITHUB_STEP_SUMMARY: summaryFile } });
      assert.equal(run.code, 1, explain(run));
      // Everything on stdout, so the group markers and the lines between them stay in order.
      assert.equal(run.stderr, "");

      const out = run.stdout.split("\n");
      assert.equal(out[0], "::group::prepull: pulling 3 images");
      const end = out.indexOf("::endgroup::");
      assert.ok(end > 1, run.stdout);
      const log = out.slice(1, end);
      for (const line of log) assert.match(line, STAMPED, `every line inside the group is a timestamped log line:\n${run.stdout}`);
      assert.ok(log.some((line) => line.includes(`pulled ${okRef} in `)));
      assert.ok(log.some((line) => line.includes(`FAILED ${deniedRef} after 1 attempt [permanent]: `)));

      // Titles escape ":" and ","; messages escape "%"; the registry's line breaks were flattened first.
      const host = stack.host.replace(":", "%3A");
      const expectedError =
        `::error title=prepull%3A ${host}/${denied}%3A1::permanent: pull access denied for ${stack.host}/${denied}, repository does not exist or may require 'docker login': ` +
        "denied: quota 100%25 used, ::warning::injected by the registry see https://example.com/quota " +
        "(check the image name and the credentials for that registry (docker login / DOCKER_CONFIG)) (1 attempt)";
      const expectedWarning = `::warning title=prepull%3A ${host}/${arm}%3A1::skipped: no matching manifest for linux/amd64 in the manifest list entries`;
      assert.deepEqual(out.slice(end + 1, end + 3), [expectedError, expectedWarning]);
      assert.equal(out[end + 3]?.startsWith("STATUS   IMAGE"), true, run.stdout);
      // The only workflow commands are ours: nothing from the registry's text starts a line.
      assert.deepEqual(
        out.filter((line) => line.startsWith("::")),
        ["::group::prepull: pulling 3 images", "::endgroup::", expectedError, expectedWarning],
      );
      const error = out[end + 1] ?? "";
      assert.equal(/[\r\n]/.test(error), false);
      assert.ok(error.includes("100%25 used") && !error.includes("100% used"), "a % in the message is escaped as %25");

      // Markdown cells: emphasis characters such as "_" are escaped.
      const summary = await readFile(summaryFile, "utf8");
      assert.ok(summary.startsWith(previous), "the step summary keeps what earlier steps wrote");
      const appended = summary.slice(previous.length).replace(/\b\d+(?:\.\d)?(?:ms|s)\b/g, "T");
      assert.equal(
        appended,
        [
          "## prepull",
          "",
          "**Failed**: 1 pulled, 1 skipped, 1 failed in T",
          "",
          "| Image | Status | Attempts | Time | Reason |",
          "| --- | --- | ---: | ---: | --- |",
          `| ${okRef} | pulled | 1 | T |  |`,
          `| ${deniedRef} | failed | 1 | T | permanent: pull access denied for ${stack.host}/${denied}, repository does not exist or may require 'docker login': denied: quota 100% used, ::warning::injected by the registry see https://example.com/quota (check the image name and the credentials for that registry (docker login / DOCKER\\_CONFIG)) |`,
          `| ${armRef} | skipped | 1 | T | no matching manifest for linux/amd64 in the manifest list entries |`,
          "",
          "| Registry | Attempts | Failures | Gate closed |",
          "| --- | ---: | ---: | ---: |",
          `| ${stack.host} | 3 | 1 | T |`,
          "",
        ].join("\n"),
      );
    });
  });

  describe("plain output for pipes and CI logs", () => {
    let okRef: string;
    let okRepo: string;
    let hostileRef: string;
    let unknownRef: string;

    before(async () => {
      okRepo = stack.image("plain");
      const hostile = stack.image("hostile");
      await stack.pushImage(okRepo, "1");
      await stack.pushImage(hostile, "1");
      okRef = stack.ref(okRepo, "1");
      hostileRef = stack.ref(hostile, "1");
      unknownRef = stack.ref(okRepo, "nope");
      // Escape sequences and a carriage return in the registry's error text, as a misbehaving proxy might send.
      stack.proxy.addFault({
        match: { kind: "manifest", repository: hostile },
        action: { status: 403, body: { errors: [{ code: "DENIED", message: "\u001b[31mdenied\u001b[0m by policy\r\n\u001b[2Jsecond line" }] } },
      });
    });

    it("has no escape codes, and every log line is one timestamped line, even when the registry's message carries control codes", async () => {
      const { NO_COLOR: _unset, ...colorless } = env;
      const run = await runCli([okRef, hostileRef], { env: colorless });
      assert.equal(run.code, 1, explain(run));
      assert.equal(ESCAPE.test(run.stdout), false, JSON.stringify(run.stdout));
      assert.equal(ESCAPE.test(run.stderr), false, JSON.stringify(run.stderr));
      assert.equal(run.stderr.includes("\r"), false);
      assert.ok(run.stderr.endsWith("\n"));
      const log = run.stderr.slice(0, -1).split("\n");
      for (const line of log) assert.match(line, STAMPED, JSON.stringify(run.stderr));
      assert.equal(log[0]?.slice(25), "prepull: pulling 2 images");
      assert.ok(
        log.some((line) =>
          line.endsWith(
            `[permanent]: pull access denied for ${hostileRef.replace(/:1$/, "")}, repository does not exist or may require 'docker login': denied: denied by policy second line`,
          ),
        ),
        run.stderr,
      );
      assert.ok(log.some((line) => line.slice(25).startsWith(`pulled ${okRef} in `)));
      assert.ok(run.stdout.startsWith("STATUS  IMAGE"), run.stdout);
    });

    it("--color forces color into the summary (only there); --no-color and NO_COLOR keep it plain", async () => {
      const { NO_COLOR: _unset, ...colorless } = env;
      const forced = await runCli([okRef, "--color"], { env: { ...colorless } });
      assert.equal(forced.code, 0, explain(forced));
      assert.ok(forced.stdout.includes(`\n${GREEN_PRESENT}  ${okRef} `), JSON.stringify(forced.stdout));
      assert.equal(ESCAPE.test(forced.stderr), false, "log lines are never colored");

      // An explicit --color is a request for this run; it beats NO_COLOR from the environment.
      const forcedOverEnv = await runCli([okRef, "--color"], { env: { ...colorless, NO_COLOR: "1" } });
      assert.ok(forcedOverEnv.stdout.includes(GREEN_PRESENT), JSON.stringify(forcedOverEnv.stdout));

      for (const [args, runEnv] of [
        [["--no-color"], colorless],
        [[], { ...colorless, NO_COLOR: "1" }],
        [["--no-color", "--color"], colorless],
      ] as const) {
        const plain = await runCli([okRef, ...args], { env: runEnv });
        assert.equal(plain.code, 0, explain(plain));
        assert.equal(ESCAPE.test(plain.stdout + plain.stderr), false, `${args.join(" ")}: ${JSON.stringify(plain.stdout)}`);
        assert.match(plain.stdout, new RegExp(`^present  ${escapeRegExp(okRef)} `, "m"));
      }
    });

    it("--quiet prints only the failures and the summary", async () => {
      const run = await runCli([okRef, unknownRef, "--quiet"], { env });
      assert.equal(run.code, 1, explain(run));
      const log = lines(run.stderr);
      assert.equal(log.length, 1, run.stderr);
      assert.match(log[0] ?? "", STAMPED);
      assert.equal(
        log[0]?.slice(25),
        `FAILED ${unknownRef} after 1 attempt [permanent]: manifest for ${unknownRef} not found: manifest unknown: manifest unknown`,
      );
      const summary = lines(run.stdout);
      assert.match(summary[0] ?? "", /^STATUS +IMAGE +ATTEMPTS +TIME +REASON$/);
      assert.match(summary[1] ?? "", new RegExp(`^present +${escapeRegExp(okRef)} +0 `));
      assert.match(summary[2] ?? "", new RegExp(`^failed +${escapeRegExp(unknownRef)} +1 `));
      assert.match(summary.at(-1) ?? "", /^prepull: 1 present, 1 failed in \S+$/);
    });

    it("--verbose adds the engine's status lines; the default shows none", async () => {
      const normal = await runCli([okRef, "--pull", "always"], { env });
      assert.equal(normal.code, 0, explain(normal));
      assert.equal(
        lines(normal.stderr).some((line) => line.slice(25).startsWith("engine ")),
        false,
        normal.stderr,
      );

      const run = await runCli([okRef, "--pull", "always", "--verbose"], { env });
      assert.equal(run.code, 0, explain(run));
      const log = lines(run.stderr);
      for (const line of log) assert.match(line, STAMPED);
      const engine = log.map((line) => line.slice(25)).filter((line) => line.startsWith(`engine ${okRef}: `));
      assert.ok(
        engine.some((line) => line.endsWith(`Pulling from ${okRepo}`)),
        run.stderr,
      );
      assert.ok(
        engine.some((line) => /: Digest: sha256:[0-9a-f]{64}$/.test(line)),
        run.stderr,
      );
      assert.ok(
        engine.some((line) => line.endsWith(`: Status: Image is up to date for ${okRef}`)),
        run.stderr,
      );
      // The byte counters are not status lines.
      assert.equal(
        engine.some((line) => /: (Downloading|Extracting)$/.test(line)),
        false,
      );
    });
  });

  it("on SIGTERM cancels the pulls, still writes complete JSON, JUnit and pulled files, and exits 143", async () => {
    const repo = stack.image("stuck-term");
    await stack.pushImage(repo, "1");
    const removeStall = stack.proxy.addFault({ match: { kind: "manifest", repository: repo }, action: { stall: true } });
    const json = files.file("sigterm.json");
    const junit = files.file("sigterm.xml");
    const pulled = files.file("sigterm.txt");
    await writeFile(pulled, "stale content from an earlier run\n");
    try {
      const run = await runCli([stack.ref(repo, "1"), "--json", json, "--junit", junit, "--pulled", pulled], {
        env,
        onSpawn: (child) => {
          void stack.proxy.waitFor({ repository: repo, kind: "manifest" }, { count: 1, timeoutMs: 30_000 }).then(() => child.kill("SIGTERM"));
        },
      });
      assert.equal(run.code, 143, explain(run));
      assert.match(run.stdout, /^prepull: 1 failed in \S+ \(interrupted by SIGTERM\)$/m);
      const report = await readJson(json);
      assert.equal(report.interrupted, "SIGTERM");
      assert.equal(report.exitCode, 143);
      assert.deepEqual(
        report.images.map((i) => [i.status, i.class]),
        [["failed", "aborted"]],
      );
      const suite = (await readJUnit(junit)).testsuites.testsuite;
      assert.deepEqual([suite.tests, suite.failures], ["1", "1"]);
      assert.deepEqual(suite.properties?.property, [{ name: "interrupted", value: "SIGTERM" }]);
      assert.equal(suite.testcase[0]?.failure?.type, "aborted");
      assert.equal(await readFile(pulled, "utf8"), "", "nothing was pulled, and the old list is replaced");
    } finally {
      removeStall();
      stack.proxy.closeStalled();
    }
  });
});
