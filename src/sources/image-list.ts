// Image lists from --file and stdin: one reference per line, "#" comments and blank lines ignored.
import { readFile } from "node:fs/promises";
import type { Result } from "../types.js";

export function parseImageList(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((line) => line.replace(/(^|\s)#.*$/, "").trim())
    .filter((line) => line !== "");
}

export async function readImageListFile(path: string): Promise<Result<string[], string>> {
  try {
    return { ok: true, value: parseImageList(await readFile(path, "utf8")) };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why =
      code === "ENOENT" ? "no such file" : code === "EISDIR" ? "it is a directory" : code === "EACCES" ? "permission denied" : (error as Error).message;
    return { ok: false, error: `cannot read image list ${JSON.stringify(path)}: ${why}` };
  }
}

export async function readStream(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks).toString("utf8");
}
