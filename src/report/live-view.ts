// The terminal's live view: a line for the whole batch, then one line per image, folded from the
// same events CI logs get. Pure: the console decides when to redraw; this only says what the
// screen should show at a given time.
import type { PullEvent, PullPhase } from "../types.js";
import { attemptLabel } from "./log-lines.js";
import { formatBytes, formatDuration, oneLine } from "./summary.js";

type Phase = "queued" | PullPhase | "waiting" | "rate-limited" | "gate" | "pulled" | "present" | "skipped" | "failed";

interface ImageLine {
  readonly image: string;
  readonly phase: Phase;
  readonly bytes: number;
  readonly total?: number;
  readonly attempt: number;
  readonly maxAttempts: number;
  /** When a backoff or rate-limit wait ends (clock ms). */
  readonly until?: number;
  readonly note?: string;
}

interface GateLine {
  /** When the gate closed; a failed probe re-closing it does not restart the count. */
  readonly since: number;
  /** When the next probe goes out, while none is in flight. */
  readonly nextProbeAt?: number;
  /** The probe in flight, if any. */
  readonly probe?: number;
}

export interface ViewState {
  readonly order: readonly string[];
  readonly lines: Readonly<Record<string, ImageLine>>;
  /** Registries whose gate is closed. */
  readonly gates: Readonly<Record<string, GateLine>>;
  /** When the batch started (clock ms): the aggregate line's elapsed time counts from here. */
  readonly startedAt: number;
}

export function initialView(images: readonly string[], maxAttempts: number, startedAt = 0): ViewState {
  const lines: Record<string, ImageLine> = {};
  for (const image of images) lines[image] = { image, phase: "queued", bytes: 0, attempt: 0, maxAttempts };
  return { order: images, lines, gates: {}, startedAt };
}

export function applyEvent(view: ViewState, event: PullEvent): ViewState {
  switch (event.type) {
    case "gate-closed": {
      const since = view.gates[event.registry]?.since ?? event.at;
      return withGate(view, event.registry, { since, ...(event.nextProbeAt !== undefined ? { nextProbeAt: event.nextProbeAt } : {}) });
    }
    case "gate-probe": {
      const gate = view.gates[event.registry];
      return withGate(view, event.registry, { since: gate?.since ?? event.at, probe: event.probe });
    }
    case "gate-opened":
      return withGate(view, event.registry, undefined);
    case "engine-wedged":
    case "registry-direct-off":
    case "quota-short":
    case "archive":
      return view;
    default: {
      const line = view.lines[event.image];
      if (!line) return view;
      const next = updateLine(line, event);
      return next === line ? view : { ...view, lines: { ...view.lines, [event.image]: next } };
    }
  }
}

function withGate(view: ViewState, registry: string, gate: GateLine | undefined): ViewState {
  const gates = { ...view.gates };
  if (gate) gates[registry] = gate;
  else delete gates[registry];
  return { ...view, gates };
}

const RUNNING: ReadonlySet<Phase> = new Set(["resolving", "downloading", "extracting"]);

function updateLine(
  line: ImageLine,
  event: Exclude<PullEvent, { type: "gate-closed" | "gate-opened" | "gate-probe" | "engine-wedged" | "registry-direct-off" | "quota-short" | "archive" }>,
): ImageLine {
  const { until: _until, note: _note, ...rest } = line;
  switch (event.type) {
    case "attempt-started":
      return {
        ...rest,
        phase: "resolving",
        bytes: 0,
        attempt: event.attempt,
        maxAttempts: event.maxAttempts,
        ...(event.probe ? { note: "gate probe" } : event.mirror ? { note: `from mirror ${event.mirror}` } : {}),
      };
    case "progress": {
      // An engine that cannot tell the phase is downloading once it reports anything.
      const phase = RUNNING.has(line.phase) ? (event.phase ?? "downloading") : line.phase;
      return { ...line, phase, bytes: event.bytes, ...(event.total !== undefined ? { total: event.total } : {}) };
    }
    case "attempt-failed":
      return { ...rest, phase: event.absorbed ? "gate" : line.phase, note: `${event.class}: ${event.message}` };
    case "waiting":
      return { ...line, phase: event.reason === "gate" ? "gate" : event.reason === "rate-limit" ? "rate-limited" : "waiting", until: event.at + event.delayMs };
    case "pulled":
      return { ...rest, phase: "pulled", bytes: event.bytes, note: `in ${formatDuration(event.durationMs)}` };
    case "present":
      return { ...rest, phase: "present", note: event.source === "archive" ? "loaded from an archive" : "already on the engine" };
    case "failover":
      return { ...rest, note: `${event.from} → ${event.to}: ${event.reason}` };
    case "skipped":
      return { ...rest, phase: "skipped", note: event.message };
    case "failed":
      return { ...rest, phase: "failed", note: `${event.class}: ${event.message}` };
  }
}

const LABEL: Record<Phase, string> = {
  queued: "waiting for slot",
  resolving: "resolving",
  downloading: "downloading",
  extracting: "extracting",
  waiting: "retry in",
  "rate-limited": "rate-limited",
  gate: "gate closed",
  pulled: "pulled",
  present: "present",
  skipped: "skipped",
  failed: "FAILED",
};

const FINISHED: ReadonlySet<Phase> = new Set(["pulled", "present", "skipped", "failed"]);
// The longest status, "waiting for slot", and a space: statuses and names stay in columns.
const STATUS_WIDTH = 17;

/**
 * The lines to draw: the batch as a whole, each image, each closed gate. Each line is cut to
 * `width` columns so a redraw never wraps, and there are at most `height` of them: a redraw moves
 * the cursor up over what it drew, which only works while everything fits on the screen. When the
 * batch is taller, finished images fold into one line.
 */
export function renderView(view: ViewState, now: number, width: number, height = Number.POSITIVE_INFINITY): string[] {
  const nameWidth = Math.min(48, Math.max(...view.order.map((i) => i.length), 10));
  const render = (image: string) => {
    const line = view.lines[image] as ImageLine;
    const name = image.length > nameWidth ? `…${image.slice(image.length - nameWidth + 1)}` : image.padEnd(nameWidth);
    const { status, timing } = describeLine(line, now, gateOf(view, image));
    return fit(`${status.padEnd(STATUS_WIDTH)} ${name}  ${detail(line, timing)}`, width);
  };
  const top = fit(aggregate(view, now), width);
  const gates = Object.entries(view.gates).map(([registry, gate]) => fit(gateLine(registry, gate, now), width));
  if (1 + view.order.length + gates.length <= height) return [top, ...view.order.map(render), ...gates];
  const unfinished = view.order.filter((image) => !FINISHED.has((view.lines[image] as ImageLine).phase));
  const room = Math.max(0, height - gates.length - 2);
  const shown = unfinished.slice(0, room);
  const finished = view.order.length - unfinished.length;
  const hidden = unfinished.length - shown.length;
  const fold = fit(`… ${finished} finished${hidden > 0 ? `, ${hidden} more not shown` : ""} (the summary lists every image)`, width);
  return [top, ...shown.map(render), fold, ...gates].slice(0, Math.max(1, height));
}

/** What the image is doing, and when that changes (a countdown), if it is waiting for a time. */
function describeLine(line: ImageLine, now: number, gate: GateLine | undefined): { status: string; timing?: string } {
  const left = line.until !== undefined ? line.until - now : 0;
  if ((line.phase === "waiting" || line.phase === "rate-limited") && left > 0) {
    if (line.phase === "waiting") return { status: `${LABEL.waiting} ${countdown(left)}` };
    return { status: LABEL["rate-limited"], timing: `until ${clockTime(line.until as number)} (${countdown(left)})` };
  }
  // Once a wait is over the image queues again: behind its registry's closed gate, or for a slot.
  // Never "retry in 0ms".
  if (line.phase === "queued" || line.phase === "waiting" || line.phase === "rate-limited" || line.phase === "gate") {
    return gate ? { status: LABEL.gate, timing: probeTiming(gate, now) } : { status: LABEL.queued };
  }
  return { status: LABEL[line.phase] };
}

function probeTiming(gate: GateLine, now: number): string | undefined {
  if (gate.probe !== undefined) return `probe ${gate.probe} in flight`;
  if (gate.nextProbeAt === undefined) return undefined;
  const left = gate.nextProbeAt - now;
  return left > 0 ? `probe in ${countdown(left)}` : "probe due";
}

function gateLine(registry: string, gate: GateLine, now: number): string {
  const probe = probeTiming(gate, now);
  return `registry ${registry} is down: gate closed for ${formatDuration(now - gate.since)}${probe ? `, ${probe}` : ""}`;
}

/** The batch in one line, like `docker compose pull`'s "[+] Pulling 12/12": images, bytes, time spent and a rough time left. */
function aggregate(view: ViewState, now: number): string {
  const lines = view.order.map((image) => view.lines[image] as ImageLine);
  const done = lines.filter((l) => FINISHED.has(l.phase)).length;
  const failed = lines.filter((l) => l.phase === "failed").length;
  const bytes = lines.reduce((sum, l) => sum + l.bytes, 0);
  // An image whose size is not known yet counts with what it has downloaded so far.
  const total = lines.reduce((sum, l) => sum + Math.max(l.total ?? 0, l.bytes), 0);
  const elapsed = Math.max(0, now - view.startedAt);
  const parts = [`[+] ${done}/${lines.length} images done${failed > 0 ? ` (${failed} failed)` : ""}`];
  if (total > 0) parts.push(`${formatBytes(bytes)}/${formatBytes(total)}`);
  parts.push(`${formatDuration(elapsed)} elapsed`);
  if (done < lines.length) parts.push(remaining(view, lines, now, elapsed, { done, bytes, total }));
  return parts.filter((p) => p !== "").join("  ");
}

/**
 * A rough time left: the longest of the waits already scheduled, the bytes left at the average rate
 * so far, and the images left at the average time per finished image. Unknown while a registry is
 * down (it is back when its probe gets through, which no one can tell in advance).
 */
function remaining(view: ViewState, lines: readonly ImageLine[], now: number, elapsed: number, sofar: { done: number; bytes: number; total: number }): string {
  if (Object.keys(view.gates).length > 0) return "time left unknown: a registry is down";
  const estimates = lines.map((l) => (l.until !== undefined && (l.phase === "waiting" || l.phase === "rate-limited") ? l.until - now : 0));
  if (sofar.bytes > 0 && sofar.total > sofar.bytes && elapsed > 0) estimates.push(((sofar.total - sofar.bytes) * elapsed) / sofar.bytes);
  if (sofar.done > 0) estimates.push((elapsed / sofar.done) * (lines.length - sofar.done));
  const estimate = Math.max(0, ...estimates);
  return estimate > 0 ? `about ${countdown(estimate)} left` : "";
}

/** A countdown rounded up to a tenth of a second: a wait that is not over never reads "0ms". */
function countdown(ms: number): string {
  return formatDuration(Math.ceil(ms / 100) * 100);
}

/** Local wall-clock time "HH:MM:SS" of a clock reading (the CLI's clock is Date.now()). */
function clockTime(ms: number): string {
  const at = new Date(ms);
  return [at.getHours(), at.getMinutes(), at.getSeconds()].map((n) => String(n).padStart(2, "0")).join(":");
}

/** The closed gate of the image's registry, if any (images are canonical: "registry/repository..."). */
function gateOf(view: ViewState, image: string): GateLine | undefined {
  const registry = Object.keys(view.gates).find((r) => image.startsWith(`${r}/`));
  return registry === undefined ? undefined : view.gates[registry];
}

function detail(line: ImageLine, timing: string | undefined): string {
  const attempt = line.attempt > 0 ? attemptLabel(line.attempt, line.maxAttempts) : "";
  const size = line.bytes > 0 || line.total ? `${formatBytes(line.bytes)}${line.total ? `/${formatBytes(line.total)}` : ""}` : "";
  // The note quotes engine messages: escape sequences in them would move the cursor or recolor the screen.
  return [timing ?? "", size, attempt, oneLine(line.note ?? "")].filter((s) => s !== "").join("  ");
}

function fit(text: string, width: number): string {
  const single = text.replace(/[\r\n\t]+/g, " ");
  return single.length <= width ? single : `${single.slice(0, Math.max(1, width - 1))}…`;
}
