// --compose: the image list from the compose files the tests start.
import { composeFilesFromEnv, discoverComposeImages } from "../sources/compose.js";
import { terminalSafe } from "../report/summary.js";
import type { Result } from "../types.js";
import type { CliArgs } from "./args.js";
import type { Io } from "./io.js";

/** Reads --compose, or else COMPOSE_FILE (the caller decides when that applies). Each image keeps its service's platform:. */
export async function imagesFromCompose(args: CliArgs, io: Io): Promise<Result<Array<{ image: string; platform?: string }>, string>> {
  const paths = args.compose.length > 0 ? args.compose : composeFilesFromEnv(io.env);
  const found = await discoverComposeImages(paths, { env: io.env, envFiles: args.envFiles, profiles: args.profiles });
  if (!found.ok) return { ok: false, error: found.error.message };
  const { images, notPullable, warnings } = found.value;
  // Service names, file names and images are the user's text: shown escaped, never acted on.
  for (const warning of warnings) io.stderr.write(`prepull: warning: ${terminalSafe(warning)}\n`);
  if (!args.quiet) {
    for (const s of notPullable) io.stderr.write(`prepull: not pullable: ${terminalSafe(`service ${JSON.stringify(s.service)} in ${s.file} (${s.reason})`)}\n`);
  }
  return { ok: true, value: images.map((i) => ({ image: i.image, ...(i.platform ? { platform: i.platform } : {}) })) };
}
