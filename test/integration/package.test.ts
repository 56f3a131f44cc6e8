// prepull as users get it: the npm tarball, installed into an empty project without dev
// dependencies, run through the installed bin and imported as a library — on the real stack.
import assert from "node:assert/strict";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { packAndInstall, REPO, runToEnd, type InstalledPackage } from "../../stack/package.js";
import { startStack, type Stack } from "../../stack/stack.js";
import { baseEnv } from "./run-cli.js";

/** What a user's project runs: a plain environment whose PATH finds the Node running this test, as `npx` would. */
const userEnv = (extra: Record<string, string> = {}) => baseEnv({ PATH: `${dirname(process.execPath)}:${process.env.PATH ?? "/usr/bin:/bin"}`, ...extra });

const runIn = (cwd: string, file: string, args: readonly string[], env: Record<string, string>) => runToEnd(file, args, { cwd, env });

describe("the npm package, installed from its tarball", () => {
  let installed: InstalledPackage;
  let stack: Stack;

  before(async () => {
    [installed, stack] = await Promise.all([packAndInstall(), startStack({ seed: 12 })]);
  });
  after(async () => {
    await stack?.stop();
    await installed?.remove();
  });

  it("holds only the built code, its types, the launcher, the report schema, README, LICENSE and package.json", async () => {
    const allowed = /^(?:dist\/.+\.(?:js|d\.ts)|bin\/prepull\.js|docs\/report-schema\.json|README\.md|LICENSE|package\.json)$/;
    assert.deepEqual(
      installed.files.filter((f) => !allowed.test(f)),
      [],
    );
    for (const file of ["LICENSE", "README.md", "docs/report-schema.json", "dist/index.js", "dist/index.d.ts", "dist/cli/main.js"])
      assert.ok(installed.files.includes(file), `${file} is in the tarball`);
    // The action's entry ships as its own bundle in the repository, not in the npm package.
    assert.deepEqual(
      installed.files.filter((f) => f.startsWith("dist/action/")),
      [],
    );
    // Every module of the library and the CLI is there, with its declarations.
    const sources = (await readdir(join(REPO, "src"), { recursive: true })).filter((f) => f.endsWith(".ts") && !f.startsWith("action"));
    const missing = sources
      .flatMap((f) => [`dist/${f.replace(/\.ts$/, ".js")}`, `dist/${f.replace(/\.ts$/, ".d.ts")}`])
      .filter((f) => !installed.files.includes(f));
    assert.deepEqual(missing, []);
  });

  it("installs with yaml as its only runtime dependency", async () => {
    const modules = (await readdir(join(installed.dir, "node_modules"))).filter((name) => !name.startsWith("."));
    assert.deepEqual(modules.sort(), ["prepull", "yaml"]);
  });

  it("the installed bin answers --version and --help", async () => {
    const pkg = JSON.parse(await readFile(join(REPO, "package.json"), "utf8")) as { version: string };
    const version = await runIn(installed.dir, installed.bin, ["--version"], userEnv());
    assert.deepEqual(version, { code: 0, stdout: `prepull ${pkg.version}\n`, stderr: "" });
    const help = await runIn(installed.dir, installed.bin, ["--help"], userEnv());
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /^prepull: pull every image/);
    assert.match(help.stdout, /--compose PATH/);
  });

  it("the installed bin pulls from a real registry, compose files included, and writes its reports", async () => {
    const [plain, composed] = [stack.image("pkg-plain"), stack.image("pkg-compose")];
    await stack.pushImage(plain, "1");
    await stack.pushImage(composed, "1");
    // --compose loads yaml: the runtime dependency must resolve from the installed tree.
    await writeFile(join(installed.dir, "compose.yml"), `services:\n  app:\n    image: ${stack.ref(composed, "1")}\n`);
    const run = await runIn(
      installed.dir,
      installed.bin,
      [stack.ref(plain, "1"), "--compose", "compose.yml", "--json", "report.json"],
      userEnv({ DOCKER_HOST: stack.engine.dockerHost }),
    );
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /prepull: 2 pulled in /);
    const report = JSON.parse(await readFile(join(installed.dir, "report.json"), "utf8")) as { images: Array<{ reference: string; status: string }> };
    assert.deepEqual(
      report.images.map((i) => [i.reference, i.status]).sort(),
      [
        [stack.ref(composed, "1"), "pulled"],
        [stack.ref(plain, "1"), "pulled"],
      ].sort(),
    );
  });

  it("imports as an ES module and pulls through the library", async () => {
    const repo = stack.image("pkg-esm");
    await stack.pushImage(repo, "1");
    const script = join(installed.dir, "esm.mjs");
    await writeFile(
      script,
      `import { pullImages, parseReference, EXIT } from "prepull";
const report = await pullImages([${JSON.stringify(stack.ref(repo, "1"))}], { env: { DOCKER_HOST: process.env.DOCKER_HOST } });
console.log(JSON.stringify({ status: report.images.map((i) => i.status), exitCode: report.exitCode, ok: EXIT.ok, ref: parseReference("nginx").ok }));\n`,
    );
    const run = await runIn(installed.dir, process.execPath, [script], userEnv({ DOCKER_HOST: stack.engine.dockerHost }));
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(JSON.parse(run.stdout), { status: ["pulled"], exitCode: 0, ok: 0, ref: true });
  });

  it("loads from CommonJS with require() (Node's require of an ES module, no second build)", async () => {
    const script = join(installed.dir, "cjs.cjs");
    await writeFile(
      script,
      `const prepull = require("prepull");\nconsole.log(JSON.stringify({ pullImages: typeof prepull.pullImages, normalized: prepull.parseReference("redis:7").value.canonical }));\n`,
    );
    const run = await runIn(installed.dir, process.execPath, [script], userEnv());
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(JSON.parse(run.stdout), { pullImages: "function", normalized: "docker.io/library/redis:7" });
    // No experimental-feature warning on the user's stderr either.
    assert.equal(run.stderr, "");
  });

  it("its type declarations resolve for a TypeScript consumer (NodeNext)", async () => {
    await writeFile(
      join(installed.dir, "consumer.ts"),
      `import { pullImages, type Report } from "prepull";\nconst report: Promise<Report> = pullImages(["nginx"], { settings: { attempts: 2 } });\nvoid report;\n`,
    );
    const tsc = join(REPO, "node_modules", "typescript", "bin", "tsc");
    const args = [
      "--noEmit",
      "--strict",
      "--module",
      "nodenext",
      "--moduleResolution",
      "nodenext",
      "--target",
      "es2022",
      "--skipLibCheck",
      "--typeRoots",
      join(REPO, "node_modules", "@types"),
      "--types",
      "node",
      "consumer.ts",
    ];
    const run = await runIn(installed.dir, process.execPath, [tsc, ...args], userEnv());
    assert.equal(run.code, 0, run.stdout + run.stderr);
  });
});
