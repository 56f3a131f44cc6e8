// --save, --load and --pull never on real engines: one engine pulls and saves, a second, fresh
// engine loads. What the registry saw (the fault proxy's log) proves "no registry traffic".
import assert from "node:assert/strict";
import { cp, readdir, readFile, rm, truncate, writeFile, stat } from "node:fs/promises";
import { request } from "node:http";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { startDockerd, type Dockerd } from "../../stack/dockerd.js";
import { startStack, type Stack } from "../../stack/stack.js";
import { compileReportSchema } from "../fixtures/validators.js";
import { baseEnv, runCli, tempDir } from "./run-cli.js";

interface JsonReport {
  exitCode: number;
  images: Array<{ reference: string; status: string; class: string; source?: string; reason?: string; rule?: string }>;
  archives?: Array<{ action: string; file: string; status: string; images: string[]; message?: string }>;
}

/** GET path on the engine's socket, as JSON. */
function engineJson(engine: Dockerd, path: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: engine.socketPath, path, method: "GET" }, (res) => {
      let body = "";
      res.setEncoding("utf8").on("data", (d: string) => (body += d));
      res.on("end", () => resolve(JSON.parse(body) as Record<string, unknown>));
    });
    req.on("error", reject);
    req.end();
  });
}

/** GET /images/{name}/json on the engine's socket: 200 when it has the image. */
function engineHas(engine: Dockerd, reference: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: engine.socketPath, path: `/images/${reference}/json`, method: "GET" }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode === 200));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("image archives: --save, --load, --pull never", () => {
  let stack: Stack;
  let fresh: Dockerd;
  let files: Awaited<ReturnType<typeof tempDir>>;
  const validate = compileReportSchema();

  before(async () => {
    [stack, fresh] = await Promise.all([startStack({ seed: 11 }), startDockerd()]);
    files = await tempDir();
  });
  after(async () => {
    await Promise.allSettled([stack?.stop(), fresh?.stop()]);
    await files?.remove();
  });

  const envFor = (engine: Dockerd, extra: Record<string, string> = {}) =>
    baseEnv({ DOCKER_HOST: engine.dockerHost, PULL_PREFLIGHT: "on", PULL_BACKOFF_BASE: "0.2", PULL_BACKOFF_MAX: "1", ...extra });
  const readReport = async (file: string) => {
    const report = JSON.parse(await readFile(file, "utf8")) as JsonReport;
    assert.ok(validate(report), JSON.stringify(validate.errors));
    return report;
  };
  const pushed = async (name: string, count: number) => {
    const repos = Array.from({ length: count }, (_, i) => stack.image(`${name}${i}`));
    for (const repo of repos) await stack.pushImage(repo, "1", { sizeBytes: 100_000 });
    return repos.map((repo) => stack.ref(repo, "1"));
  };
  /** Pulls refs on the stack's engine and saves them to dir. */
  const pullAndSave = async (refs: readonly string[], dir: string) => {
    const json = files.file(`save-${Math.random().toString(36).slice(2)}.json`);
    const run = await runCli([...refs, "--save", dir, "--json", json], { env: envFor(stack.engine) });
    assert.equal(run.code, 0, run.stderr);
    return readReport(json);
  };

  it("saves every image as a checked archive named by its digest, with an index, and loads them into a fresh engine with no registry traffic", async () => {
    const refs = await pushed("fanout", 3);
    const dir = files.file("archives");
    const saved = await pullAndSave(refs, dir);
    assert.deepEqual(
      saved.images.map((i) => [i.status, i.source]),
      refs.map(() => ["pulled", "upstream"]),
    );
    const names = (await readdir(dir)).sort();
    assert.equal(names.filter((n) => /^sha256-[0-9a-f]{64}\.tar$/.test(n)).length, 3, names.join(" "));
    assert.deepEqual(
      names.filter((n) => n.startsWith(".")),
      [],
      "no temporary file is left behind",
    );
    const index = JSON.parse(await readFile(join(dir, "prepull-archives.json"), "utf8")) as { images: Record<string, { file: string }> };
    assert.deepEqual(Object.keys(index.images).sort(), [...refs].sort());
    assert.deepEqual(
      saved.archives?.filter((a) => a.action === "save").map((a) => a.status),
      ["ok", "ok", "ok"],
    );

    stack.proxy.clearLog();
    const json = files.file("load.json");
    const run = await runCli([...refs, "--load", dir, "--pull", "never", "--json", json], { env: envFor(fresh) });
    assert.equal(run.code, 0, run.stderr);
    assert.equal(stack.proxy.count(), 0, `registry traffic during --load --pull never: ${JSON.stringify(stack.proxy.log.map((e) => `${e.method} ${e.path}`))}`);
    const report = await readReport(json);
    assert.deepEqual(
      report.images.map((i) => [i.reference, i.status, i.source]),
      refs.map((r) => [r, "present", "archive"]),
    );
    for (const ref of refs) assert.ok(await engineHas(fresh, ref), `the fresh engine has ${ref}`);
    assert.match(run.stdout, /SOURCE/);
    assert.match(run.stdout, /archives: 3 loaded, 0 saved; images by source: 3 archive/);
  });

  it("a truncated archive fails the run naming the file; the other image still comes from its archive, the damaged one from the registry", async () => {
    const [good, damaged] = (await pushed("corrupt", 2)) as [string, string];
    const dir = files.file("corrupt");
    await pullAndSave([good, damaged], dir);
    const index = JSON.parse(await readFile(join(dir, "prepull-archives.json"), "utf8")) as { images: Record<string, { file: string }> };
    const damagedFile = join(dir, index.images[damaged]?.file ?? "missing");
    await truncate(damagedFile, Math.floor((await stat(damagedFile)).size / 2));

    stack.proxy.clearLog();
    const json = files.file("corrupt.json");
    const run = await runCli([good, damaged, "--load", dir, "--json", json], { env: envFor(fresh) });
    assert.equal(run.code, 1, run.stderr);
    assert.ok(run.stderr.includes(damagedFile), `stderr names ${damagedFile}:\n${run.stderr}`);
    assert.match(run.stderr, /truncated or corrupt/);
    const report = await readReport(json);
    assert.deepEqual(
      report.images.map((i) => [i.status, i.source]),
      [
        ["present", "archive"],
        ["pulled", "upstream"],
      ],
    );
    const failed = report.archives?.filter((a) => a.status === "failed") ?? [];
    assert.deepEqual(
      failed.map((a) => a.file),
      [damagedFile],
    );
    const goodRepo = good.split("/")[1]?.split(":")[0] ?? "";
    assert.equal(stack.proxy.count({ repository: goodRepo }), 0, "the image its archive served was not asked of the registry");
  });

  it("a foreign tarball and a cut-off archive the index does not know are errors naming them, from the engine's own answer; nothing half-loaded counts", async () => {
    const dir = files.file("foreign");
    const [ref, cutRef] = (await pushed("foreign", 2)) as [string, string];
    await pullAndSave([ref], dir);
    // 4 KiB of zeros with a text in front: a tar the engine cannot read as an image archive.
    await writeFile(join(dir, "junk.tar"), Buffer.concat([Buffer.from("not a tar at all\n"), Buffer.alloc(4096)]));
    // A whole archive of another image, cut in half and dropped in by hand: only the engine can judge it.
    const other = files.file("foreign-other");
    await pullAndSave([cutRef], other);
    const [whole] = (await readdir(other)).filter((n) => n.endsWith(".tar"));
    await cp(join(other, whole ?? "missing"), join(dir, "cut.tar"));
    await truncate(join(dir, "cut.tar"), Math.floor((await stat(join(dir, "cut.tar"))).size / 2));
    const json = files.file("foreign.json");
    const run = await runCli([ref, cutRef, "--load", dir, "--pull", "never", "--json", json], { env: envFor(fresh) });
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stderr, /could not load .*junk\.tar: /);
    assert.match(run.stderr, /could not load .*cut\.tar: /);
    const report = await readReport(json);
    assert.deepEqual(
      report.images.map((i) => [i.status, i.source, i.rule]),
      [
        ["present", "archive", undefined],
        ["failed", undefined, "pull-never"],
      ],
    );
    assert.equal(await engineHas(fresh, cutRef), false);
  });

  it("a save the engine cannot finish leaves no file, names the image, and the other images are saved", async () => {
    const [fine, broken] = (await pushed("badsave", 2)) as [string, string];
    const dir = files.file("badsave");
    const pull = await runCli([fine, broken], { env: envFor(stack.engine) });
    assert.equal(pull.code, 0, pull.stderr);
    // Remove the broken image's layer content from the engine's storage: its export must fail.
    const inspect = await engineJson(stack.engine, `/images/${broken}/json`);
    const upper = (inspect.GraphDriver as { Data?: { UpperDir?: string } } | undefined)?.Data?.UpperDir;
    assert.ok(upper, `no UpperDir in ${JSON.stringify(inspect.GraphDriver)}`);
    await rm(upper, { recursive: true, force: true });
    const json = files.file("badsave.json");
    const run = await runCli([fine, broken, "--save", dir, "--json", json], { env: envFor(stack.engine) });
    assert.equal(run.code, 1, run.stderr);
    assert.ok(run.stderr.includes(`could not save ${broken} to ${dir}`), run.stderr);
    const names = await readdir(dir);
    assert.deepEqual(
      names.filter((n) => !/^sha256-[0-9a-f]{64}\.tar$/.test(n)).sort(),
      ["prepull-archives.json"],
      "only whole archives and the index, no temporary file",
    );
    assert.equal(names.length, 2);
    const index = JSON.parse(await readFile(join(dir, "prepull-archives.json"), "utf8")) as { images: Record<string, unknown> };
    assert.deepEqual(Object.keys(index.images), [fine]);
    const report = await readReport(json);
    assert.deepEqual(
      report.archives?.map((a) => [a.status, a.images]),
      [
        ["ok", [fine]],
        ["failed", [broken]],
      ],
    );
  });

  it("--pull never with one image missing fails it by name, with zero registry traffic", async () => {
    const [present, missing] = (await pushed("never", 2)) as [string, string];
    const dir = files.file("never");
    await pullAndSave([present], dir);
    await cp(dir, files.file("never-copy"), { recursive: true });
    stack.proxy.clearLog();
    const json = files.file("never.json");
    const run = await runCli([present, missing, "--load", files.file("never-copy"), "--pull", "never", "--json", json], { env: envFor(fresh) });
    assert.equal(run.code, 1, run.stderr);
    assert.equal(stack.proxy.count(), 0, "not one request to the registry, prepull's preflight included");
    assert.ok(run.stderr.includes(`${missing} is not present and not in the archives; --pull never forbids pulling`), run.stderr);
    const report = await readReport(json);
    assert.deepEqual(
      report.images.map((i) => [i.status, i.class, i.rule, i.source]),
      [
        ["present", "present", undefined, "archive"],
        ["failed", "permanent", "pull-never", undefined],
      ],
    );
    assert.equal(await engineHas(fresh, missing), false);
  });
});
