// Markdown for the benchmark's results: the tables and a verdict per target. Pure formatting.
import type { FaultWindowMetrics } from "./metrics.js";
import { median } from "./metrics.js";
import type { Scenario } from "./scenarios.js";

export type PullerId = "prepull" | "baseline-fixed" | "baseline-backoff" | "xargs-8" | "xargs-20";

export const PULLER_LABEL: Record<PullerId, string> = {
  prepull: "prepull (defaults)",
  "baseline-fixed": "baseline-fixed.sh (3 tries, sleep 5)",
  "baseline-backoff": "baseline-backoff.sh (5 tries, 2·2^(n-1)+rand)",
  "xargs-8": "`xargs -P 8 docker pull`",
  "xargs-20": "`xargs -P 20 docker pull`",
};

export interface BatchRun {
  readonly puller: PullerId;
  /** Repetition of the batch benchmark (0, 1, …); undefined for a scenario's clean run. */
  readonly rep?: number;
  readonly seconds: number;
  readonly code: number | null;
  readonly pulled: number;
  readonly images: number;
  readonly layersDownloaded: number;
  readonly layersExpected: number;
}

export interface ColdStart {
  readonly prepullMs: readonly number[];
  /** node_modules/.bin/prepull of the packed tarball, installed with --omit=dev: what users start. */
  readonly installedMs?: readonly number[];
  readonly nodeMs: readonly number[];
  readonly version: string;
}

export interface FaultRun {
  readonly scenario: Scenario;
  readonly puller: PullerId;
  /** 1, 2, … with --fault-reps. */
  readonly rep: number;
  readonly code: number | null;
  readonly timedOut: boolean;
  readonly pulled: number;
  readonly images: number;
  readonly wallS: number;
  readonly clean: BatchRun;
  readonly faultEndS: number;
  /** Exit time minus fault end (s); negative when the puller gave up before the fault ended. */
  readonly recoveryS: number;
  readonly window: FaultWindowMetrics;
  /** The full-outage part of the window, when the scenario has one shorter than the window. */
  readonly outage?: FaultWindowMetrics;
  /** Most attempts (manifest HEADs) the registry saw for one image over the whole run. */
  readonly maxAttemptsPerImage: number;
}

export interface BenchSetup {
  readonly build: string;
  readonly date: string;
  readonly machine: string;
  readonly images: number;
  readonly imageDescription: string;
  readonly docker: string;
  readonly engine: string;
  readonly quick: boolean;
  readonly reps: number;
  readonly faultReps: number;
  readonly seed: number;
  readonly loadBefore: string;
  readonly loadAfter?: string;
}

export const TARGETS = {
  batchRatio: 1.03,
  coldStartMs: 120,
  outageRatePerS: 1 / 3,
  outageRecoverySlackS: 5,
  twoImagesRecoveryS: 5,
} as const;

const s = (value: number, digits = 1): string => (Number.isFinite(value) ? value.toFixed(digits) : "–");

/** prepull / xargs -P 8 within each repetition (adjacent runs, so slow drifts of the machine's load cancel out). */
export function pairedRatios(runs: readonly BatchRun[]): number[] {
  const reps = [...new Set(runs.map((r) => r.rep).filter((r): r is number => r !== undefined))];
  const out: number[] = [];
  for (const rep of reps) {
    const p = runs.find((r) => r.rep === rep && r.puller === "prepull");
    const x = runs.find((r) => r.rep === rep && r.puller === "xargs-8");
    if (p && x) out.push(p.seconds / x.seconds);
  }
  return out;
}

export function batchTable(runs: readonly BatchRun[], pullers: readonly PullerId[]): string {
  const baseline = median(runs.filter((r) => r.puller === "xargs-8").map((r) => r.seconds));
  const rows = pullers.map((puller) => {
    const mine = runs.filter((r) => r.puller === puller);
    const times = mine.map((r) => r.seconds);
    const ok = mine.filter((r) => r.code === 0 && r.pulled === r.images).length;
    const layers = `${mine.reduce((n, r) => n + r.layersDownloaded, 0)}/${mine.reduce((n, r) => n + r.layersExpected, 0)}`;
    const m = median(times);
    return `| ${PULLER_LABEL[puller]} | ${mine.length} | ${ok}/${mine.length} | ${layers} | ${s(m, 2)} | ${s(Math.min(...times), 2)} | ${s(Math.max(...times), 2)} | ${puller === "xargs-8" ? "1.000" : s(m / baseline, 3)} |`;
  });
  const paired = pairedRatios(runs);
  return [
    "| Puller | Runs | Runs all pulled | Layers downloaded | Median s | Min s | Max s | Median / xargs -P 8 |",
    "|---|---:|---:|---:|---:|---:|---:|---:|",
    ...rows,
    "",
    `Paired ratios prepull / xargs -P 8 (same repetition): ${paired.map((r) => s(r, 2)).join(", ")}; median ${s(median(paired), 3)}.`,
  ].join("\n");
}

export function coldStartLine(cold: ColdStart): string {
  const p = median(cold.prepullMs);
  const n = median(cold.nodeMs);
  const line = `\`node dist/cli/main.js --version\` (${cold.version.trim()}): median **${s(p, 0)} ms** over ${cold.prepullMs.length} spawns; \`node -e 0\` median ${s(n, 0)} ms in the same run; difference ${s(p - n, 0)} ms.`;
  if (!cold.installedMs || cold.installedMs.length === 0) return line;
  const i = median(cold.installedMs);
  return `${line} The installed bin (\`npm install --omit=dev\` of the packed tarball, \`node_modules/.bin/prepull --version\`): median **${s(i, 0)} ms**, ${s(i / n, 2)}× \`node -e 0\`.`;
}

const result = (r: { code: number | null; timedOut: boolean }): string => (r.timedOut ? "killed (timeout)" : r.code === 0 ? "ok (exit 0)" : `FAIL (exit ${r.code ?? "signal"})`);

const scenarioLabel = (r: FaultRun, runs: readonly FaultRun[]): string =>
  `${r.scenario.id}. ${r.scenario.name}${runs.some((x) => x.scenario.id === r.scenario.id && x.rep > 1) ? ` #${r.rep}` : ""}`;

export function faultTable(runs: readonly FaultRun[]): string {
  const rows = runs.map((r) => {
    const w = r.window;
    const rate = w.attemptsAfterWave === 0 ? "0" : `${s(w.attemptRateAfterWave, 2)} (1 per ${s(1 / w.attemptRateAfterWave)} s)`;
    return [
      scenarioLabel(r, runs),
      PULLER_LABEL[r.puller],
      result(r),
      `${r.pulled}/${r.images}`,
      s(r.wallS),
      s(r.clean.seconds),
      s(r.faultEndS, 0),
      s(r.recoveryS),
      String(w.requests),
      `${w.attempts} (${w.attemptsAfterWave})`,
      rate,
      String(w.maxAttemptsIn3s),
      String(w.maxManifestInFlightAfterWave),
      String(r.maxAttemptsPerImage),
    ].join(" | ");
  });
  return [
    "| Scenario | Puller | Result | Pulled | Wall s | Clean batch s | Fault ends at s | Exit − fault end s | Requests in window | Attempts in window (after 1st wave) | After-wave attempts/s | Max attempts in any 3 s after 1st wave | Max manifest reqs in flight after 1st wave | Most attempts on one image |",
    "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ...rows.map((row) => `| ${row} |`),
  ].join("\n");
}

export interface Verdict {
  readonly target: string;
  readonly met: boolean | undefined;
  readonly detail: string;
}

export function verdicts(batch: readonly BatchRun[], cold: ColdStart | undefined, faults: readonly FaultRun[]): Verdict[] {
  const out: Verdict[] = [];
  if (batch.some((r) => r.puller === "prepull") && batch.some((r) => r.puller === "xargs-8")) {
    const ratio = median(batch.filter((r) => r.puller === "prepull").map((r) => r.seconds)) / median(batch.filter((r) => r.puller === "xargs-8").map((r) => r.seconds));
    const paired = median(pairedRatios(batch));
    out.push({
      target: `20-image batch: median prepull / median \`xargs -P 8 docker pull\` ≤ ${TARGETS.batchRatio}`,
      met: ratio <= TARGETS.batchRatio,
      detail: (ratio <= TARGETS.batchRatio ? `ratio ${s(ratio, 3)}` : `ratio ${s(ratio, 3)}: missed by ${s((ratio - TARGETS.batchRatio) * 100, 1)} points`) + ` (median of the paired ratios: ${s(paired, 3)})`,
    });
  }
  if (cold) {
    // What users start is the installed bin, when it was measured.
    const p = median(cold.installedMs && cold.installedMs.length > 0 ? cold.installedMs : cold.prepullMs);
    const diff = p - median(cold.nodeMs);
    out.push({
      target: `\`prepull --version\` cold start ≤ ${TARGETS.coldStartMs} ms`,
      met: p <= TARGETS.coldStartMs,
      detail: `${s(p, 0)} ms (${p <= TARGETS.coldStartMs ? "met" : `missed by ${s(p - TARGETS.coldStartMs, 0)} ms`}; of which ${s(diff, 0)} ms above a bare \`node -e 0\`)`,
    });
  }
  const mine = faults.filter((r) => r.puller === "prepull");
  if (mine.length > 0) {
    const failed = mine.filter((r) => r.code !== 0 || r.pulled !== r.images);
    out.push({
      target: "prepull succeeds in every scenario",
      met: failed.length === 0,
      detail:
        failed.length === 0
          ? `${mine.length} of ${mine.length} runs: exit 0, all images pulled`
          : `${mine.length - failed.length} of ${mine.length} runs succeeded; failed: ${failed.map((r) => `scenario ${scenarioLabel(r, faults)} (${result(r)}, ${r.pulled}/${r.images} pulled)`).join(", ")}`,
    });
  }
  for (const r of mine) {
    const sc = r.scenario;
    const label = scenarioLabel(r, faults);
    if (sc.registryWide) {
      const w = r.outage ?? r.window;
      const phase = r.outage ? ` (its ${s((sc.outageMs ?? sc.faultMs) / 1000, 0)} s full-outage phase)` : "";
      const ok = w.attemptRateAfterWave <= TARGETS.outageRatePerS;
      out.push({
        target: `scenario ${label}${phase}: after the first wave ≤ 1 attempt per 3 s`,
        met: ok,
        detail:
          `${w.attemptsAfterWave} attempts after the first wave = ${s(w.attemptRateAfterWave, 3)}/s` +
          (w.attemptsAfterWave > 0 ? ` (1 per ${s(1 / w.attemptRateAfterWave)} s)` : "") +
          (ok ? "" : `: missed, ${s(w.attemptRateAfterWave / TARGETS.outageRatePerS, 2)}× the allowed rate`) +
          `; at most ${w.maxAttemptsIn3s} in any 3 s; at most ${w.maxManifestInFlightAfterWave} manifest request(s) in flight`,
      });
      const bound = r.clean.seconds + TARGETS.outageRecoverySlackS;
      out.push({
        target: `scenario ${label}: exit ≤ clean batch + ${TARGETS.outageRecoverySlackS} s after the fault ends`,
        met: r.code === 0 && r.recoveryS <= bound,
        detail: `exit ${s(r.recoveryS)} s after the fault ended; bound ${s(bound)} s (clean batch ${s(r.clean.seconds)} s)` + (r.recoveryS > bound ? `: missed by ${s(r.recoveryS - bound)} s` : "") + (r.code !== 0 ? " — but the run failed" : ""),
      });
    } else if (sc.id === 1) {
      out.push({
        target: `scenario ${label}: exit ≤ ${TARGETS.twoImagesRecoveryS} s after the fault ends`,
        met: r.code === 0 && r.recoveryS <= TARGETS.twoImagesRecoveryS,
        detail: `exit ${s(r.recoveryS)} s after the fault ended` + (r.recoveryS > TARGETS.twoImagesRecoveryS ? `: missed by ${s(r.recoveryS - TARGETS.twoImagesRecoveryS)} s` : "") + (r.code !== 0 ? " — but the run failed" : ""),
      });
    }
  }
  return out;
}

export function verdictList(list: readonly Verdict[]): string {
  return list.map((v) => `- **${v.met === undefined ? "n/a" : v.met ? "met" : "MISSED"}** — ${v.target}: ${v.detail}`).join("\n");
}

export const DEFINITIONS = `Definitions: *attempt* = a HEAD on \`/manifests/<tag>\` in the fault proxy's log (one per engine pull attempt).
*Fault window* = from the puller's spawn (the rules are added right before it) to the scenario's fault end.
*First wave* = each image's first attempt sent less than 1 s after the puller's first faulted answer; every other attempt in the
window (retries, probes, first attempts held back and sent later) is *after the first wave*, and its rate is taken over
[first faulted answer, fault end]. *Exit − fault end* is the recovery latency (negative: the puller gave up while the fault
lasted). *Clean batch* = the same puller on a fresh 20-image batch with no faults, measured right before the faulted run.
With PULL_PARALLEL=8, prepull's first attempts of images 9–20 that start later than 1 s count as after the first wave
(conservative: in scenario 1 they are ordinary first pulls). Instant 503 answers rarely overlap, so a herd shows in
"max attempts in any 3 s" rather than in "in flight". *Most attempts on one image* counts every HEAD the registry saw,
including prepull's attempts absorbed by its closed gate (those do not spend the image's PULL_RETRIES).`;

export function markdown(
  setup: BenchSetup,
  parts: {
    batch?: { runs: readonly BatchRun[]; pullers: readonly PullerId[] };
    cold?: ColdStart;
    faults?: readonly FaultRun[];
    /** The clean batch and scenario 1 again, on podman's Docker-compatible API. */
    podman?: { engine: string; batch?: { runs: readonly BatchRun[]; pullers: readonly PullerId[] }; faults: readonly FaultRun[] };
  },
): string {
  const lines: string[] = [];
  lines.push(`# prepull benchmark results`, "");
  lines.push(
    `Run ${setup.date} on ${setup.machine}; ${setup.build}; ${setup.engine}; docker CLI ${setup.docker}. ` +
      `Every run pulls ${setup.images} fresh images (${setup.imageDescription}) pushed to new repositories just before it, so no layer is in the engine's cache. ` +
      `Pullers run one at a time. prepull runs with its defaults plus PULL_POLICY=always and PULL_SEED=${setup.seed}. ` +
      `Load average before: ${setup.loadBefore}${setup.loadAfter ? `, after: ${setup.loadAfter}` : ""}.${setup.quick ? " **Quick mode** (fewer repetitions)." : ""}`,
    "",
  );
  if (parts.batch || parts.cold) {
    lines.push(`## Clean batch (issue 2)`, "");
    if (parts.batch) {
      lines.push(
        `${setup.reps} runs per puller, the order rotated each repetition. The baseline runs \`docker pull\` through \`xargs -P 8\`, the same parallelism as prepull's default PULL_PARALLEL=8, so the ratio measures prepull's overhead, not a different concurrency; ${parts.batch.pullers.includes("xargs-20") ? "`xargs -P 20` (every image at once) is shown for reference." : "(`xargs -P 20` is measured in the full run only)."}`,
        "",
        batchTable(parts.batch.runs, parts.batch.pullers),
        "",
      );
    }
    if (parts.cold) lines.push(coldStartLine(parts.cold), "");
  }
  if (parts.faults && parts.faults.length > 0) {
    lines.push(`## Fault scenarios (issue 4)`, "", `${setup.faultReps} run(s) of each scenario per puller${setup.faultReps > 1 ? ` (run k uses seed ${setup.seed} + k − 1)` : ""}.`, "", faultTable(parts.faults), "", DEFINITIONS, "");
  }
  if (parts.podman) {
    const { podman } = parts;
    lines.push(
      `## On podman`,
      "",
      `The same measurements on ${podman.engine} (\`podman system service\`, vfs storage, started by the harness), same registry, proxy and images; the baselines drive it with the same docker CLI. podman retries a 429 itself and answers 200 before it contacts the registry (README, "Engines proven"). podman sends no HEAD: an *attempt* here is a GET on \`/manifests/<tag>\`. The targets below are dockerd's.`,
      "",
    );
    if (podman.batch) lines.push(batchTable(podman.batch.runs, podman.batch.pullers), "");
    if (podman.faults.length > 0) lines.push(faultTable(podman.faults), "");
  }
  const list = verdicts(parts.batch?.runs ?? [], parts.cold, parts.faults ?? []);
  if (list.length > 0) lines.push(`## Targets`, "", verdictList(list), "");
  return lines.join("\n");
}
