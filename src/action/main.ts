// The GitHub Action's entry (action.yml runs its bundle, dist-action/index.js, on the runner's
// Node 24). The runner gives inputs as INPUT_* variables and GITHUB_ACTIONS=true; this turns them
// into argv and runs the CLI in-process, so groups, annotations, the step summary and the exit
// code are exactly the CLI's. What it adds: step outputs, written to GITHUB_OUTPUT.
import { appendFile } from "node:fs/promises";
import { parseCliArgs } from "../cli/args.js";
import { run } from "../cli/run.js";
import { escapeData } from "../report/github.js";
import { EXIT } from "../exit-codes.js";
import type { Report } from "../types.js";
import { version } from "../version.js";
import { argvFromInputs, fileCommand, outputsOf } from "./action.js";

const MEANING: Record<number, string> = {
  [EXIT.usage]: "usage error or bad input; nothing was pulled",
  [EXIT.engineUnreachable]: "the engine could not be reached",
};

async function main(env: NodeJS.ProcessEnv): Promise<number> {
  const io = { env, stdin: process.stdin, stdout: process.stdout, stderr: process.stderr };
  const argv = argvFromInputs(env);
  const parsed = argv.ok ? parseCliArgs(argv.value) : argv;
  let code: number;
  let report: Report | undefined;
  if (!parsed.ok) {
    process.stderr.write(`prepull: ${parsed.error}\n`);
    code = EXIT.usage;
  } else {
    code = await run(parsed.value, io, version(), { onReport: (r) => (report = r) });
  }
  const meaning = MEANING[code];
  // The CLI's message is in the log already; the annotation makes the step's failure visible on the run page.
  if (meaning !== undefined)
    process.stdout.write(`::error title=prepull::${escapeData(`prepull exited with ${code}: ${meaning} (the step's log says why)`)}\n`);
  return (await writeStepOutputs(env, { "exit-code": String(code), ...(report ? outputsOf(report, env, process.cwd()) : {}) }))
    ? code
    : Math.max(code, EXIT.failed);
}

async function writeStepOutputs(env: NodeJS.ProcessEnv, outputs: Record<string, string>): Promise<boolean> {
  const file = env.GITHUB_OUTPUT;
  if (!file) {
    process.stderr.write("prepull: GITHUB_OUTPUT is not set, so the step outputs are not written (not running as a GitHub Action?)\n");
    return true;
  }
  try {
    await appendFile(
      file,
      Object.entries(outputs)
        .map(([name, value]) => fileCommand(name, value))
        .join(""),
    );
    return true;
  } catch (error) {
    process.stderr.write(`prepull: could not write the step outputs to GITHUB_OUTPUT ${JSON.stringify(file)}: ${(error as Error).message}\n`);
    return false;
  }
}

process.exitCode = await main(process.env);
