// Archive files on disk. A save streams into a temporary file beside its final name (hashing as it
// goes), is checked as a whole tar, flushed, and only then renamed to "sha256-<hex>.tar": a reader
// never sees half a file, and a failed save leaves nothing behind. Loads stream from disk too.
import { createHash, randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import * as fsp from "node:fs/promises";
import * as path from "node:path";
import { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { SaveOutcome } from "../engine/engine.js";
import { syncDirectory } from "../report/atomic-write.js";
import type { Result } from "../types.js";
import { archiveFileName } from "./index-file.js";
import { checkDockerArchive } from "./tar-check.js";

export interface WrittenArchive {
  /** Path of the archive, "<dir>/sha256-<hex>.tar". */
  readonly file: string;
  readonly name: string;
  readonly bytes: number;
}

/** Runs `save` into a temporary file in `dir`, checks it, and renames it to its content's name. */
export async function writeArchive(dir: string, save: (destination: NodeJS.WritableStream) => Promise<SaveOutcome>): Promise<Result<WrittenArchive, string>> {
  await fsp.mkdir(dir, { recursive: true });
  const temp = path.join(dir, `.prepull-${process.pid}-${randomBytes(6).toString("hex")}.tar.tmp`);
  // Read back for the tar check, hence "+".
  const handle = await fsp.open(temp, "wx+");
  let closed = false;
  try {
    const hash = createHash("sha256");
    let bytes = 0;
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        hash.update(chunk);
        bytes += chunk.length;
        handle.write(chunk).then(() => callback(), callback);
      },
    });
    const saved = await save(sink);
    if (!saved.ok) return { ok: false, error: saved.message };
    await handle.sync();
    const check = await checkDockerArchive(readAt(handle), bytes);
    if (!check.ok) return { ok: false, error: `the engine's archive is not a whole docker-archive: ${check.message}` };
    await handle.close();
    closed = true;
    const name = archiveFileName(hash.digest("hex"));
    const file = path.join(dir, name);
    await fsp.rename(temp, file);
    await syncDirectory(dir);
    return { ok: true, value: { file, name, bytes } };
  } finally {
    if (!closed) await handle.close().catch(() => undefined);
    await fsp.rm(temp, { force: true }).catch(() => undefined);
  }
}

function readAt(handle: fsp.FileHandle): (offset: number, length: number) => Promise<Buffer> {
  return async (offset, length) => {
    const buffer = Buffer.alloc(length);
    const { bytesRead } = await handle.read(buffer, 0, length, offset);
    return buffer.subarray(0, bytesRead);
  };
}

/** The file's sha256 (hex) and size, read as a stream; cancelled by the signal. */
export async function hashFile(file: string, signal: AbortSignal): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash("sha256");
  let bytes = 0;
  await pipeline(
    createReadStream(file),
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        hash.update(chunk);
        bytes += chunk.length;
        callback();
      },
    }),
    { signal },
  );
  return { sha256: hash.digest("hex"), bytes };
}

/** The archive files (*.tar) in a directory, by name; temporary files (".…") are not archives. */
export async function listArchives(dir: string): Promise<Result<string[], string>> {
  try {
    const entries = await fsp.readdir(dir, { withFileTypes: true });
    return {
      ok: true,
      value: entries
        .filter((e) => e.isFile() && e.name.endsWith(".tar") && !e.name.startsWith("."))
        .map((e) => e.name)
        .sort(),
    };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return {
      ok: false,
      error: code === "ENOENT" ? `the archive directory ${dir} does not exist` : `cannot read the archive directory ${dir}: ${(error as Error).message}`,
    };
  }
}

/** The index text, undefined when there is none. */
export async function readIndexText(file: string): Promise<Result<string | undefined, string>> {
  try {
    const stat = await fsp.stat(file);
    // An index lists references and file names: megabytes of it is not prepull's.
    if (stat.size > 16 * 1024 * 1024) return { ok: false, error: `${file} is ${stat.size} bytes: too large for an archive index` };
    return { ok: true, value: await fsp.readFile(file, "utf8") };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return { ok: true, value: undefined };
    return { ok: false, error: `cannot read ${file}: ${(error as Error).message}` };
  }
}
