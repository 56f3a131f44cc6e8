import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { archiveFileName, EMPTY_INDEX, parseIndex, planLoad, serializeIndex, withEntries } from "../../src/archive/index-file.js";
import { checkDockerArchive } from "../../src/archive/tar-check.js";
import { parseLoadStream } from "../../src/engine/archive-stream.js";
import { savePath, type EngineInfo } from "../../src/engine/client.js";
import type { Engine, LoadRequest, SaveRequest } from "../../src/engine/engine.js";
import { pullImages } from "../../src/index.js";
import { parseReference } from "../../src/reference/index.js";
import { annotations } from "../../src/report/github.js";
import { formatSummary } from "../../src/report/summary.js";
import { toJUnit } from "../../src/report/junit.js";
import { allPulled } from "../fixtures/reports.js";
import { makeTar } from "../../stack/images.js";

const sha = (data: Buffer | string) => createHash("sha256").update(data).digest("hex");
const readAll = (buffer: Buffer) => async (offset: number, length: number) => buffer.subarray(offset, offset + length);
const archive = (extra: Array<{ name: string; content: Buffer }> = []) =>
  makeTar([{ name: "abc/layer.tar", content: Buffer.alloc(700, 1) }, ...extra, { name: "manifest.json", content: Buffer.from('[{"RepoTags":["r/a:1"]}]') }]);

describe("the load stream (POST /images/load)", () => {
  it("collects the loaded names and ids, ignoring progress lines", () => {
    const stream = [
      '{"status":"Loading layer","progressDetail":{"current":512,"total":1024},"id":"abc"}',
      '{"stream":"Loaded image: 127.0.0.1:5000/a:1\\n"}',
      '{"stream":"Loaded image ID: sha256:' + "b".repeat(64) + '\\n"}',
    ].join("\r\n");
    assert.deepEqual(parseLoadStream(stream), { ok: true, names: ["127.0.0.1:5000/a:1"], ids: ["sha256:" + "b".repeat(64)] });
  });

  it("an error line fails the load even after images were reported loaded", () => {
    const stream = '{"stream":"Loaded image: a:1\\n"}\n{"errorDetail":{"message":"unexpected EOF"},"error":"unexpected EOF"}\n';
    assert.deepEqual(parseLoadStream(stream), { ok: false, message: "unexpected EOF" });
  });

  it("a stream that loaded nothing is a failure, not an empty success", () => {
    const outcome = parseLoadStream('{"status":"Loading layer"}\nnot json\n');
    assert.equal(outcome.ok, false);
    assert.match(outcome.ok ? "" : outcome.message, /loaded no image/);
  });
});

describe("the docker-archive check", () => {
  it("accepts a whole archive with a manifest.json", async () => {
    const tar = archive();
    assert.deepEqual(await checkDockerArchive(readAll(tar), tar.length), { ok: true, entries: 2 });
  });

  it("refuses a cut-off archive wherever the cut falls", async () => {
    const tar = archive();
    for (const size of [0, 100, 512, 800, tar.length - 1024, tar.length - 512, tar.length - 1]) {
      const check = await checkDockerArchive(readAll(tar.subarray(0, size)), size);
      assert.equal(check.ok, false, `cut at ${size}`);
      assert.match(check.ok ? "" : check.message, /truncated|end-of-archive/);
    }
  });

  it("refuses an archive the engine appended an error to (GET /images/get failing mid-stream)", async () => {
    const whole = archive();
    const tar = Buffer.concat([whole.subarray(0, whole.length - 1024), Buffer.from('{"errorDetail":{"message":"layer gone"}}'), Buffer.alloc(1024)]);
    const check = await checkDockerArchive(readAll(tar), tar.length);
    assert.equal(check.ok, false);
    assert.match(check.ok ? "" : check.message, /bad checksum/);
  });

  it("refuses a tar without manifest.json", async () => {
    const tar = makeTar([{ name: "hello.txt", content: Buffer.from("hi") }]);
    const check = await checkDockerArchive(readAll(tar), tar.length);
    assert.match(check.ok ? "" : check.message, /without a manifest\.json/);
  });
});

describe("the archive index", () => {
  const file = archiveFileName("a".repeat(64));

  it("round-trips, sorted by reference", () => {
    const index = withEntries(EMPTY_INDEX, { "r/b:1": { file, bytes: 3, savedAt: "t" }, "r/a:1": { file, bytes: 3, savedAt: "t" } });
    const text = serializeIndex(index);
    assert.ok(text.indexOf("r/a:1") < text.indexOf("r/b:1"));
    assert.deepEqual(parseIndex(text, "i.json"), { ok: true, value: index });
  });

  it("refuses entries that do not name a sha256 file (no paths out of the directory)", () => {
    for (const bad of ["../etc/passwd", "sha256-abc.tar", `sub/${file}`]) {
      const parsed = parseIndex(JSON.stringify({ version: 1, images: { "r/a:1": { file: bad } } }), "dir/prepull-archives.json");
      assert.equal(parsed.ok, false, bad);
      assert.match(parsed.ok ? "" : parsed.error, /dir\/prepull-archives\.json: the entry for "r\/a:1"/);
    }
    assert.match((parseIndex("{", "x.json") as { error: string }).error, /x\.json is not valid JSON/);
    assert.match((parseIndex('{"version":2,"images":{}}', "x.json") as { error: string }).error, /not a prepull archive index/);
  });

  it("plans the batch's files once each, plus every archive the index does not know", () => {
    const other = archiveFileName("b".repeat(64));
    const index = withEntries(EMPTY_INDEX, {
      "r/a:1": { file, bytes: 1, savedAt: "" },
      "r/a:latest": { file, bytes: 1, savedAt: "" },
      "r/c:1": { file: other, bytes: 1, savedAt: "" },
    });
    const plan = planLoad(index, ["r/a:1", "r/a:latest", "r/x:1"], [file, other, "mine.tar", ".prepull-1-ab.tar.tmp"]);
    assert.deepEqual([...plan.listed.entries()], [[file, ["r/a:1", "r/a:latest"]]]);
    assert.deepEqual(plan.unlisted, ["mine.tar"]);
  });
});

describe("the save request", () => {
  const reference = (() => {
    const parsed = parseReference("127.0.0.1:5000/a:1");
    assert.ok(parsed.ok);
    return parsed.value;
  })();
  const info = (serverApiVersion: string): EngineInfo => ({ address: "unix:///x", apiVersion: "1.45", serverApiVersion });
  const platform = { os: "linux", architecture: "arm64", variant: "v8" };

  it("names the images, and asks for a platform only from API 1.48", () => {
    assert.equal(savePath(info("1.41"), [reference], platform), "/v1.45/images/get?names=127.0.0.1%3A5000%2Fa%3A1");
    assert.equal(
      savePath(info("1.48"), [reference], platform),
      `/v1.48/images/get?names=127.0.0.1%3A5000%2Fa%3A1&platform=${encodeURIComponent(JSON.stringify(platform))}`,
    );
    assert.equal(savePath(info("1.49"), [reference], undefined), "/v1.45/images/get?names=127.0.0.1%3A5000%2Fa%3A1");
  });
});

describe("--load, --save and --pull never through the library, on a scripted engine", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "prepull-archives-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** Has what it loaded; loads an archive whose text is "name:<ref>", fails on "error:<message>". */
  function archiveEngine(initially: readonly string[] = []) {
    const has = new Set(initially);
    const pulls: string[] = [];
    const engine: Engine = {
      pull: async (request) => {
        pulls.push(request.reference.canonical);
        has.add(request.reference.canonical);
        return { ok: true, bytes: 1, upToDate: false };
      },
      hasImage: async (reference) => has.has(reference.canonical),
      async loadArchive(request: LoadRequest) {
        let text = "";
        for await (const chunk of request.source) text += String(chunk);
        if (text.startsWith("error:")) return { ok: false, message: text.slice(6) };
        const name = text.slice(5);
        has.add(name);
        return { ok: true, names: [name], ids: [] };
      },
    };
    return { engine, pulls };
  }

  it("serves what loads, fails what --pull never cannot serve naming the damaged file, and pulls nothing", async () => {
    const load = join(dir, "load");
    await mkdir(load, { recursive: true });
    const a = "name:127.0.0.1:5000/a:1";
    const aFile = archiveFileName(sha(a));
    const bFile = archiveFileName(sha("the content before it was damaged"));
    await writeFile(join(load, aFile), a);
    await writeFile(join(load, bFile), "name:127.0.0.1:5000/b:1");
    await writeFile(join(load, "mine.tar"), "name:127.0.0.1:5000/c:1");
    await writeFile(join(load, "junk.tar"), "error:archive/tar: invalid tar header");
    await writeFile(
      join(load, "prepull-archives.json"),
      serializeIndex(
        withEntries(EMPTY_INDEX, {
          "127.0.0.1:5000/a:1": { file: aFile, bytes: 1, savedAt: "" },
          "127.0.0.1:5000/b:1": { file: bFile, bytes: 1, savedAt: "" },
        }),
      ),
    );
    const { engine, pulls } = archiveEngine(["127.0.0.1:5000/d:1"]);
    const report = await pullImages(["127.0.0.1:5000/a:1", "127.0.0.1:5000/b:1", "127.0.0.1:5000/c:1", "127.0.0.1:5000/d:1"], {
      engine,
      env: {},
      settings: { loadDir: load, pullPolicy: "never" },
    });
    assert.deepEqual(pulls, []);
    assert.deepEqual(
      report.images.map((i) => [i.reference, i.status, i.source, i.rule]),
      [
        ["127.0.0.1:5000/a:1", "present", "archive", undefined],
        ["127.0.0.1:5000/b:1", "failed", undefined, "pull-never"],
        ["127.0.0.1:5000/c:1", "present", "archive", undefined],
        ["127.0.0.1:5000/d:1", "present", "engine", undefined],
      ],
    );
    const b = report.images[1];
    assert.ok(b?.reason?.includes("not present and not in the archives; --pull never forbids pulling"));
    assert.ok(b?.reason?.includes(join(load, bFile)), b?.reason);
    assert.match(b?.reason ?? "", /does not match its name/);
    assert.deepEqual(
      report.archives?.map((r) => [r.file, r.status]),
      [
        [join(load, aFile), "ok"],
        [join(load, bFile), "failed"],
        [join(load, "junk.tar"), "failed"],
        [join(load, "mine.tar"), "ok"],
      ],
    );
    assert.equal(report.exitCode, 1);
    const summary = formatSummary(report);
    assert.match(summary, /^STATUS +SOURCE +IMAGE/);
    assert.match(summary, /archive FAILED: could not load .*junk\.tar: archive\/tar: invalid tar header/);
    assert.match(toJUnit(report), /<property name="source" value="archive"\/>/);
  });

  it("a load directory that does not exist fails the run, naming it", async () => {
    const { engine } = archiveEngine(["127.0.0.1:5000/a:1"]);
    const report = await pullImages(["127.0.0.1:5000/a:1"], { engine, env: {}, settings: { loadDir: join(dir, "nope") } });
    assert.equal(report.exitCode, 1);
    assert.match(report.archives?.[0]?.message ?? "", /the archive directory .*nope does not exist/);
    assert.equal(report.images[0]?.source, "engine");
  });

  it("saves each image atomically under its content's digest, skips digest references, and leaves nothing of a broken save", async () => {
    const save = join(dir, "save");
    const good = archive();
    const { engine } = archiveEngine();
    engine.saveImage = async (request: SaveRequest) => {
      const broken = request.references[0]?.repository === "broken";
      const bytes = broken ? Buffer.concat([good.subarray(0, 1536), Buffer.from('{"errorDetail":{"message":"boom"}}\n')]) : good;
      await new Promise<void>((resolve) => request.destination.end(bytes, () => resolve()));
      return { ok: true, bytes: bytes.length };
    };
    const digestRef = `127.0.0.1:5000/d@sha256:${"c".repeat(64)}`;
    const report = await pullImages(["127.0.0.1:5000/a:1", "127.0.0.1:5000/broken:1", digestRef], {
      engine,
      env: {},
      settings: { saveDir: save, pullPolicy: "always" },
    });
    assert.deepEqual(
      report.archives?.map((r) => [r.action, r.status, r.images]),
      [
        ["save", "ok", ["127.0.0.1:5000/a:1"]],
        ["save", "failed", ["127.0.0.1:5000/broken:1"]],
        ["save", "skipped", [digestRef]],
      ],
    );
    assert.match(report.archives?.[1]?.message ?? "", /not a whole docker-archive: it ends at byte 1571 inside the tar/);
    assert.deepEqual((await readdir(save)).sort(), ["prepull-archives.json", archiveFileName(sha(good))]);
    const index = parseIndex(await readFile(join(save, "prepull-archives.json"), "utf8"), "index");
    assert.ok(index.ok);
    assert.deepEqual(Object.keys(index.value.images), ["127.0.0.1:5000/a:1"]);
    assert.equal(report.exitCode, 1);
  });
});

describe("archive failures in the GitHub annotations", () => {
  it("adds one ::error per failed archive, naming the file", () => {
    const report = {
      ...allPulled,
      archives: [
        {
          action: "load" as const,
          file: "/a/x.tar",
          status: "failed" as const,
          images: [],
          bytes: 0,
          durationMs: 0,
          message: "could not load /a/x.tar: unexpected EOF",
        },
      ],
    };
    assert.deepEqual(annotations(report), ["::error title=prepull%3A archive::could not load /a/x.tar: unexpected EOF"]);
  });
});
