// --compose: the image list from the compose files the tests start.
import { discoverComposeImages } from "../sources/compose.js";
import type { Result } from "../types.js";
import type { CliArgs } from "./args.js";
import type { Io } from "./io.js";

export async function imagesFromCompose(args: CliArgs, io: Io): Promise<Result<Array<{ image: string; platform?: string }>, string>> {
  const found = await discoverComposeImages(args.compose, { env: io.env, envFiles: args.envFiles });
  if (!found.ok) return { ok: false, error: found.error.message };
  const { images, notPullable, warnings } = found.value;
  for (const warning of warnings) io.stderr.write(`prepull: warning: ${warning}\n`);
  if (!args.quiet) {
    for (const s of notPullable) io.stderr.write(`prepull: not pullable: service ${s.service} in ${s.file} (${s.reason})\n`);
  }
  return { ok: true, value: images.map((i) => ({ image: i.image, ...(i.platform ? { platform: i.platform } : {}) })) };
}
