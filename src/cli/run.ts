// A pull run from the command line: gather references, validate, pull, and always write the outputs.
import { resolveSettings } from "../policy/settings.js";
import { formatReferenceError } from "../reference/index.js";
import { EXIT } from "../exit-codes.js";
import { planReferences, runPlan } from "../run/pull-images.js";
import { wireRun } from "../wiring.js";
import { parseImageList, readImageListFile, readStream } from "../sources/image-list.js";
import type { Report } from "../types.js";
import type { CliArgs } from "./args.js";
import type { Io } from "./io.js";
import { terminalSafe } from "../report/summary.js";
import { createConsole } from "./console.js";
import { writeOutputs } from "./outputs.js";
import type { Engine } from "../engine/engine.js";
import { formatLock } from "../lock/lock-file.js";
import { lockCheck, lockEntries, lockingConnect, readLockFile } from "../lock/locked.js";

export interface RunHooks {
  /** Called with the finished report (not for usage errors, which end before a report exists). */
  readonly onReport?: (report: Report) => void;
}

export async function run(args: CliArgs, io: Io, version: string, hooks: RunHooks = {}): Promise<number> {
  const fail = (message: string) => {
    io.stderr.write(`prepull: ${terminalSafe(message)}\n`);
    return EXIT.usage;
  };
  const settings = resolveSettings(io.env, args.settings);
  if (!settings.ok) return fail(settings.error.message);
  const lock = args.locked !== undefined ? await readLockFile(args.locked) : undefined;
  if (lock && !lock.ok) return fail(lock.error);

  const inputs = await gatherInputs(args, io);
  if (!inputs.ok) return fail(inputs.error);
  if (inputs.value.length === 0)
    return fail('no images given: name them as arguments, with --file, with --compose (or COMPOSE_FILE), or with "-" on standard input');
  const plan = planReferences(inputs.value.map((i) => i.input));
  if (!plan.ok)
    return fail(
      `nothing was pulled: ${plan.error.length === 1 ? "1 invalid image reference" : `${plan.error.length} invalid image references`}\n${plan.error.map((e) => `  ${formatReferenceError(e)}`).join("\n")}`,
    );
  if (args.print) {
    io.stdout.write(plan.value.map((r) => `${r.canonical}\n`).join(""));
    return EXIT.ok;
  }
  // A compose service's platform: travels with its image.
  const platforms = new Map(inputs.value.flatMap((i) => (i.platform ? [[i.input, i.platform] as const] : [])));
  const references = plan.value.map((r) => {
    const platform = platforms.get(r.input);
    return platform ? { ...r, platform } : r;
  });

  if (lock && settings.value.preflight === "off") {
    io.stderr.write(
      "prepull: warning: --locked with --preflight off: the locked digests are pulled without asking the registries whether the tags moved since\n",
    );
  }
  const interruption = trapSignals();
  const console = createConsole(args, io);
  const wired = wireRun({ env: io.env, settings: settings.value, ...(args.context !== undefined ? { context: args.context } : {}) });
  const engines = lockingConnect(wired.connect, lock?.value);
  console.begin(
    plan.value.map((r) => r.canonical),
    settings.value.attempts,
  );
  let report: Report;
  try {
    report = await runPlan(references, {
      ...wired,
      connect: engines.connect,
      ...(lock && args.locked !== undefined ? { lock: lockCheck(lock.value, args.locked) } : {}),
      signal: interruption.signal,
      onEvent: (event) => console.event(event),
      version,
      interruption: () => interruption.which,
    });
  } finally {
    interruption.release();
  }
  console.end(report);
  hooks.onReport?.(report);
  const lockText = args.lock !== undefined ? await lockFileFor(report, engines.engine()) : undefined;
  const written = await writeOutputs(report, args, io, lockText);
  if (!written) return Math.max(report.exitCode, EXIT.failed);
  return report.exitCode;
}

async function lockFileFor(report: Report, engine: Engine | undefined): Promise<string> {
  const { locked, unlocked } = await lockEntries(report, engine);
  return formatLock(locked, unlocked);
}

interface Input {
  readonly input: string;
  readonly platform?: string;
}

async function gatherInputs(args: CliArgs, io: Io): Promise<{ ok: true; value: Input[] } | { ok: false; error: string }> {
  const listed = await gatherReferences(args, io);
  if (!listed.ok) return listed;
  const inputs: Input[] = listed.value.map((input) => ({ input }));
  // COMPOSE_FILE stands in for --compose only when nothing else names images, as it stands in for -f.
  const noOtherInput = args.images.length === 0 && args.files.length === 0 && !args.readStdin;
  if (args.compose.length === 0 && !(noOtherInput && io.env.COMPOSE_FILE)) return { ok: true, value: inputs };
  const { imagesFromCompose } = await import("./compose.js");
  const composed = await imagesFromCompose(args, io);
  if (!composed.ok) return composed;
  return { ok: true, value: [...inputs, ...composed.value.map((c) => ({ input: c.image, ...(c.platform ? { platform: c.platform } : {}) }))] };
}

async function gatherReferences(args: CliArgs, io: Io): Promise<{ ok: true; value: string[] } | { ok: false; error: string }> {
  const inputs = [...args.images];
  for (const file of args.files) {
    if (file === "-") {
      inputs.push(...parseImageList(await readStream(io.stdin)));
      continue;
    }
    const list = await readImageListFile(file);
    if (!list.ok) return list;
    inputs.push(...list.value);
  }
  if (args.readStdin && !args.files.includes("-")) inputs.push(...parseImageList(await readStream(io.stdin)));
  return { ok: true, value: inputs };
}

/** SIGINT/SIGTERM cancel the run (pulls and sleeps) so the summary and reports are still written; a second one exits at once. */
function trapSignals(): { signal: AbortSignal; which: "SIGINT" | "SIGTERM" | undefined; release(): void } {
  const controller = new AbortController();
  const state: { signal: AbortSignal; which: "SIGINT" | "SIGTERM" | undefined; release(): void } = {
    signal: controller.signal,
    which: undefined,
    release: () => {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    },
  };
  function onSignal(name: NodeJS.Signals) {
    if (state.which) process.exit(name === "SIGINT" ? EXIT.sigint : EXIT.sigterm);
    state.which = name === "SIGTERM" ? "SIGTERM" : "SIGINT";
    controller.abort(new Error(`interrupted by ${name}`));
  }
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  return state;
}
