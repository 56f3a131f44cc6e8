// Where events and the summary are shown: plain timestamped lines (CI logs), GitHub Actions
// groups and annotations, or a live view redrawn in place when stderr is a terminal.
import { annotations, groupEnd, groupStart } from "../report/github.js";
import { applyEvent, initialView, renderView, type ViewState } from "../report/live-view.js";
import { formatLogLine, type Verbosity } from "../report/log-lines.js";
import { formatSummary } from "../report/summary.js";
import type { PullEvent, Report } from "../types.js";
import type { CliArgs } from "./args.js";
import type { Io } from "./io.js";

export interface Console {
  begin(images: readonly string[], maxAttempts: number): void;
  event(event: PullEvent): void;
  end(report: Report): void;
}

/** Whether the summary, which goes to stdout, is colored: --color/--no-color, else NO_COLOR, else whether stdout is a terminal. */
export function wantsColor(args: CliArgs, io: Io): boolean {
  if (args.color !== undefined) return args.color;
  if (io.env.NO_COLOR !== undefined && io.env.NO_COLOR !== "") return false;
  // Not stderr's TTY: `prepull ... > summary.txt` in a terminal must not put escape codes in the file.
  return io.stdout.isTTY === true;
}

function verbosityOf(args: CliArgs): Verbosity {
  return args.quiet ? "quiet" : args.verbose ? "verbose" : "normal";
}

export function createConsole(args: CliArgs, io: Io): Console {
  const github = io.env.GITHUB_ACTIONS === "true";
  // A live view only makes sense on a terminal, and never when the user asked for quiet or verbose logs.
  if (io.stderr.isTTY === true && !github && !args.quiet && !args.verbose) return liveConsole(args, io);
  return lineConsole(args, io, github);
}

function lineConsole(args: CliArgs, io: Io, github: boolean): Console {
  const verbosity = verbosityOf(args);
  // Under GitHub Actions everything goes to stdout so the group markers and the lines stay in order.
  const log = github ? io.stdout : io.stderr;
  const write = (text: string) => log.write(`${new Date().toISOString()} ${text}\n`);
  return {
    begin(images) {
      if (github) io.stdout.write(`${groupStart(`prepull: pulling ${images.length} image${images.length === 1 ? "" : "s"}`)}\n`);
      if (verbosity !== "quiet") write(`prepull: pulling ${images.length} image${images.length === 1 ? "" : "s"}`);
    },
    event(event) {
      const line = formatLogLine(event, verbosity, new Date());
      if (line !== undefined) log.write(`${line}\n`);
    },
    end(report) {
      if (github) {
        io.stdout.write(`${groupEnd()}\n`);
        for (const line of annotations(report)) io.stdout.write(`${line}\n`);
      }
      io.stdout.write(formatSummary(report, { color: wantsColor(args, io) }));
    },
  };
}

const REDRAW_MS = 100;

function liveConsole(args: CliArgs, io: Io): Console {
  const out = io.stderr;
  let view: ViewState = initialView([], 0);
  let drawn = 0;
  let timer: NodeJS.Timeout | undefined;
  const draw = () => {
    const width = Math.max(20, (io.stderr.columns ?? 100) - 1);
    const lines = renderView(view, Date.now(), width, Math.max(3, (io.stderr.rows ?? 40) - 2));
    // Move up over what was drawn last time, then rewrite every line in place.
    let text = drawn > 0 ? `\x1b[${drawn}F` : "";
    for (const line of lines) text += `\x1b[2K${line}\n`;
    // Erase whatever is left below: the view shrinks when a registry's gate line goes away, and a
    // stale line would otherwise stay on screen (or show through the summary printed under it).
    out.write(`${text}\x1b[J`);
    drawn = lines.length;
  };
  return {
    begin(images, maxAttempts) {
      view = initialView(images, maxAttempts, Date.now());
      draw();
      timer = setInterval(draw, REDRAW_MS);
    },
    event(event) {
      // Events carry the injected clock's time; the view counts down against the wall clock, which is the same clock in the CLI.
      view = applyEvent(view, event);
    },
    end(report) {
      if (timer) clearInterval(timer);
      draw();
      io.stdout.write(formatSummary(report, { color: wantsColor(args, io) }));
    },
  };
}
