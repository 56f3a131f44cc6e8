// Markdown for the benchmark's results: the tables and a verdict per target. Pure formatting.
import type { BrokenImageMetrics, FaultWindowMetrics, LoadMetrics, ThrottleMetrics } from "./metrics.js";
import { median } from "./metrics.js";
import type { Scenario } from "./scenarios.js";

export type PullerId = "prepull" | "prepull-off" | "baseline-fixed" | "baseline-backoff" | "xargs-8" | "xargs-20";

export const PULLER_LABEL: Record<PullerId, string> = {
  prepull: "prepull (defaults: preflight on)",
  "prepull-off": "prepull, PULL_PREFLIGHT=off",
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
  /** Images that can be pulled at all (scenario 6 has broken ones). */
  readonly expectedPulled: number;
  readonly wallS: number;
  readonly clean: BatchRun;
  /** The end of the fault (a throttle: of the first 429's Retry-After interval, if later), s after the spawn. */
  readonly faultEndS: number;
  /** Exit time minus fault end (s); negative when the puller gave up before the fault ended. */
  readonly recoveryS: number;
  readonly window: FaultWindowMetrics;
  /** The full-outage part of the window, when the scenario has one shorter than the window. */
  readonly outage?: FaultWindowMetrics;
  /** Most attempts (manifest HEADs) the registry saw for one image over the whole run. */
  readonly maxAttemptsPerImage: number;
  /** Issue 8: requests by client, over the outage window (the whole fault window unless the scenario has an outage phase). */
  readonly load: LoadMetrics;
  readonly throttle?: ThrottleMetrics;
  readonly broken?: BrokenImageMetrics;
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
  /** Issue 8: prepull with its preflight / prepull with PULL_PREFLIGHT=off, clean batch. */
  preflightRatio: 1.03,
  coldStartMs: 120,
  /** Issue 8: engine attempts while the registry is down ≤ PULL_PARALLEL (the first wave). */
  outageEngineAttempts: 8,
  /** Issue 8: registry requests per second while down (both clients, after the first wave). */
  outageRequestsPerS: 1.2,
  outageRecoverySlackS: 1.5,
  throttleRecoverySlackS: 1.5,
  brownoutRecoverySlackS: 3,
  twoImagesRecoveryS: 2,
} as const;

const s = (value: number, digits = 1): string => (Number.isFinite(value) ? value.toFixed(digits) : "–");

/** a / b within each repetition (adjacent runs, so slow drifts of the machine's load cancel out). */
export function pairedRatios(runs: readonly BatchRun[], a: PullerId = "prepull", b: PullerId = "xargs-8"): number[] {
  const reps = [...new Set(runs.map((r) => r.rep).filter((r): r is number => r !== undefined))];
  const out: number[] = [];
  for (const rep of reps) {
    const p = runs.find((r) => r.rep === rep && r.puller === a);
    const x = runs.find((r) => r.rep === rep && r.puller === b);
    if (p && x) out.push(p.seconds / x.seconds);
  }
  return out;
}

const medianOf = (runs: readonly BatchRun[], puller: PullerId): number => median(runs.filter((r) => r.puller === puller).map((r) => r.seconds));

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
  const preflight = pairedRatios(runs, "prepull", "prepull-off");
  return [
    "| Puller | Runs | Runs all pulled | Layers downloaded | Median s | Min s | Max s | Median / xargs -P 8 |",
    "|---|---:|---:|---:|---:|---:|---:|---:|",
    ...rows,
    "",
    `Paired ratios prepull / xargs -P 8 (same repetition): ${paired.map((r) => s(r, 2)).join(", ")}; median ${s(median(paired), 3)}.`,
    ...(preflight.length > 0
      ? [
          "",
          `Paired ratios preflight on / off (same repetition): ${preflight.map((r) => s(r, 2)).join(", ")}; median ${s(median(preflight), 3)}; ratio of the medians ${s(medianOf(runs, "prepull") / medianOf(runs, "prepull-off"), 3)}.`,
        ]
      : []),
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

const result = (r: { code: number | null; timedOut: boolean }): string =>
  r.timedOut ? "killed (timeout)" : r.code === 0 ? "ok (exit 0)" : `FAIL (exit ${r.code ?? "signal"})`;

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
      `${r.pulled}/${r.expectedPulled}`,
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

const pulledAll = (r: FaultRun): boolean => r.pulled === r.expectedPulled && (r.code === 0 || r.expectedPulled < r.images);

/** Issue 8's table: load on the registry against recovery, for every puller. */
export function loadTable(runs: readonly FaultRun[]): string {
  const rows = runs.map((r) => {
    const l = r.load;
    const extra: string[] = [];
    if (r.scenario.outageMs !== undefined) extra.push(`load columns: its ${s(r.scenario.outageMs / 1000, 0)} s outage phase`);
    if (r.throttle)
      extra.push(
        r.throttle.first429At === undefined
          ? "no 429 seen"
          : `inside Retry-After of the 1st 429: prepull ${r.throttle.prepull}, engine ${r.throttle.engine} (+ ${r.throttle.firstWave} of the first wave)`,
      );
    if (r.broken) extra.push(`broken images: engine ${r.broken.engineRequests}, prepull ${r.broken.prepullHeads} HEAD + ${r.broken.prepullGets} GET`);
    return [
      scenarioLabel(r, runs),
      PULLER_LABEL[r.puller],
      `${pulledAll(r) ? "ok" : "FAIL"} (exit ${r.timedOut ? "timeout" : (r.code ?? "signal")}, ${r.pulled}/${r.expectedPulled})`,
      s(r.clean.seconds),
      s(r.recoveryS),
      String(l.engineAttempts),
      String(l.prepullRequests),
      s(l.requestRateAfterWave, 2),
      s(l.requestRateWindow, 2),
      extra.join("; ") || "",
    ].join(" | ");
  });
  return [
    "| Scenario | Puller | Result | Clean batch s | Exit − fault end s | Engine attempts in window | prepull requests in window | Registry req/s after 1st wave | Registry req/s whole window | Notes |",
    "|---|---|---|---:|---:|---:|---:|---:|---:|---|",
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
    const ratio =
      median(batch.filter((r) => r.puller === "prepull").map((r) => r.seconds)) / median(batch.filter((r) => r.puller === "xargs-8").map((r) => r.seconds));
    const paired = median(pairedRatios(batch));
    out.push({
      target: `20-image batch: median prepull / median \`xargs -P 8 docker pull\` ≤ ${TARGETS.batchRatio}`,
      met: ratio <= TARGETS.batchRatio,
      detail:
        (ratio <= TARGETS.batchRatio ? `ratio ${s(ratio, 3)}` : `ratio ${s(ratio, 3)}: missed by ${s((ratio - TARGETS.batchRatio) * 100, 1)} points`) +
        ` (median of the paired ratios: ${s(paired, 3)})`,
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
  if (batch.some((r) => r.puller === "prepull-off")) {
    const ratio = medianOf(batch, "prepull") / medianOf(batch, "prepull-off");
    const paired = median(pairedRatios(batch, "prepull", "prepull-off"));
    out.push({
      target: `20-image batch: median preflight on / median PULL_PREFLIGHT=off ≤ ${TARGETS.preflightRatio}`,
      met: ratio <= TARGETS.preflightRatio,
      detail:
        (ratio <= TARGETS.preflightRatio ? `ratio ${s(ratio, 3)}` : `ratio ${s(ratio, 3)}: missed by ${s((ratio - TARGETS.preflightRatio) * 100, 1)} points`) +
        ` (median of the paired ratios: ${s(paired, 3)})`,
    });
  }
  const mine = faults.filter((r) => r.puller === "prepull");
  if (mine.length > 0) {
    const failed = mine.filter((r) => !pulledAll(r));
    out.push({
      target: "prepull succeeds in every scenario (scenario 6: every pullable image pulled)",
      met: failed.length === 0,
      detail:
        failed.length === 0
          ? `${mine.length} of ${mine.length} runs`
          : `${mine.length - failed.length} of ${mine.length} runs succeeded; failed: ${failed.map((r) => `scenario ${scenarioLabel(r, faults)} (${result(r)}, ${r.pulled}/${r.expectedPulled} pulled)`).join(", ")}`,
    });
  }
  for (const r of mine) out.push(...scenarioVerdicts(r, scenarioLabel(r, faults)));
  return out;
}

const atMost = (value: number, bound: number, unit: string, digits = 1): string =>
  value <= bound
    ? `${s(value, digits)}${unit} (bound ${s(bound, digits)}${unit})`
    : `${s(value, digits)}${unit}: missed by ${s(value - bound, digits)}${unit} (bound ${s(bound, digits)}${unit})`;

function recoveryVerdict(r: FaultRun, label: string, slack: number, from: string): Verdict {
  const bound = r.clean.seconds + slack;
  return {
    target: `scenario ${label}: exit ≤ clean batch + ${slack} s after ${from}`,
    met: r.code === 0 && r.recoveryS <= bound,
    detail: `${atMost(r.recoveryS, bound, " s")}, clean batch ${s(r.clean.seconds)} s` + (r.code !== 0 ? " — but the run failed" : ""),
  };
}

/** Issue 8's targets for one run of prepull with its defaults. */
function scenarioVerdicts(r: FaultRun, label: string): Verdict[] {
  const l = r.load;
  switch (r.scenario.name) {
    case "two-images-500":
      return [
        {
          target: `scenario ${label}: exit ≤ ${TARGETS.twoImagesRecoveryS} s after the fault ends`,
          met: r.code === 0 && r.recoveryS <= TARGETS.twoImagesRecoveryS,
          detail: atMost(r.recoveryS, TARGETS.twoImagesRecoveryS, " s") + (r.code !== 0 ? " — but the run failed" : ""),
        },
      ];
    case "outage-503":
      return [
        {
          target: `scenario ${label}: engine attempts during the outage ≤ PULL_PARALLEL (${TARGETS.outageEngineAttempts})`,
          met: l.engineAttempts <= TARGETS.outageEngineAttempts,
          detail: `${l.engineAttempts} engine attempts in the window`,
        },
        {
          target: `scenario ${label}: registry requests while down ≤ ${TARGETS.outageRequestsPerS}/s (both clients, after the first wave)`,
          met: l.requestRateAfterWave <= TARGETS.outageRequestsPerS,
          detail: `${l.requestsAfterWave} requests = ${atMost(l.requestRateAfterWave, TARGETS.outageRequestsPerS, "/s", 2)}; the whole window, first wave included: ${s(l.requestRateWindow, 2)}/s`,
        },
        recoveryVerdict(r, label, TARGETS.outageRecoverySlackS, "the recovery"),
      ];
    case "brownout":
      return [recoveryVerdict(r, label, TARGETS.brownoutRecoverySlackS, "the brownout's end")];
    case "retry-after-429": {
      const t = r.throttle;
      return [
        {
          target: `scenario ${label}: no request inside the Retry-After interval of the first 429`,
          met: t !== undefined && t.first429At !== undefined && t.prepull + t.engine === 0,
          detail:
            t?.first429At === undefined
              ? "no 429 seen"
              : `prepull ${t.prepull}, engine ${t.engine} requests started inside it, after the first wave (${t.firstWave} first-wave requests arrived in it)`,
        },
        recoveryVerdict(r, label, TARGETS.throttleRecoverySlackS, "the interval ends"),
      ];
    }
    case "not-found": {
      const b = r.broken;
      const notFound = r.scenario.broken?.notFound.length ?? 0;
      const platform = r.scenario.broken?.platformMissing.length ?? 0;
      if (!b) return [];
      return [
        {
          target: `scenario ${label}: zero engine attempts on the 404 and platform-missing images`,
          met: b.engineRequests === 0,
          detail: `${b.engineRequests} engine manifest requests`,
        },
        {
          target: `scenario ${label}: one HEAD each (+ one GET for the index)`,
          met: b.prepullHeads <= notFound + platform && b.prepullGets <= platform,
          detail: `${b.prepullHeads} HEADs (bound ${notFound + platform}), ${b.prepullGets} GETs (bound ${platform}); ${b.perImage.join("; ")}`,
        },
      ];
    }
    default:
      return [];
  }
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

export const LOAD_DEFINITIONS = `*Engine attempts* = the engine's manifest HEADs (the proxy tells prepull's own client from the engine by User-Agent).
*Window* = the fault window (scenario 4: its 20 s outage phase). *Registry req/s after 1st wave* = every request of either client
(ping, manifest, blob) started from 1 s after the first faulted answer to the window's end, per second of that span; *whole window*
includes the first wave and divides by the whole window. *Exit − fault end*: scenario 5 measures from the end of the first 429's
Retry-After interval; scenario 6 has no fault, so it is the wall time. Scenario 6's pullable images are 16 of 20, so exit 1 with
16/16 pulled is the expected outcome.`;

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
    lines.push(
      `## Fault scenarios (issues 4 and 8)`,
      "",
      `${setup.faultReps} run(s) of each scenario per puller${setup.faultReps > 1 ? ` (run k uses seed ${setup.seed} + k − 1)` : ""}.`,
      "",
    );
    lines.push(`### Load versus recovery (issue 8)`, "", loadTable(parts.faults), "", LOAD_DEFINITIONS, "");
    lines.push(`### Attempts (issue 4)`, "", faultTable(parts.faults), "", DEFINITIONS, "");
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
