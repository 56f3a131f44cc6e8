// The plain-text summary the CLI prints when a run ends, plus the small formatters the other
// report formats share so that a duration or a reason reads the same in every output.
import { describeQuota } from "../policy/quota-plan.js";
import { maskSecrets } from "../secrets.js";
import type { ImageResult, ImageStatus, Report } from "../types.js";
import { clip } from "./limits.js";

export interface SummaryOptions {
  /** Wrap statuses in ANSI colors. Off unless the caller knows the output is a color terminal. */
  readonly color?: boolean;
}

/** "850ms", "12.3s", "2m05s", "1h02m": short enough for a table column, precise where it matters. */
export function formatDuration(ms: number): string {
  const safe = Number.isFinite(ms) && ms > 0 ? ms : 0;
  // Each branch decides on the rounded value, so 999.6ms becomes "1.0s" and not "1000ms".
  if (Math.round(safe) < 1000) return `${Math.round(safe)}ms`;
  const tenths = Math.round(safe / 100);
  if (tenths < 600) return `${(tenths / 10).toFixed(1)}s`;
  const seconds = Math.round(safe / 1000);
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${pad2(seconds % 60)}s`;
  const minutes = Math.round(safe / 60_000);
  return `${Math.floor(minutes / 60)}h${pad2(minutes % 60)}m`;
}

function pad2(n: number): string {
  return String(n).padStart(2, "0");
}

const BYTE_UNITS = ["kB", "MB", "GB", "TB", "PB"] as const;

/** Decimal units, as the Docker CLI prints image sizes: "512 B", "1.2 MB". */
export function formatBytes(n: number): string {
  const safe = Number.isFinite(n) && n > 0 ? Math.round(n) : 0;
  if (safe < 1000) return `${safe} B`;
  let value = safe / 1000;
  let unit = 0;
  // Compare the rounded value so 999_960 bytes reads "1.0 MB", never "1000.0 kB".
  while (unit < BYTE_UNITS.length - 1 && Math.round(value * 10) / 10 >= 1000) {
    value /= 1000;
    unit += 1;
  }
  return `${value.toFixed(1)} ${BYTE_UNITS[unit]}`;
}

// Engine messages are foreign text: they may carry colors, progress-bar carriage returns or stray
// control bytes. Stripping them is the point of these patterns, hence the lint exception.
// eslint-disable-next-line no-control-regex
const ANSI_SEQUENCE = /\u001b(?:\[[0-?]*[ -/]*[@-~]|\][^\u0007\u001b]*(?:\u0007|\u001b\\)|[@-Z\\-_])/g;
// eslint-disable-next-line no-control-regex
const NON_SPACE_CONTROL = /[\u0000-\u0008\u000e-\u001f\u007f-\u009f]/g;

/**
 * Foreign text made safe for one table cell or log line: secrets masked, no escape sequences, no
 * control bytes, no line breaks. Masked again after stripping, so a control byte planted inside a
 * secret cannot smuggle it past the masker.
 */
export function oneLine(text: string): string {
  return maskSecrets(maskSecrets(text).replace(ANSI_SEQUENCE, "").replace(NON_SPACE_CONTROL, "").replace(/\s+/g, " ").trim());
}

// Control characters a terminal or a log viewer acts on, besides the line feed: C0, DEL, C1, and
// the Unicode line and paragraph separators.
// eslint-disable-next-line no-control-regex
const SHOWN_ESCAPED = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029]/g;

/**
 * A message that quotes user-supplied or foreign text (a compose service name, a file path, an
 * engine's words), made safe for stderr: secrets masked, every control character shown as an
 * escape (\u001b) instead of acting, and no line that a CI runner could read as a workflow command:
 * lines after the first are indented, and one that would still start with "::" (GitHub trims
 * leading blanks) is marked with "> ".
 */
export function terminalSafe(text: string): string {
  const escaped = maskSecrets(text).replace(SHOWN_ESCAPED, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
  return escaped
    .split("\n")
    .map((line, index) => {
      const shown = index === 0 || /^\s/.test(line) ? line : `  ${line}`;
      return /^\s*(?:::|##\[)/.test(shown) ? `> ${shown.trimStart()}` : shown;
    })
    .join("\n");
}

/** Which source served an image: "mirror HOST[/PREFIX]", "upstream", "engine"; empty when none did. */
export function sourceOf(image: ImageResult): string {
  if (image.source === "mirror") return `mirror ${image.mirror ?? "?"}`;
  return image.source ?? "";
}

/** Why an image ended as it did: its reason, else the last engine message, else nothing. */
export function reasonOf(image: ImageResult): string {
  const fallback = image.attempts.at(-1)?.message ?? "";
  return clip(oneLine(image.reason ?? fallback));
}

/** The reason as shown next to an image; failures lead with their class, which says whether a rerun may help. */
export function describeOutcome(image: ImageResult): string {
  const reason = reasonOf(image);
  if (image.status !== "failed") return reason;
  return reason === "" ? image.class : `${image.class}: ${reason}`;
}

export type StatusCounts = Record<ImageStatus, number>;

export function countStatuses(images: readonly ImageResult[]): StatusCounts {
  const counts: StatusCounts = { pulled: 0, present: 0, skipped: 0, failed: 0 };
  for (const image of images) counts[image.status] += 1;
  return counts;
}

const STATUS_ORDER: readonly ImageStatus[] = ["pulled", "present", "skipped", "failed"];

/** "18 pulled, 1 skipped, 1 failed in 31.2s", with "(interrupted by SIGINT)" or "(deadline reached)" when cut short. */
export function verdict(report: Report): string {
  const counts = countStatuses(report.images);
  const parts = STATUS_ORDER.filter((status) => counts[status] > 0).map((status) => `${counts[status]} ${status}`);
  const what = parts.length === 0 ? "no images" : parts.join(", ");
  return `${what} in ${formatDuration(report.durationMs)}${interruptionNote(report)}`;
}

function interruptionNote(report: Report): string {
  if (report.interrupted === undefined) return "";
  return report.interrupted === "deadline" ? " (deadline reached)" : ` (interrupted by ${report.interrupted})`;
}

/** "1 attempt", "5 attempts". */
export function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}

const ANSI_COLORS: Record<ImageStatus, string> = {
  pulled: "\u001b[32m",
  present: "\u001b[32m",
  skipped: "\u001b[33m",
  failed: "\u001b[31m",
};
const ANSI_RESET = "\u001b[39m";

interface Cell {
  readonly text: string;
  /** ANSI prefix applied around the text only, so padding is measured on what the reader sees. */
  readonly color?: string;
}

type Align = "left" | "right";

/** Columns padded to their widest cell, two spaces apart, no trailing blanks. */
function renderTable(header: readonly string[], rows: readonly (readonly Cell[])[], align: readonly Align[]): string[] {
  const all: readonly (readonly Cell[])[] = [header.map((text) => ({ text })), ...rows];
  const widths = header.map((_, column) => Math.max(...all.map((row) => row[column]?.text.length ?? 0)));
  return all.map((row) =>
    row
      .map((cell, column) => {
        const gap = " ".repeat((widths[column] ?? 0) - cell.text.length);
        const shown = cell.color === undefined ? cell.text : `${cell.color}${cell.text}${ANSI_RESET}`;
        return align[column] === "right" ? gap + shown : shown + gap;
      })
      .join("  ")
      .trimEnd(),
  );
}

/**
 * Whether the reports show each image's source: only when an archive or a mirror served one.
 * Otherwise the status already says it (pulled: from its registry; present: on the engine).
 */
export function showsSources(report: Report): boolean {
  return report.images.some((image) => image.source === "archive" || image.source === "mirror");
}

/** "18 archive, 2 upstream": how many images each source served, in a fixed order. */
export function sourceCounts(report: Report): string {
  const order = ["engine", "archive", "mirror", "upstream"] as const;
  const counts = order.map((source) => [source, report.images.filter((image) => image.source === source).length] as const);
  return counts
    .filter(([, n]) => n > 0)
    .map(([source, n]) => `${n} ${source}`)
    .join(", ");
}

/** One line per archive that failed, naming the file; empty when none did. */
export function archiveFailures(report: Report): string[] {
  return (report.archives ?? []).filter((a) => a.status === "failed").map((a) => oneLine(a.message ?? `${a.action} of ${a.file} failed`));
}

/** The final per-image summary printed by the CLI; plain text unless options.color. Ends with a newline. */
export function formatSummary(report: Report, options: SummaryOptions = {}): string {
  const lines: string[] = [];
  // Source columns appear only in runs with mirrors, so a plain run's summary stays as narrow as before.
  const mirrored = report.registries.some((stats) => stats.mirrorOf !== undefined) || report.images.some((image) => image.mirror !== undefined);
  if (report.images.length > 0) {
    const sources = showsSources(report) || mirrored;
    const rows = report.images.map((image): Cell[] => [
      { text: image.status, ...(options.color ? { color: ANSI_COLORS[image.status] } : {}) },
      ...(sources ? [{ text: sourceOf(image) }] : []),
      { text: image.reference },
      { text: String(image.attempts.length) },
      { text: formatDuration(image.durationMs) },
      { text: describeOutcome(image) },
    ]);
    const header = ["STATUS", ...(sources ? ["SOURCE"] : []), "IMAGE", "ATTEMPTS", "TIME", "REASON"];
    const align: Align[] = ["left", ...(sources ? ["left" as const] : []), "left", "right", "right", "left"];
    lines.push(...renderTable(header, rows, align));
    lines.push("");
  }
  const saved = (report.archives ?? []).filter((a) => a.action === "save" && a.status === "ok").length;
  const loaded = (report.archives ?? []).filter((a) => a.action === "load" && a.status === "ok").length;
  if (report.archives !== undefined) {
    lines.push(`archives: ${loaded} loaded, ${saved} saved${sourceCounts(report) ? `; images by source: ${sourceCounts(report)}` : ""}`);
    for (const failure of archiveFailures(report)) lines.push(`archive FAILED: ${failure}`);
    lines.push("");
  }
  if (report.registries.length > 0) {
    // The quota column appears only when a registry reported one (Docker Hub's ratelimit headers).
    const quotas = report.registries.some((stats) => stats.quota !== undefined);
    const rows = report.registries.map((stats): Cell[] => [
      { text: stats.mirrorOf ? `${stats.registry} (mirror of ${stats.mirrorOf})` : stats.registry },
      { text: String(stats.attempts) },
      { text: String(stats.failures) },
      { text: formatDuration(stats.gateClosedMs) },
      ...(mirrored ? [{ text: formatBytes(stats.bytes ?? 0) }] : []),
      ...(quotas ? [{ text: stats.quota ? oneLine(describeQuota(stats.quota)) : "" }] : []),
    ]);
    const header = [mirrored ? "SOURCE" : "REGISTRY", "ATTEMPTS", "FAILURES", "GATE CLOSED", ...(mirrored ? ["BYTES"] : []), ...(quotas ? ["QUOTA"] : [])];
    lines.push(...renderTable(header, rows, ["left", "right", "right", "right", "right", "left"]));
    lines.push("");
  }
  if (report.engineMirrors && report.engineMirrors.length > 0) {
    lines.push(`engine registry-mirrors (dockerd uses them by itself, for Docker Hub only): ${report.engineMirrors.map(oneLine).join(", ")}`, "");
  }
  lines.push(`prepull: ${verdict(report)}`);
  return `${lines.join("\n")}\n`;
}
