// GitHub Actions output: workflow commands written to stdout (groups, annotations) and the Markdown
// appended to GITHUB_STEP_SUMMARY. Escaping follows actions/toolkit (packages/core/src/command.ts);
// without it, a newline in an engine message could end the command and start another one.
import type { ImageResult, Report } from "../types.js";
import { countStatuses, describeOutcome, formatDuration, oneLine, plural, reasonOf, verdict } from "./summary.js";

/** Escapes a workflow command message. */
export function escapeData(s: string): string {
  return s.replace(/%/g, "%25").replace(/\r/g, "%0D").replace(/\n/g, "%0A");
}

/** Escapes a workflow command property value, where ":" and "," are separators. */
export function escapeProperty(s: string): string {
  return escapeData(s).replace(/:/g, "%3A").replace(/,/g, "%2C");
}

/** Starts a collapsible log group. */
export function groupStart(title: string): string {
  return `::group::${escapeData(oneLine(title))}`;
}

export function groupEnd(): string {
  return "::endgroup::";
}

function command(name: string, properties: Readonly<Record<string, string>>, message: string): string {
  const props = Object.entries(properties)
    .map(([key, value]) => `${key}=${escapeProperty(oneLine(value))}`)
    .join(",");
  return `::${name}${props === "" ? "" : ` ${props}`}::${escapeData(message)}`;
}

function annotation(image: ImageResult): string | undefined {
  const title = `prepull: ${image.reference}`;
  if (image.status === "failed") {
    return command("error", { title }, `${describeOutcome(image)} (${plural(image.attempts.length, "attempt")})`);
  }
  if (image.status === "skipped") {
    const reason = reasonOf(image);
    return command("warning", { title }, reason === "" ? "skipped" : `skipped: ${reason}`);
  }
  return undefined;
}

/**
 * One ::error per failed image and one ::warning per skipped image, in report order. GitHub shows
 * at most 10 of each kind per step; the step summary lists every image regardless.
 */
export function annotations(report: Report): string[] {
  return report.images.flatMap((image) => annotation(image) ?? []);
}

/** A Markdown table cell: one line, pipes escaped, HTML and emphasis characters neutralized. */
export function escapeCell(text: string): string {
  return oneLine(text)
    .replace(/[\\`*_~[\]|]/g, (c) => `\\${c}`)
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;");
}

function tableRow(cells: readonly string[]): string {
  return `| ${cells.join(" | ")} |`;
}

// One word a reader can scan for; the verdict after it already names the interruption's cause.
function headline(report: Report): string {
  if (report.interrupted !== undefined) return "Incomplete";
  return countStatuses(report.images).failed > 0 ? "Failed" : "OK";
}

/** Markdown for GITHUB_STEP_SUMMARY: heading, verdict, per-image table, per-registry table. Ends with a newline. */
export function stepSummaryMarkdown(report: Report): string {
  const lines = ["## prepull", "", `**${headline(report)}**: ${verdict(report)}`];
  if (report.images.length > 0) {
    lines.push("", tableRow(["Image", "Status", "Attempts", "Time", "Reason"]), "| --- | --- | ---: | ---: | --- |");
    for (const image of report.images) {
      lines.push(
        tableRow([
          escapeCell(image.reference),
          image.status,
          String(image.attempts.length),
          formatDuration(image.durationMs),
          escapeCell(describeOutcome(image)),
        ]),
      );
    }
  }
  if (report.registries.length > 0) {
    lines.push("", tableRow(["Registry", "Attempts", "Failures", "Gate closed"]), "| --- | ---: | ---: | ---: |");
    for (const stats of report.registries) {
      lines.push(tableRow([escapeCell(stats.registry), String(stats.attempts), String(stats.failures), formatDuration(stats.gateClosedMs)]));
    }
  }
  return `${lines.join("\n")}\n`;
}
