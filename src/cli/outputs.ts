// The files a run leaves behind. Each is written atomically, and every one is attempted even when
// another fails, so a CI step always finds what it can.
import { appendFile, writeFileAtomic } from "../report/atomic-write.js";
import { stepSummaryMarkdown } from "../report/github.js";
import { toJson } from "../report/json.js";
import { toJUnit } from "../report/junit.js";
import { pulledList } from "../report/pulled.js";
import { terminalSafe } from "../report/summary.js";
import type { Report } from "../types.js";
import type { CliArgs } from "./args.js";
import type { Io } from "./io.js";

/** `lock`: the lock file's text, when --lock asked for one (it needs the engine, so the caller renders it). */
export async function writeOutputs(report: Report, args: CliArgs, io: Io, lock?: string): Promise<boolean> {
  const outputs: Array<[path: string | undefined, what: string, render: (r: Report) => string]> = [
    [args.json, "JSON report", toJson],
    [args.junit, "JUnit report", toJUnit],
    [args.pulled, "pulled list", pulledList],
    [lock === undefined ? undefined : args.lock, "lock file", () => lock ?? ""],
  ];
  let ok = true;
  for (const [path, what, render] of outputs) {
    if (path === undefined) continue;
    try {
      await writeFileAtomic(path, render(report));
    } catch (error) {
      ok = false;
      io.stderr.write(`prepull: ${terminalSafe(`could not write the ${what} to ${JSON.stringify(path)}: ${(error as Error).message}`)}\n`);
    }
  }
  const summary = io.env.GITHUB_ACTIONS === "true" ? io.env.GITHUB_STEP_SUMMARY : undefined;
  if (summary) {
    try {
      // GitHub collects the step summary from this file: append, never replace, as its docs require.
      await appendFile(summary, stepSummaryMarkdown(report));
    } catch (error) {
      ok = false;
      io.stderr.write(`prepull: ${terminalSafe(`could not append to GITHUB_STEP_SUMMARY ${JSON.stringify(summary)}: ${(error as Error).message}`)}\n`);
    }
  }
  return ok;
}
