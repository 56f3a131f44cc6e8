// argv → what the user asked for. Pure: no files are read here, no environment is consulted.
import { parseArgs } from "node:util";
import type { SettingFlags } from "../policy/settings.js";
import type { Result } from "../types.js";

export interface CliArgs {
  readonly help: boolean;
  readonly version: boolean;
  /** Positional references, in order; "-" is replaced by the lines of stdin by the caller. */
  readonly images: readonly string[];
  readonly readStdin: boolean;
  readonly files: readonly string[];
  readonly compose: readonly string[];
  readonly envFiles: readonly string[];
  readonly print: boolean;
  readonly settings: SettingFlags;
  readonly json?: string;
  readonly junit?: string;
  readonly pulled?: string;
  readonly quiet: boolean;
  readonly verbose: boolean;
  readonly color?: boolean;
  /** --context NAME: the docker context whose engine to use (beats DOCKER_HOST, like the docker CLI). */
  readonly context?: string;
}

const OPTIONS = {
  help: { type: "boolean", short: "h" },
  version: { type: "boolean", short: "V" },
  file: { type: "string", short: "f", multiple: true },
  compose: { type: "string", short: "c", multiple: true },
  "env-file": { type: "string", multiple: true },
  print: { type: "boolean" },
  retries: { type: "string" },
  "backoff-base": { type: "string" },
  "backoff-max": { type: "string" },
  timeout: { type: "string" },
  parallel: { type: "string", short: "p" },
  seed: { type: "string" },
  "rate-limit-backoff": { type: "string" },
  "stall-timeout": { type: "string" },
  deadline: { type: "string" },
  pull: { type: "string" },
  context: { type: "string" },
  platform: { type: "string" },
  json: { type: "string" },
  junit: { type: "string" },
  pulled: { type: "string" },
  quiet: { type: "boolean", short: "q" },
  verbose: { type: "boolean", short: "v" },
  color: { type: "boolean" },
  "no-color": { type: "boolean" },
} as const;

export function parseCliArgs(argv: readonly string[]): Result<CliArgs, string> {
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    // node:util's messages name the offending option; an image reference that starts with "-"
    // lands here too, which is exactly right: it is never taken for an image.
    const first = ((error as Error).message.split("\n")[0] ?? "").replace(/\. To specify a positional argument.*$/, "").replace(/\.$/, "");
    return { ok: false, error: `${first}. Run "prepull --help" for usage.` };
  }
  const { values: v, positionals } = parsed;
  if (v.quiet && v.verbose) return { ok: false, error: "--quiet and --verbose cannot be used together" };
  const settings: SettingFlags = {
    ...(v.retries !== undefined ? { retries: v.retries } : {}),
    ...(v["backoff-base"] !== undefined ? { backoffBaseMs: v["backoff-base"] } : {}),
    ...(v["backoff-max"] !== undefined ? { backoffMaxMs: v["backoff-max"] } : {}),
    ...(v.timeout !== undefined ? { timeoutMs: v.timeout } : {}),
    ...(v.parallel !== undefined ? { parallel: v.parallel } : {}),
    ...(v.seed !== undefined ? { seed: v.seed } : {}),
    ...(v["rate-limit-backoff"] !== undefined ? { rateLimitBackoffMs: v["rate-limit-backoff"] } : {}),
    ...(v["stall-timeout"] !== undefined ? { stallTimeoutMs: v["stall-timeout"] } : {}),
    ...(v.deadline !== undefined ? { deadlineMs: v.deadline } : {}),
    ...(v.pull !== undefined ? { pullPolicy: v.pull } : {}),
    ...(v.platform !== undefined ? { platform: v.platform } : {}),
  };
  const color = v["no-color"] ? false : v.color ? true : undefined;
  return {
    ok: true,
    value: {
      help: v.help ?? false,
      version: v.version ?? false,
      images: positionals.filter((p) => p !== "-"),
      readStdin: positionals.includes("-"),
      files: v.file ?? [],
      compose: v.compose ?? [],
      envFiles: v["env-file"] ?? [],
      print: v.print ?? false,
      settings,
      ...(v.json !== undefined ? { json: v.json } : {}),
      ...(v.junit !== undefined ? { junit: v.junit } : {}),
      ...(v.pulled !== undefined ? { pulled: v.pulled } : {}),
      quiet: v.quiet ?? false,
      verbose: v.verbose ?? false,
      ...(color !== undefined ? { color } : {}),
      ...(v.context !== undefined ? { context: v.context } : {}),
    },
  };
}
