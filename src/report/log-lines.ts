// One plain line per event, for CI logs: timestamped, no control codes. The TTY view and the
// GitHub output consume the same events; the scheduler never formats anything itself.
import type { PullEvent } from "../types.js";
import { clip } from "./limits.js";
import { formatBytes as bytes, oneLine, formatDuration as seconds } from "./summary.js";

export type Verbosity = "quiet" | "normal" | "verbose";

/**
 * The message for an event, or undefined when this verbosity does not show it. Always one bounded
 * line, secrets masked, without control codes: engine messages quote the registry's error text, which may hold line
 * breaks or escape sequences; a raw line break would start an unstamped line in a CI log (and,
 * under GitHub Actions, could start a workflow command such as "::error::").
 */
export function describeEvent(event: PullEvent, verbosity: Verbosity): string | undefined {
  const text = describe(event, verbosity);
  return text === undefined ? undefined : clip(oneLine(text));
}

function describe(event: PullEvent, verbosity: Verbosity): string | undefined {
  const quiet = verbosity === "quiet";
  switch (event.type) {
    case "attempt-started":
      return quiet
        ? undefined
        : `${attemptLabel(event.attempt, event.maxAttempts)} ${event.image}${event.mirror ? ` from mirror ${event.mirror}` : ""}${event.probe ? " (gate probe)" : ""}`;
    case "progress":
      // Byte counters arrive many times a second; only status changes are worth a log line.
      if (verbosity !== "verbose" || event.status === "Downloading" || event.status === "Extracting") return undefined;
      return `engine ${event.image}: ${event.layer ? `${event.layer}: ` : ""}${event.status ?? ""}`;
    case "attempt-failed":
      return quiet
        ? undefined
        : `attempt ${event.attempt} of ${event.image}${event.mirror ? ` from mirror ${event.mirror}` : ""} failed after ${seconds(event.durationMs)} [${event.class}]${event.mirror ? " (a mirror's failure: no attempt spent)" : event.absorbed ? " (absorbed by the closed gate: no attempt spent)" : ""}: ${event.message}`;
    case "waiting":
      if (quiet) return undefined;
      return event.reason === "rate-limit"
        ? `rate-limited: ${event.image} waits ${seconds(event.delayMs)} before retrying`
        : `${event.image} waits ${seconds(event.delayMs)} before retrying`;
    case "pulled":
      return quiet
        ? undefined
        : `pulled ${event.image}${event.mirror ? ` from mirror ${event.mirror}` : ""} in ${seconds(event.durationMs)} (${bytes(event.bytes)}, attempt ${event.attempt})`;
    case "failover":
      // A warning (a mirror serving another digest) shows even in quiet mode.
      return quiet && !event.warning ? undefined : `${event.warning ? "WARNING: " : ""}${event.image}: ${event.from} → ${event.to}: ${event.reason}`;
    case "present":
      return quiet ? undefined : `present ${event.image} (${event.source === "archive" ? "loaded from an archive" : "already on the engine"})`;
    case "skipped":
      return quiet ? undefined : `skipped ${event.image}: ${event.message}`;
    case "failed":
      return `FAILED ${event.image} after ${event.attempts} attempt${event.attempts === 1 ? "" : "s"} [${event.class}]: ${event.message}`;
    case "gate-closed":
      if (quiet) return undefined;
      // A failed probe re-closes a gate that was already closed: say so, rather than announce a new outage.
      return /^probe \d+ (failed|abandoned)/.test(event.reason)
        ? `registry ${event.registry}: ${event.reason}; gate stays closed`
        : `registry ${event.registry} looks down (${event.reason}): gate closed, one probe at a time until it answers`;
    case "gate-probe":
      return quiet ? undefined : `registry ${event.registry}: probe ${event.probe} with ${event.image}`;
    case "gate-opened":
      return quiet
        ? undefined
        : `registry ${event.registry} answers again after ${seconds(event.closedMs)}: gate open, ${event.released} waiting pull${event.released === 1 ? "" : "s"} released`;
    case "engine-wedged":
      return event.message;
    case "registry-direct-off":
      return quiet ? undefined : `registry ${event.registry}: ${event.message}`;
    case "quota-short":
      return event.message;
    case "archive": {
      const what = `${event.action === "load" ? "loaded" : "saved"} ${event.file}`;
      if (event.ok) return quiet ? undefined : `archive: ${what} (${event.images.length === 0 ? "no image of this batch" : event.images.join(", ")})`;
      return `archive: ${event.message ?? `${event.action} of ${event.file} failed`}`;
    }
  }
}

/**
 * "attempt n/N", where n counts every attempt made (as the report numbers them) and N is
 * PULL_RETRIES. Failures a closed gate absorbed spend nothing, so n can pass N: then say why.
 */
export function attemptLabel(attempt: number, maxAttempts: number): string {
  return attempt <= maxAttempts ? `attempt ${attempt}/${maxAttempts}` : `attempt ${attempt} (the gate absorbed earlier failures; at most ${maxAttempts} count)`;
}

export function formatLogLine(event: PullEvent, verbosity: Verbosity, now: Date): string | undefined {
  const text = describeEvent(event, verbosity);
  return text === undefined ? undefined : `${now.toISOString()} ${text}`;
}
