// The command as npm installs it: packed, installed into a project, run through
// node_modules/.bin by its shebang. `node dist/cli/main.js` would hide what the launcher is for:
// Node reads "--env-file" from its own command line (issue 9, item 12). Needs `npm run build`
// first and yaml in the npm cache (npm install --offline: no network).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { baseEnv } from "./run-cli.js";

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const FIXTURE = fileURLToPath(new URL("../fixtures/compose/cli/", import.meta.url));
const COMPOSE = join(FIXTURE, "compose.yml");
const ENV_FILE = join(FIXTURE, "tag.env");
const { version } = JSON.parse(await readFile(join(ROOT, "package.json"), "utf8")) as { version: string };

interface Outcome {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

describe("the installed prepull command", () => {
  let project = "";
  let bin = "";
  before(async () => {
    project = await mkdtemp(join(tmpdir(), "prepull-installed-"));
    await run("npm", ["pack", "--ignore-scripts", "--silent", "--pack-destination", project], { cwd: ROOT });
    await writeFile(join(project, "package.json"), JSON.stringify({ name: "consumer", version: "1.0.0", private: true }));
    await run("npm", ["install", "--offline", "--no-audit", "--no-fund", "--ignore-scripts", `./prepull-${version}.tgz`], { cwd: project });
    bin = join(project, "node_modules", ".bin", "prepull");
  });
  after(() => rm(project, { recursive: true, force: true }));

  const prepull = async (args: readonly string[]): Promise<Outcome> => {
    try {
      const { stdout, stderr } = await run(bin, args, { cwd: project, env: baseEnv(), timeout: 30_000 });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const e = error as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  };

  it("reads --env-file FILE itself: the file's values resolve the image, and Node does not load it", async () => {
    // PULL_RETRIES=not-a-number in the file would be exit 2 if Node had put the file into the environment.
    const result = await prepull(["--compose", COMPOSE, "--env-file", ENV_FILE, "--print"]);
    assert.deepEqual(result, { code: 0, stdout: "docker.io/library/nginx:1.27\n", stderr: "" });
  });

  it("accepts --env-file=FILE too", async () => {
    const result = await prepull(["--compose", COMPOSE, `--env-file=${ENV_FILE}`, "--print"]);
    assert.deepEqual(result, { code: 0, stdout: "docker.io/library/nginx:1.27\n", stderr: "" });
  });

  it("a missing --env-file is prepull's usage error (exit 2), not Node's exit 9", async () => {
    const missing = join(project, "missing.env");
    const result = await prepull(["--compose", COMPOSE, "--env-file", missing, "--print"]);
    assert.equal(result.code, 2, result.stderr);
    assert.equal(result.stderr, `prepull: env file ${missing}: no such file; check the --env-file path\n`);
  });

  it("passes arguments through unchanged: blanks, quotes, $, a leading + and an empty one", async () => {
    const result = await prepull(["--print", "a b", 'x"$HOME', "+x", ""]);
    assert.equal(result.code, 2);
    for (const shown of ['"a b"', '"x\\"$HOME"', '"+x"', '""'])
      assert.match(result.stderr, new RegExp(`invalid image reference ${shown.replace(/[$+\\]/g, "\\$&")}`));
  });

  it("--version works through the launcher", async () => {
    const result = await prepull(["--version"]);
    assert.deepEqual(result, { code: 0, stdout: `prepull ${version}\n`, stderr: "" });
  });
});
