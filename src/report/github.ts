// GitHub Actions output: workflow commands written to stdout (groups, annotations) and the Markdown
// appended to GITHUB_STEP_SUMMARY. Escaping follows actions/toolkit (packages/core/src/command.ts);
// without it, a newline in an engine message could end the command and start another one.
import { describeQuota } from "../policy/quota-plan.js";
import type { ImageResult, Report } from "../types.js";
import { clip, STEP_SUMMARY_LIMIT } from "./limits.js";
import { archiveFailures, countStatuses, describeOutcome, formatDuration, oneLine, plural, reasonOf, showsSources, sourceCounts, verdict } from "./summary.js";

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
 * One ::error per failed image and one ::warning per skipped image, in report order, then one
 * ::error per archive that could not be loaded or saved. GitHub shows
 * at most 10 of each kind per step; the step summary lists every image regardless.
 */
export function annotations(report: Report): string[] {
  const archives = archiveFailures(report).map((message) => command("error", { title: "prepull: archive" }, message));
  return [...report.images.flatMap((image) => annotation(image) ?? []), ...archives];
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

/** Longest reason shown in one step-summary cell; the JSON and JUnit reports keep more. */
const SUMMARY_REASON_CHARS = 1000;

/**
 * Markdown for GITHUB_STEP_SUMMARY: heading, verdict, per-image table, per-registry table. Ends
 * with a newline. At most `limit` bytes (GitHub rejects a summary over 1 MiB): image rows that do
 * not fit are left out, and a last row says how many.
 */
export function stepSummaryMarkdown(report: Report, limit: number = STEP_SUMMARY_LIMIT): string {
  const head = ["## prepull", "", `**${headline(report)}**: ${verdict(report)}`];
  const registries: string[] = [];
  if (report.registries.length > 0) {
    const quotas = report.registries.some((stats) => stats.quota !== undefined);
    registries.push(
      "",
      tableRow(["Registry", "Attempts", "Failures", "Gate closed", ...(quotas ? ["Pull quota"] : [])]),
      `| --- | ---: | ---: | ---: |${quotas ? " --- |" : ""}`,
    );
    for (const stats of report.registries) {
      const quota = quotas ? [stats.quota ? escapeCell(describeQuota(stats.quota)) : ""] : [];
      registries.push(
        tableRow([
          escapeCell(stats.mirrorOf ? `${stats.registry} (mirror of ${stats.mirrorOf})` : stats.registry),
          String(stats.attempts),
          String(stats.failures),
          formatDuration(stats.gateClosedMs),
          ...quota,
        ]),
      );
    }
  }
  const sources = showsSources(report);
  const rows = report.images.map((image) =>
    tableRow([
      escapeCell(image.reference),
      image.status,
      ...(sources ? [image.mirror !== undefined ? `mirror ${escapeCell(image.mirror)}` : (image.source ?? "")] : []),
      String(image.attempts.length),
      formatDuration(image.durationMs),
      escapeCell(clip(describeOutcome(image), SUMMARY_REASON_CHARS)),
    ]),
  );
  const imageHeader =
    rows.length > 0
      ? [
          "",
          tableRow(["Image", "Status", ...(sources ? ["Source"] : []), "Attempts", "Time", "Reason"]),
          `| --- | --- |${sources ? " --- |" : ""} ---: | ---: | --- |`,
        ]
      : [];
  if (report.archives !== undefined) {
    const failures = archiveFailures(report);
    registries.push(
      "",
      `Archives: ${report.archives.filter((a) => a.status === "ok").length} written or loaded, ${failures.length} failed${sourceCounts(report) ? `; images by source: ${sourceCounts(report)}` : ""}`,
    );
    for (const failure of failures) registries.push(`- archive failed: ${escapeCell(failure)}`);
  }
  const bytes = (lines: readonly string[]) => lines.reduce((sum, line) => sum + Buffer.byteLength(line, "utf8") + 1, 0);
  // Room for the fixed parts and the "not shown" row, then as many image rows as fit.
  let budget = limit - bytes(head) - bytes(imageHeader) - bytes(registries) - 200;
  const shown: string[] = [];
  for (const row of rows) {
    budget -= Buffer.byteLength(row, "utf8") + 1;
    if (budget < 0) break;
    shown.push(row);
  }
  const cut = rows.length - shown.length;
  const note =
    cut > 0
      ? [
          `| … ${cut} more image${cut === 1 ? "" : "s"} not shown: the summary would exceed GitHub's 1 MiB limit (the JSON and JUnit reports list every image) | | | | |`,
        ]
      : [];
  return `${[...head, ...imageHeader, ...shown, ...note, ...registries].join("\n")}\n`;
}
