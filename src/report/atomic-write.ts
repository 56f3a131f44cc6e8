// Report files are read by later CI steps, sometimes while prepull is still being killed. A reader
// must see either the previous file or the complete new one, never a truncated JSON or XML file:
// write a temporary file next to the target, flush it to disk, then rename it over the target.
import { randomBytes } from "node:crypto";
import * as fsp from "node:fs/promises";
import * as path from "node:path";

export type FileContents = string | Uint8Array;

/** Same directory as the target, because rename is only atomic within one file system. */
function tempPathFor(target: string): string {
  const suffix = `${process.pid}.${randomBytes(6).toString("hex")}`;
  return path.join(path.dirname(target), `.${path.basename(target)}.${suffix}.tmp`);
}

/** Replaces path with contents atomically, creating parent directories. The temp file is removed on failure. */
export async function writeFileAtomic(target: string, contents: FileContents): Promise<void> {
  await fsp.mkdir(path.dirname(target), { recursive: true });
  const temp = tempPathFor(target);
  let handle: fsp.FileHandle | undefined;
  try {
    handle = await fsp.open(temp, "wx");
    await handle.writeFile(contents);
    await handle.sync();
    await handle.close();
    handle = undefined;
    await fsp.rename(temp, target);
  } catch (error) {
    await handle?.close().catch(() => undefined);
    await fsp.rm(temp, { force: true }).catch(() => undefined);
    throw error;
  }
  await syncDirectory(path.dirname(target));
}

/**
 * Appends to a file without replacing it. GITHUB_STEP_SUMMARY and friends are shared by every
 * step of a job, so GitHub requires appending; an atomic replace would erase other steps' output.
 */
export async function appendFile(target: string, contents: FileContents): Promise<void> {
  await fsp.mkdir(path.dirname(target), { recursive: true });
  await fsp.appendFile(target, contents);
}

// The rename is only durable once the directory entry is flushed. Best effort: some platforms
// (Windows) refuse to open a directory, and the file content is already safe at this point.
export async function syncDirectory(directory: string): Promise<void> {
  let handle: fsp.FileHandle | undefined;
  try {
    handle = await fsp.open(directory, "r");
    await handle.sync();
  } catch {
    // Best effort, see above.
  } finally {
    await handle?.close().catch(() => undefined);
  }
}
