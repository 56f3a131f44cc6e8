// The GitHub Action, run exactly as the runner runs it: the committed bundle action.yml names,
// under Node 24 (runs.using: node24), with every declared input as an INPUT_* variable (defaults
// filled in, as the runner does), GITHUB_ACTIONS=true, GITHUB_OUTPUT and GITHUB_STEP_SUMMARY files,
// the workspace as the working directory — against the real stack. Asserted: the outputs file,
// the step summary, the workflow commands on stdout and the exit code.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { parse } from "yaml";
import { nodeBinary, REPO, runToEnd } from "../../stack/package.js";
import { startStack, type Stack } from "../../stack/stack.js";
import { baseEnv, runCli, tempDir } from "./run-cli.js";

const exec = promisify(execFile);

const action = parse(await readFile(join(REPO, "action.yml"), "utf8")) as {
  inputs: Record<string, { default?: string }>;
  runs: { using: string; main: string };
};

/** Parses GITHUB_OUTPUT as the runner does: `name<<DELIMITER`, value lines, `DELIMITER`. */
function parseOutputs(text: string): Record<string, string> {
  const outputs: Record<string, string> = {};
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? "";
    if (line === "") continue;
    const match = /^([^<=]+)<<(.+)$/.exec(line);
    assert.ok(match, `not a file command: ${JSON.stringify(line)}`);
    const [, name, delimiter] = match as unknown as [string, string, string];
    const end = lines.indexOf(delimiter, i + 1);
    assert.ok(end > i, `output ${name}: no closing delimiter`);
    assert.equal(Object.hasOwn(outputs, name), false, `output ${name} written twice`);
    outputs[name] = lines.slice(i + 1, end).join("\n");
    i = end;
  }
  return outputs;
}

describe("the GitHub Action, run as the runner runs it", () => {
  let stack: Stack;
  let node24: string;
  let workspace: Awaited<ReturnType<typeof tempDir>>;
  let step = 0;

  before(async () => {
    [stack, node24] = await Promise.all([startStack({ seed: 13 }), nodeBinary(24)]);
    workspace = await tempDir();
  });
  after(async () => {
    await stack?.stop();
    await workspace?.remove();
  });

  /** One step: `uses: ./` with these `with:` values. Each step gets fresh GITHUB_OUTPUT and summary files unless given. */
  async function runStep(inputs: Record<string, string>, files: { summary?: string } = {}) {
    step += 1;
    const output = workspace.file(`output-${step}.txt`);
    const summary = files.summary ?? workspace.file(`summary-${step}.md`);
    await writeFile(output, "");
    const env: Record<string, string> = baseEnv({
      DOCKER_HOST: stack.engine.dockerHost,
      GITHUB_ACTIONS: "true",
      CI: "true",
      GITHUB_OUTPUT: output,
      GITHUB_STEP_SUMMARY: summary,
      GITHUB_WORKSPACE: workspace.path,
      RUNNER_TEMP: workspace.path,
    });
    delete env.PULL_SEED;
    for (const [name, spec] of Object.entries(action.inputs)) env[`INPUT_${name.toUpperCase()}`] = inputs[name] ?? spec.default ?? "";
    for (const name of Object.keys(inputs)) assert.ok(name in action.inputs, `action.yml declares no input ${name}`);
    const entry = join(REPO, action.runs.main);
    const result = await runToEnd(node24, [entry], { cwd: workspace.path, env });
    return { ...result, outputs: parseOutputs(await readFile(output, "utf8")), summary: await readFile(summary, "utf8").catch(() => "") };
  }

  it("runs on Node 24, as action.yml declares", async () => {
    assert.equal(action.runs.using, "node24");
    const { stdout } = await exec(node24, ["--version"]);
    assert.match(stdout, /^v24\./);
  });

  it("pulls a batch from images and compose inputs, fails the step for the image that failed, and sets every output", async () => {
    const repos = [stack.image("act-a"), stack.image("act-b"), stack.image("act-c")];
    for (const repo of repos) await stack.pushImage(repo, "1");
    const missing = stack.ref(stack.image("act-missing"), "1");
    const [a, b, c] = repos.map((r) => stack.ref(r, "1")) as [string, string, string];
    await writeFile(workspace.file("compose.yml"), `services:\n  c:\n    image: ${c}\n`);
    const run = await runStep({
      images: `${a}\n  ${b} ${missing}\n`,
      compose: "compose.yml",
      "backoff-base": "0.2",
      "backoff-max": "0.5",
      seed: "3",
      json: "prepull.json",
      junit: "prepull.xml",
      pulled: "pulled.txt",
    });
    assert.equal(run.code, 1, run.stderr);
    const { outputs } = run;
    assert.deepEqual(
      { ...outputs, "pulled-list": outputs["pulled-list"]?.split("\n").sort(), sources: outputs.sources?.split("\n").sort() },
      {
        "exit-code": "1",
        "pulled-list": [a, b, c].sort(),
        "pulled-count": "3",
        "present-count": "0",
        "skipped-count": "0",
        "failed-count": "1",
        "mirrored-count": "0",
        sources: [a, b, c].map((r) => `${r} upstream`).sort(),
        "json-path": workspace.file("prepull.json"),
        "junit-path": workspace.file("prepull.xml"),
        "pulled-path": workspace.file("pulled.txt"),
      },
    );
    // The output and the --pulled file say the same thing; the reports are where the paths point.
    assert.equal(await readFile(workspace.file("pulled.txt"), "utf8"), `${outputs["pulled-list"]}\n`);
    const report = JSON.parse(await readFile(workspace.file("prepull.json"), "utf8")) as { exitCode: number; settings: { seed: number } };
    assert.equal(report.exitCode, 1);
    assert.equal(report.settings.seed, 3);
    assert.match(await readFile(workspace.file("prepull.xml"), "utf8"), /<testsuite /);

    // The CLI's GitHub output: the log in a group, an annotation for the failed image, the summary table.
    const stdout = run.stdout.split("\n");
    assert.equal(stdout[0], "::group::prepull: pulling 4 images");
    assert.ok(stdout.includes("::endgroup::"), run.stdout);
    const errors = stdout.filter((line) => line.startsWith("::error"));
    assert.equal(errors.length, 1, run.stdout);
    assert.match(errors[0] ?? "", new RegExp(`^::error title=prepull%3A ${missing.replace(/[.:/]/g, (ch) => (ch === ":" ? "%3A" : `\\${ch}`))}::permanent`));
    assert.match(run.summary, /^## prepull\n\n\*\*Failed\*\*: 3 pulled, 1 failed in /);
    for (const ref of [a, b, c]) assert.match(run.summary, new RegExp(`^\\| ${ref.replace(/[.]/g, "\\.")} \\| pulled \\| 1 \\|`, "m"));
    assert.match(run.summary, new RegExp(`^\\| ${missing.replace(/[.]/g, "\\.")} \\| failed \\| 1 \\|`, "m"));
  });

  it("with pull: missing, a second step finds the images present, appends to the summary and passes", async () => {
    const repo = stack.image("act-present");
    await stack.pushImage(repo, "1");
    const ref = stack.ref(repo, "1");
    const warm = await runCli([ref], { env: baseEnv({ DOCKER_HOST: stack.engine.dockerHost }) });
    assert.equal(warm.code, 0, warm.stderr);
    const summary = workspace.file("shared-summary.md");
    await writeFile(summary, "## an earlier step\n");
    const run = await runStep({ images: ref, pull: "missing", quiet: "true" }, { summary });
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(run.outputs, {
      "exit-code": "0",
      "pulled-list": ref,
      "pulled-count": "0",
      "present-count": "1",
      "skipped-count": "0",
      "failed-count": "0",
      "mirrored-count": "0",
      sources: `${ref} engine`,
    });
    assert.match(run.summary, /^## an earlier step\n## prepull\n\n\*\*OK\*\*: 1 present in /);
  });

  it("a lock step writes the lock and sets lock-path; a locked step pulls those digests and passes", async () => {
    const repo = stack.image("act-lock");
    const pushed = await stack.pushImage(repo, "1");
    const ref = stack.ref(repo, "1");
    const lock = await runStep({ images: ref, lock: "prepull.lock", quiet: "true" });
    assert.equal(lock.code, 0, lock.stderr);
    assert.equal(lock.outputs["lock-path"], workspace.file("prepull.lock"));
    assert.match(await readFile(workspace.file("prepull.lock"), "utf8"), new RegExp(`^${ref.replace(/[.]/g, "\\.")} ${pushed.manifestDigest}$`, "m"));
    const locked = await runStep({ images: ref, locked: "prepull.lock", pull: "always", quiet: "true" });
    assert.equal(locked.code, 0, locked.stderr);
    assert.equal(Number(locked.outputs["pulled-count"]) + Number(locked.outputs["present-count"]), 1);
    const missing = await runStep({ images: `${ref} ${stack.ref(repo, "2")}`, locked: "prepull.lock", quiet: "true" });
    assert.equal(missing.code, 1);
    assert.match(missing.summary, /is not in the lock file prepull\.lock/);
  });

  it("a bad input fails the step with exit 2, an error annotation, and pulls nothing", async () => {
    const repo = stack.image("act-bad");
    const run = await runStep({ images: stack.ref(repo, "1"), retries: "zero" });
    assert.equal(run.code, 2, run.stderr);
    assert.match(run.stderr, /PULL_RETRIES|--retries/);
    assert.match(run.stderr, /"zero"/);
    assert.deepEqual(run.outputs, { "exit-code": "2" });
    assert.ok(
      run.stdout.split("\n").includes("::error title=prepull::prepull exited with 2: usage error or bad input; nothing was pulled (the step's log says why)"),
      run.stdout,
    );
    assert.equal(stack.proxy.count({ repository: repo }), 0);
    const boolean = await runStep({ images: stack.ref(repo, "1"), verbose: "yes" });
    assert.equal(boolean.code, 2);
    assert.match(boolean.stderr, /input "verbose" must be true or false, not "yes"/);
  });
});
