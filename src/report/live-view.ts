// The terminal's live view: one line per image, folded from the same events CI logs get.
// Pure: the console decides when to redraw; this only says what the screen should show.
import type { PullEvent } from "../types.js";
import { attemptLabel } from "./log-lines.js";
import { formatBytes, formatDuration, oneLine } from "./summary.js";

type Phase = "queued" | "pulling" | "waiting" | "gate" | "pulled" | "present" | "skipped" | "failed";

interface ImageLine {
  readonly image: string;
  readonly phase: Phase;
  readonly bytes: number;
  readonly total?: number;
  readonly attempt: number;
  readonly maxAttempts: number;
  /** When a backoff ends (clock ms). */
  readonly until?: number;
  readonly note?: string;
}

export interface ViewState {
  readonly order: readonly string[];
  readonly lines: Readonly<Record<string, ImageLine>>;
  /** Registries whose gate is closed, with the time it closed. */
  readonly gates: Readonly<Record<string, number>>;
}

export function initialView(images: readonly string[], maxAttempts: number): ViewState {
  const lines: Record<string, ImageLine> = {};
  for (const image of images) lines[image] = { image, phase: "queued", bytes: 0, attempt: 0, maxAttempts };
  return { order: images, lines, gates: {} };
}

export function applyEvent(view: ViewState, event: PullEvent): ViewState {
  if (event.type === "gate-closed") return { ...view, gates: { ...view.gates, [event.registry]: event.at } };
  if (event.type === "gate-opened") {
    const gates = { ...view.gates };
    delete gates[event.registry];
    return { ...view, gates };
  }
  if (event.type === "gate-probe" || event.type === "engine-wedged") return view;
  const line = view.lines[event.image];
  if (!line) return view;
  const next = updateLine(line, event);
  return next === line ? view : { ...view, lines: { ...view.lines, [event.image]: next } };
}

function updateLine(line: ImageLine, event: Exclude<PullEvent, { type: "gate-closed" | "gate-opened" | "gate-probe" | "engine-wedged" }>): ImageLine {
  const { until: _until, note: _note, ...rest } = line;
  switch (event.type) {
    case "attempt-started":
      return { ...rest, phase: "pulling", bytes: 0, attempt: event.attempt, maxAttempts: event.maxAttempts, ...(event.probe ? { note: "gate probe" } : {}) };
    case "progress":
      return { ...line, bytes: event.bytes, ...(event.total !== undefined ? { total: event.total } : {}) };
    case "attempt-failed":
      return { ...rest, phase: event.absorbed ? "gate" : line.phase, note: `${event.class}: ${event.message}` };
    case "waiting":
      return { ...line, phase: event.reason === "gate" ? "gate" : "waiting", until: event.at + event.delayMs };
    case "pulled":
      return { ...rest, phase: "pulled", bytes: event.bytes, note: `in ${formatDuration(event.durationMs)}` };
    case "present":
      return { ...rest, phase: "present", note: "already on the engine" };
    case "skipped":
      return { ...rest, phase: "skipped", note: event.message };
    case "failed":
      return { ...rest, phase: "failed", note: `${event.class}: ${event.message}` };
  }
}

const LABEL: Record<Phase, string> = {
  queued: "queued",
  pulling: "pulling",
  waiting: "retry in",
  gate: "gate",
  pulled: "pulled",
  present: "present",
  skipped: "skipped",
  failed: "FAILED",
};

const FINISHED: ReadonlySet<Phase> = new Set(["pulled", "present", "skipped"]);

/**
 * The lines to draw, each cut to `width` columns so a redraw never wraps, and at most `height`
 * of them: a redraw moves the cursor up over what it drew, which only works while everything
 * fits on the screen. When the batch is taller, finished images fold into one line.
 */
export function renderView(view: ViewState, now: number, width: number, height = Number.POSITIVE_INFINITY): string[] {
  const nameWidth = Math.min(48, Math.max(...view.order.map((i) => i.length), 10));
  const render = (image: string) => {
    const line = view.lines[image] as ImageLine;
    const name = image.length > nameWidth ? `…${image.slice(image.length - nameWidth + 1)}` : image.padEnd(nameWidth);
    return fit(`${statusText(line, now, behindGate(view, image)).padEnd(16)} ${name}  ${detail(line)}`, width);
  };
  const gates = Object.entries(view.gates).map(([registry, since]) => fit(`registry ${registry} is down: gate closed for ${formatDuration(now - since)}, probing`, width));
  if (view.order.length + gates.length <= height) return [...view.order.map(render), ...gates];
  const unfinished = view.order.filter((image) => !FINISHED.has((view.lines[image] as ImageLine).phase));
  const room = Math.max(0, height - gates.length - 1);
  const shown = unfinished.slice(0, room);
  const finished = view.order.length - unfinished.length;
  const hidden = unfinished.length - shown.length;
  const fold = fit(`… ${finished} finished${hidden > 0 ? `, ${hidden} more not shown` : ""} (the summary lists every image)`, width);
  return [...shown.map(render), fold, ...gates].slice(0, Math.max(1, height));
}

function statusText(line: ImageLine, now: number, gateClosed: boolean): string {
  if (line.phase === "waiting" && line.until !== undefined) {
    const left = line.until - now;
    // The backoff is over but the registry's gate is closed: the image now waits for the gate, not
    // for a countdown stuck at "retry in 0ms".
    if (left <= 0 && gateClosed) return LABEL.gate;
    return `${LABEL.waiting} ${formatDuration(Math.max(0, left))}`;
  }
  return LABEL[line.phase];
}

/** Whether the gate of the image's registry is closed (images are canonical: "registry/repository..."). */
function behindGate(view: ViewState, image: string): boolean {
  return Object.keys(view.gates).some((registry) => image.startsWith(`${registry}/`));
}

function detail(line: ImageLine): string {
  const attempt = line.attempt > 0 ? attemptLabel(line.attempt, line.maxAttempts) : "";
  const size = line.bytes > 0 || line.total ? `${formatBytes(line.bytes)}${line.total ? `/${formatBytes(line.total)}` : ""}` : "";
  // The note quotes engine messages: escape sequences in them would move the cursor or recolor the screen.
  return [size, attempt, oneLine(line.note ?? "")].filter((s) => s !== "").join("  ");
}

function fit(text: string, width: number): string {
  const single = text.replace(/[\r\n\t]+/g, " ");
  return single.length <= width ? single : `${single.slice(0, Math.max(1, width - 1))}…`;
}
