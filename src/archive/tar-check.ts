// Whether a file is a whole docker-archive: every tar header valid, every entry's data present,
// the two zero blocks of the end there, and a manifest.json among the entries. The engine's
// GET /images/get can fail after it started the tar: it then appends a JSON error to the stream
// and ends it normally, so a complete HTTP answer proves nothing; the tar's own structure does.
// Pure: it reads through the function it is given, header blocks only (a few per layer).

const BLOCK = 512;
/** More entries than this is not an image archive (a layer is 2–3 entries). */
export const MAX_TAR_ENTRIES = 100_000;

export type ReadAt = (offset: number, length: number) => Promise<Buffer>;

export type TarCheck = { readonly ok: true; readonly entries: number } | { readonly ok: false; readonly message: string };

/** Walks the headers of a tar of `size` bytes. */
export async function checkDockerArchive(read: ReadAt, size: number): Promise<TarCheck> {
  let offset = 0;
  let entries = 0;
  let manifest = false;
  let longName: string | undefined;
  for (;;) {
    if (offset + BLOCK > size) return bad(`it ends at byte ${size} inside the tar (truncated: no end-of-archive marker)`);
    const header = await read(offset, BLOCK);
    if (isZero(header)) {
      if (offset + 2 * BLOCK > size || !isZero(await read(offset + BLOCK, BLOCK)))
        return bad(`it has one zero block at byte ${offset} but not the end-of-archive marker (truncated)`);
      if (!manifest) return bad("it is a tar without a manifest.json: not a docker-archive");
      return { ok: true, entries };
    }
    if (!checksumOk(header))
      return bad(`the tar header at byte ${offset} is damaged (bad checksum): the engine may have written an error into the archive, or the file is corrupt`);
    const length = entrySize(header);
    if (length === undefined) return bad(`the tar header at byte ${offset} has an unreadable size`);
    const type = String.fromCharCode(header[156] ?? 0);
    const dataEnd = offset + BLOCK + Math.ceil(length / BLOCK) * BLOCK;
    if (dataEnd > size) return bad(`the entry at byte ${offset} needs ${length} bytes of data but the file ends at byte ${size} (truncated)`);
    if (type === "L") {
      // GNU long name: the next entry's name is this entry's data.
      longName = (await read(offset + BLOCK, Math.min(length, 4096))).toString("utf8").replace(/\0.*$/s, "");
    } else if (type !== "x" && type !== "g") {
      const name = longName ?? headerName(header);
      longName = undefined;
      if (name === "manifest.json" || name === "./manifest.json") manifest = true;
      entries += 1;
      if (entries > MAX_TAR_ENTRIES) return bad(`it has more than ${MAX_TAR_ENTRIES} entries: not an image archive`);
    }
    offset = dataEnd;
  }
}

function bad(message: string): TarCheck {
  return { ok: false, message };
}

function isZero(block: Buffer): boolean {
  for (const byte of block) if (byte !== 0) return false;
  return true;
}

/** The header's checksum: its bytes summed with the checksum field itself counted as spaces. */
function checksumOk(header: Buffer): boolean {
  const stored = parseOctal(header.subarray(148, 156));
  if (stored === undefined) return false;
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : (header[i] ?? 0);
  return sum === stored;
}

function entrySize(header: Buffer): number | undefined {
  const field = header.subarray(124, 136);
  // Base-256 (GNU) for sizes past 8 GiB: the high bit of the first byte is set.
  if (((field[0] ?? 0) & 0x80) !== 0) {
    let value = (field[0] ?? 0) & 0x7f;
    for (let i = 1; i < field.length; i++) value = value * 256 + (field[i] ?? 0);
    return Number.isSafeInteger(value) ? value : undefined;
  }
  return parseOctal(field);
}

function parseOctal(field: Buffer): number | undefined {
  const text = field.toString("latin1").replace(/\0.*$/s, "").trim();
  if (text === "") return 0;
  return /^[0-7]+$/.test(text) ? parseInt(text, 8) : undefined;
}

function headerName(header: Buffer): string {
  const cut = (b: Buffer) => b.toString("utf8").replace(/\0.*$/s, "");
  const name = cut(header.subarray(0, 100));
  const magic = header.subarray(257, 263).toString("latin1");
  const prefix = magic.startsWith("ustar") ? cut(header.subarray(345, 500)) : "";
  return prefix === "" ? name : `${prefix}/${name}`;
}
