#!/usr/bin/env node
// The command-line edge: argv and environment in, exit code out. Everything it decides is
// delegated; what it owns is I/O: reading lists, signals, writing outputs.
import { parseCliArgs } from "./args.js";
import type { Io } from "./io.js";
import { version } from "../version.js";
import { EXIT } from "../exit-codes.js";

async function main(argv: readonly string[], io: Io): Promise<number> {
  const parsed = parseCliArgs(argv);
  if (!parsed.ok) {
    const { terminalSafe } = await import("../report/summary.js");
    io.stderr.write(`prepull: ${terminalSafe(parsed.error)}\n`);
    return EXIT.usage;
  }
  const args = parsed.value;
  if (args.help) {
    const { helpText } = await import("./help.js");
    io.stdout.write(helpText());
    return 0;
  }
  if (args.version) {
    io.stdout.write(`prepull ${version()}\n`);
    return 0;
  }
  // Loaded only now, so --version and --help stay instant.
  const { run } = await import("./run.js");
  return run(args, io, version());
}

process.exitCode = await main(process.argv.slice(2), { env: process.env, stdin: process.stdin, stdout: process.stdout, stderr: process.stderr });
