import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { appendFile, writeFileAtomic } from "../../src/report/atomic-write.js";

const root = mkdtempSync(join(tmpdir(), "prepull-report-"));
after(() => rmSync(root, { recursive: true, force: true }));

let counter = 0;
function freshDir(): string {
  counter += 1;
  const dir = join(root, `case-${counter}`);
  mkdirSync(dir);
  return dir;
}

const variants = { async: writeFileAtomic };

for (const [name, write] of Object.entries(variants)) {
  describe(`writeFileAtomic (${name})`, () => {
    it("creates missing parent directories", async () => {
      const target = join(freshDir(), "reports", "nested", "report.json");
      await write(target, '{"ok":true}\n');
      assert.equal(readFileSync(target, "utf8"), '{"ok":true}\n');
    });

    it("replaces an existing file and leaves no temporary file behind", async () => {
      const dir = freshDir();
      const target = join(dir, "report.xml");
      writeFileSync(target, "old contents that are longer than the new ones");
      await write(target, "new");
      assert.equal(readFileSync(target, "utf8"), "new");
      assert.deepEqual(readdirSync(dir), ["report.xml"]);
    });

    it("writes bytes as given", async () => {
      const target = join(freshDir(), "bytes.bin");
      await write(target, new Uint8Array([0, 255, 10]));
      assert.deepEqual([...readFileSync(target)], [0, 255, 10]);
    });

    it("removes the temporary file and rejects when the rename fails", async () => {
      const dir = freshDir();
      // A non-empty directory at the target path makes the final rename fail after the temp file was written.
      const target = join(dir, "report.json");
      mkdirSync(target);
      writeFileSync(join(target, "keep"), "x");
      await assert.rejects(write(target, "data"), (error: NodeJS.ErrnoException) => ["EISDIR", "ENOTEMPTY", "EEXIST", "EPERM"].includes(error.code ?? ""));
      assert.deepEqual(readdirSync(dir), ["report.json"]);
      assert.deepEqual(readdirSync(target), ["keep"]);
    });
  });
}

describe("appendFile", () => {
  it("appends instead of replacing, as GITHUB_STEP_SUMMARY requires", async () => {
    const target = join(freshDir(), "step-summary.md");
    writeFileSync(target, "## from an earlier step\n");
    await appendFile(target, "## prepull\n");
    await appendFile(target, "more\n");
    assert.equal(readFileSync(target, "utf8"), "## from an earlier step\n## prepull\nmore\n");
  });

  it("creates the file when it does not exist yet", async () => {
    const target = join(freshDir(), "sub", "summary.md");
    await appendFile(target, "first\n");
    assert.equal(readFileSync(target, "utf8"), "first\n");
  });
});
