// `npm run bench`: prepull against plain-script pullers on the real stack (an isolated dockerd, a
// real registry and the fault proxy from test/harness), one puller at a time, each on images no
// engine has seen. Not a test: it prints tables and a verdict per target, and writes them to
// bench/results.md. See bench/README.md.
//
//   node --import tsx bench/bench.ts [--scenario batch|version|1|2|3|4|5|6|fleet[,...]] [--quick] [--reps N] [--fault-reps N] [--seed N] [--out FILE]
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { cpus, loadavg, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { formatLog, type ProxyLogEntry } from "../stack/fault-proxy.js";
import type { PushedImage } from "../stack/images.js";
import { startStack, type Stack } from "../stack/stack.js";
import { packAndInstall } from "../stack/package.js";
import { engineApi, type EngineApi } from "./engine-api.js";
import { archiveBench, archiveTable, type ArchiveRun } from "./archive.js";
import {
  brokenImageMetrics,
  faultWindowMetrics,
  isAttempt as isDockerdAttempt,
  isPodmanAttempt,
  layersDownloaded,
  loadMetrics,
  median,
  throttleMetrics,
  type AttemptTest,
} from "./metrics.js";
import { endRunningProcesses, runProcess, stopAllProcesses, type ProcessResult } from "./processes.js";
import {
  PULLER_LABEL,
  markdown,
  verdictList,
  verdicts,
  faultTable,
  batchTable,
  coldStartLine,
  type BatchRun,
  type BenchSetup,
  type ColdStart,
  type FaultRun,
  type PullerId,
} from "./report.js";
import { ARM_ONLY_TAG, MISSING_TAG, SCENARIOS, type Scenario } from "./scenarios.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const BENCH = join(ROOT, "bench");
const CLI = join(ROOT, "dist", "cli", "main.js");

const IMAGES = 20;
const IMAGE = { layers: 2, sizeBytes: 3_000_000 } as const;
const IMAGE_DESCRIPTION = "3 MB of random data in 2 layers each, 60 MB per batch";
const BATCH_TIMEOUT_MS = 180_000;
const FAULT_TIMEOUT_MS = 300_000;
const FAULT_PULLERS: readonly PullerId[] = ["prepull", "prepull-off", "baseline-fixed", "baseline-backoff"];
const PARTS = ["batch", "version", "1", "2", "3", "4", "5", "6", "archive", "fleet"] as const;
const FAULT_PARTS = ["1", "2", "3", "4", "5", "6"] as const;

// --- options -------------------------------------------------------------------------------

interface Options {
  readonly parts: ReadonlySet<string>;
  readonly quick: boolean;
  readonly reps: number;
  readonly faultReps: number;
  /** Pullers of the fault scenarios (default all three). */
  readonly faultPullers: readonly PullerId[];
  readonly coldSpawns: number;
  readonly seed: number;
  readonly out: string;
  readonly partial: boolean;
  /** Also run the clean batch and scenario 1 (when asked for) on podman's Docker API. */
  readonly podman: boolean;
}

const USAGE = `Usage: npm run bench -- [options]      (or: node --import tsx bench/bench.ts [options])

  --scenario LIST   what to run, comma-separated or repeated (default: all):
                      batch    20-image clean batch, prepull (preflight on and off) vs xargs -P 8 docker pull (issues 2, 8)
                      version  prepull --version cold start vs node -e 0 (issue 2)
                      1 2 3 4  fault scenarios (issue 4): two-images-500, outage-503, random-500, brownout
                      5 6      issue 8: retry-after-429, not-found (404 and platform-missing images)
                      faults   = 1,2,3,4,5,6
                      archive  20 images pulled from the local registry vs --load of their archives (issue 11)
                      fleet    4 runners behind a pull-through cache, cold and in an outage (issue 11; bench/fleet.ts)
  --quick           fewer repetitions (batch: 3 per puller, no xargs -P 20; version: 10 spawns)
  --reps N          batch repetitions per puller (default 10, quick 3)
  --fault-reps N    runs of each fault scenario per puller (default 1; the outcome of scenarios 1, 3
                    and 4 depends on the random draws, so more runs give a success rate)
  --pullers LIST    pullers of the fault scenarios, comma-separated (default prepull,prepull-off,baseline-fixed,baseline-backoff;
                    prepull-off is prepull with PULL_PREFLIGHT=off)
  --engines LIST    dockerd (always) and podman (default dockerd,podman): on podman the clean batch and
                    scenario 1 (the 500 window) run again, when selected, next to dockerd's
  --seed N          PULL_SEED for prepull, BENCH_SEED for the backoff baseline, proxy seed (default 1)
  --out FILE        where to write the Markdown (default bench/results.md for a full run,
                    bench/results.partial.md when --scenario or --quick is given)
  -h, --help        this text
`;

const wholeNumber = (flag: string, text: string | undefined, min: number): number | undefined => {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < min) throw new Error(`${flag} must be a whole number >= ${min}, got ${JSON.stringify(text)}`);
  return n;
};

function parseOptions(argv: readonly string[]): Options {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    options: {
      scenario: { type: "string", multiple: true },
      quick: { type: "boolean" },
      reps: { type: "string" },
      "fault-reps": { type: "string" },
      pullers: { type: "string" },
      seed: { type: "string" },
      out: { type: "string" },
      engines: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const parts = new Set<string>();
  for (const p of (values.scenario ?? [])
    .flatMap((list) => list.split(","))
    .map((x) => x.trim().toLowerCase())
    .filter(Boolean)) {
    const byName = SCENARIOS.find((sc) => sc.name === p);
    if (p === "all") PARTS.forEach((x) => parts.add(x));
    else if (p === "faults") FAULT_PARTS.forEach((x) => parts.add(x));
    else if (byName) parts.add(String(byName.id));
    else if ((PARTS as readonly string[]).includes(p)) parts.add(p);
    else throw new Error(`unknown scenario ${JSON.stringify(p)}\n\n${USAGE}`);
  }
  const faultPullers = (values.pullers?.split(",") ?? [...FAULT_PULLERS])
    .map((x) => x.trim())
    .filter(Boolean)
    .map((x) => {
      if (!(FAULT_PULLERS as readonly string[]).includes(x)) throw new Error(`unknown puller ${JSON.stringify(x)}: use ${FAULT_PULLERS.join(", ")}`);
      return x as PullerId;
    });
  const engines = (values.engines ?? "dockerd,podman")
    .split(",")
    .map((x) => x.trim())
    .filter(Boolean);
  const unknownEngine = engines.find((e) => e !== "dockerd" && e !== "podman");
  if (unknownEngine !== undefined) throw new Error(`unknown engine ${JSON.stringify(unknownEngine)}: use dockerd, podman`);
  const podman = engines.includes("podman");
  const quick = values.quick ?? false;
  const partial = parts.size > 0 || quick || faultPullers.length < FAULT_PULLERS.length;
  if (parts.size === 0) PARTS.forEach((x) => parts.add(x));
  return {
    parts,
    quick,
    reps: wholeNumber("--reps", values.reps, 1) ?? (quick ? 3 : 10),
    faultReps: wholeNumber("--fault-reps", values["fault-reps"], 1) ?? 1,
    faultPullers,
    coldSpawns: quick ? 10 : 20,
    seed: wholeNumber("--seed", values.seed, 0) ?? 1,
    out: values.out ?? join(BENCH, partial ? "results.partial.md" : "results.md"),
    partial,
    podman,
  };
}

// --- helpers -------------------------------------------------------------------------------

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const say = (line: string) => process.stdout.write(`${line}\n`);
const secs = (ms: number) => Math.round(ms / 100) / 10;

function dockerBinary(): string {
  for (const candidate of ["/usr/bin/docker", "/usr/local/bin/docker"]) if (existsSync(candidate)) return candidate;
  return "docker";
}

function execText(command: string, args: readonly string[], env?: Record<string, string>): Promise<string> {
  return new Promise((resolve) => {
    execFile(command, args, { env: env ?? process.env, timeout: 30_000 }, (error, stdout, stderr) =>
      resolve(error ? `unknown (${(stderr || error.message).trim()})` : stdout.trim()),
    );
  });
}

/** The podman part of a run: the same measurements, on podman's Docker API. */
type PodmanPart = NonNullable<Parameters<typeof markdown>[1]["podman"]>;

interface Context {
  readonly stack: Stack;
  readonly engine: EngineApi;
  readonly docker: string;
  readonly dockerConfig: string;
  readonly logDir: string;
  readonly seed: number;
  /** How this engine's pull attempts show in the proxy log. */
  readonly isAttempt: AttemptTest;
  runs: number;
}

/** Pushes a batch of fresh images (new repositories, random layers) straight to the registry. */
async function pushBatch(ctx: Context, prefix: string): Promise<PushedImage[]> {
  const images: PushedImage[] = new Array(IMAGES);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < IMAGES; i = next++) {
      images[i] = await ctx.stack.pushImage(ctx.stack.image(`${prefix}-${String(i).padStart(2, "0")}`), "v1", IMAGE);
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  return images;
}

function baseEnv(ctx: Context): Record<string, string> {
  return {
    PATH: process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin",
    HOME: process.env.HOME ?? "/root",
    // An empty docker config for every puller: no credentials or CLI plugins of the machine leak in.
    DOCKER_CONFIG: ctx.dockerConfig,
    DOCKER_HOST: ctx.stack.engine.dockerHost,
    NO_COLOR: "1",
    LC_ALL: "C",
  };
}

function runPuller(
  ctx: Context,
  puller: PullerId,
  references: readonly string[],
  timeoutMs: number,
  beforeSpawn?: () => void,
  seed = ctx.seed,
): Promise<ProcessResult> {
  const env = baseEnv(ctx);
  const options = { timeoutMs, ...(beforeSpawn ? { beforeSpawn } : {}) };
  switch (puller) {
    case "prepull":
    case "prepull-off":
      return runProcess(process.execPath, [CLI, ...references], {
        ...options,
        env: { ...env, PULL_POLICY: "always", PULL_SEED: String(seed), ...(puller === "prepull-off" ? { PULL_PREFLIGHT: "off" } : {}) },
      });
    case "baseline-fixed":
    case "baseline-backoff":
      return runProcess("bash", [join(BENCH, `${puller}.sh`), ...references], { ...options, env: { ...env, DOCKER: ctx.docker, BENCH_SEED: String(seed) } });
    case "xargs-8":
    case "xargs-20":
      return runProcess("xargs", ["-P", puller === "xargs-8" ? "8" : "20", "-n", "1", ctx.docker, "pull", "-q"], {
        ...options,
        env,
        stdin: `${references.join("\n")}\n`,
      });
  }
}

async function saveLogs(ctx: Context, name: string, result: ProcessResult, entries: readonly ProxyLogEntry[], extra = ""): Promise<void> {
  const base = join(ctx.logDir, `${String(++ctx.runs).padStart(3, "0")}-${name}`);
  await writeFile(`${base}.stdout.log`, result.stdout);
  await writeFile(`${base}.stderr.log`, result.stderr);
  await writeFile(`${base}.proxy.log`, `${extra}${formatLog(entries)}\n`);
}

/** Clears the engine of a run's images; the next run starts from an engine that has none of its layers. */
async function cleanUp(ctx: Context, references: readonly string[]): Promise<void> {
  await ctx.engine.removeImages(references);
  await sleep(500);
}

/** One puller on one fresh batch, no faults. */
async function cleanBatch(ctx: Context, puller: PullerId, label: string): Promise<BatchRun> {
  const prefix = `${label}-${puller}`;
  const images = await pushBatch(ctx, prefix);
  const references = images.map((i) => i.reference);
  ctx.stack.proxy.clearLog();
  const offset = performance.now() - ctx.stack.proxy.now();
  const result = await runPuller(ctx, puller, references, BATCH_TIMEOUT_MS);
  const entries = [...ctx.stack.proxy.log];
  const layers = images.flatMap((i) => i.layers);
  const run: BatchRun = {
    puller,
    seconds: result.wallMs / 1000,
    code: result.timedOut ? null : result.code,
    pulled: await ctx.engine.countPresent(references),
    images: IMAGES,
    layersDownloaded: layersDownloaded(entries, layers),
    layersExpected: layers.length,
  };
  await saveLogs(
    ctx,
    prefix,
    result,
    entries,
    `# clean batch, ${puller}: spawned at ${(result.startedAt - offset).toFixed(0)} ms, exited at ${(result.endedAt - offset).toFixed(0)} ms (proxy clock)\n`,
  );
  await cleanUp(ctx, references);
  if (run.layersDownloaded !== run.layersExpected)
    say(`  WARNING: ${puller} downloaded ${run.layersDownloaded} of ${run.layersExpected} layers: not a cold pull`);
  return run;
}

// --- issue 2: clean batch and cold start -----------------------------------------------------

async function batchBench(ctx: Context, options: Options): Promise<{ runs: BatchRun[]; pullers: PullerId[] }> {
  const pullers: PullerId[] = options.quick ? ["prepull", "prepull-off", "xargs-8"] : ["prepull", "prepull-off", "xargs-8", "xargs-20"];
  say(`\n== clean batch: ${IMAGES} images, ${pullers.map((p) => PULLER_LABEL[p]).join(" vs ")}, ${options.reps} runs each`);
  // One untimed warm-up per puller: page cache, the engine's first pull, node's compile cache.
  for (const puller of pullers) await cleanBatch(ctx, puller, "warm");
  const runs: BatchRun[] = [];
  for (let rep = 0; rep < options.reps; rep++) {
    const order = pullers.map((_p, i) => pullers[(i + rep) % pullers.length] as PullerId);
    for (const puller of order) {
      const run = { ...(await cleanBatch(ctx, puller, `b${rep}`)), rep };
      runs.push(run);
      say(
        `  rep ${rep + 1} ${puller.padEnd(8)} ${run.seconds.toFixed(2)} s  exit ${run.code}  pulled ${run.pulled}/${run.images}  layers ${run.layersDownloaded}/${run.layersExpected}`,
      );
    }
  }
  return { runs, pullers };
}

async function coldStart(options: Options): Promise<ColdStart> {
  say(
    `\n== cold start: node dist/cli/main.js --version, the installed node_modules/.bin/prepull --version, and node -e 0, ${options.coldSpawns} spawns each (alternating)`,
  );
  // The bin as users run it: the packed tarball installed with --omit=dev, started through its shebang.
  const installed = await packAndInstall();
  // The shebang's `env node` must find the same Node as the other two spawns.
  const env = { PATH: `${dirname(process.execPath)}:${process.env.PATH ?? "/usr/bin:/bin"}`, HOME: process.env.HOME ?? "/root", NO_COLOR: "1" };
  const prepullMs: number[] = [];
  const installedMs: number[] = [];
  const nodeMs: number[] = [];
  let version = "";
  try {
    for (let i = -2; i < options.coldSpawns; i++) {
      const a = await runProcess(process.execPath, [CLI, "--version"], { env, timeoutMs: 30_000 });
      const c = await runProcess(installed.bin, ["--version"], { env, timeoutMs: 30_000 });
      const b = await runProcess(process.execPath, ["-e", "0"], { env, timeoutMs: 30_000 });
      if (a.code !== 0) throw new Error(`prepull --version exited ${a.code}: ${a.stderr}`);
      if (c.code !== 0 || c.stdout !== a.stdout) throw new Error(`the installed prepull --version exited ${c.code}: ${c.stdout}${c.stderr}`);
      version = a.stdout;
      if (i < 0) continue; // warm-up: the first spawns pay for a cold page cache
      prepullMs.push(a.wallMs);
      installedMs.push(c.wallMs);
      nodeMs.push(b.wallMs);
    }
  } finally {
    await installed.remove();
  }
  say(
    `  prepull --version median ${median(prepullMs).toFixed(0)} ms, installed bin median ${median(installedMs).toFixed(0)} ms, node -e 0 median ${median(nodeMs).toFixed(0)} ms`,
  );
  return { prepullMs, installedMs, nodeMs, version };
}

// --- issue 4: fault scenarios ----------------------------------------------------------------

async function faultRun(ctx: Context, scenario: Scenario, puller: PullerId, clean: BatchRun, rep: number): Promise<FaultRun> {
  const prefix = `s${scenario.id}r${rep}-${puller}`;
  const images = await pushBatch(ctx, prefix);
  const { references, broken } = await brokenReferences(ctx, scenario, images);
  const repositories = images.map((i) => i.repository);
  const proxy = ctx.stack.proxy;
  proxy.clearLog();
  let remove: () => void = () => undefined;
  let windowStart = 0;
  let offset = 0;
  const result = await runPuller(
    ctx,
    puller,
    references,
    FAULT_TIMEOUT_MS,
    () => {
      // The fault window starts with the puller.
      remove = scenario.install(proxy, repositories);
      windowStart = proxy.now();
      offset = performance.now() - windowStart;
    },
    ctx.seed + rep - 1,
  ); // each repetition draws its own jitter
  remove();
  const exitAt = result.endedAt - offset;
  const window = { start: windowStart, end: windowStart + scenario.faultMs };
  const entries = [...proxy.log];
  const { isAttempt } = ctx;
  const metrics = faultWindowMetrics(entries, window, isAttempt);
  const outageWindow = { start: windowStart, end: windowStart + (scenario.outageMs ?? scenario.faultMs) };
  const outage = scenario.outageMs !== undefined ? faultWindowMetrics(entries, outageWindow, isAttempt) : undefined;
  const load = loadMetrics(entries, outageWindow, metrics.firstFaultAnswerAt, isAttempt);
  const throttle = scenario.retryAfterS !== undefined ? throttleMetrics(entries, scenario.retryAfterS) : undefined;
  const brokenMetrics = broken.length > 0 ? brokenImageMetrics(entries, broken) : undefined;
  // A throttle's interval runs from the first 429 answer; recovery is measured from its end.
  const recoveryFrom = throttle?.intervalEnd !== undefined ? Math.max(window.end, throttle.intervalEnd) : window.end;
  const run: FaultRun = {
    scenario,
    puller,
    rep,
    code: result.timedOut ? null : result.code,
    timedOut: result.timedOut,
    pulled: await ctx.engine.countPresent(references),
    images: IMAGES,
    expectedPulled: IMAGES - broken.length,
    wallS: result.wallMs / 1000,
    clean,
    faultEndS: (recoveryFrom - window.start) / 1000,
    recoveryS: (exitAt - recoveryFrom) / 1000,
    window: metrics,
    ...(outage ? { outage } : {}),
    load,
    ...(throttle ? { throttle } : {}),
    ...(brokenMetrics ? { broken: brokenMetrics } : {}),
    maxAttemptsPerImage: Math.max(...repositories.map((r) => entries.filter((e) => isAttempt(e) && e.repository === r).length)),
  };
  const header =
    `# scenario ${scenario.id} (${scenario.title}), ${puller}; times in ms since the proxy started\n` +
    `# fault window ${window.start.toFixed(0)}–${window.end.toFixed(0)}, exit at ${exitAt.toFixed(0)}; ` +
    `attempts after the first wave at (s into the window): ${metrics.attemptTimesS.join(" ")}\n` +
    `# attempts per image: ${repositories.map((r) => entries.filter((e) => isAttempt(e) && e.repository === r).length).join(" ")}\n` +
    `# load (window ${outageWindow.start.toFixed(0)}–${outageWindow.end.toFixed(0)}): ${JSON.stringify(load)}\n` +
    (throttle
      ? `# first 429 answer at ${throttle.first429At?.toFixed(0) ?? "none"}, interval end ${throttle.intervalEnd?.toFixed(0) ?? "none"}; requests inside: ${throttle.requests.join("; ") || "none"}\n`
      : "") +
    (brokenMetrics ? `# broken images: ${brokenMetrics.perImage.join("; ")}\n` : "");
  await saveLogs(ctx, prefix, result, entries, header);
  await cleanUp(ctx, references);
  return run;
}

/**
 * A scenario's references: the pushed images, except that its unknown-tag images ask for a tag never
 * pushed and its platform-missing images name an arm64-only index pushed to their repository.
 */
async function brokenReferences(ctx: Context, scenario: Scenario, images: readonly PushedImage[]): Promise<{ references: string[]; broken: string[] }> {
  const references = images.map((i) => i.reference);
  const broken: string[] = [];
  for (const index of scenario.broken?.notFound ?? []) {
    const image = images[index] as PushedImage;
    references[index] = ctx.stack.ref(image.repository, MISSING_TAG);
    broken.push(image.repository);
  }
  for (const index of scenario.broken?.platformMissing ?? []) {
    const image = images[index] as PushedImage;
    references[index] = (await ctx.stack.pushPlatformList(image.repository, ARM_ONLY_TAG, ["arm64"])).reference;
    broken.push(image.repository);
  }
  return { references, broken };
}

async function faultBench(ctx: Context, scenarios: readonly Scenario[], reps: number, pullers: readonly PullerId[]): Promise<FaultRun[]> {
  const runs: FaultRun[] = [];
  for (const scenario of scenarios) {
    for (let rep = 1; rep <= reps; rep++) {
      say(`\n== scenario ${scenario.id}: ${scenario.title}${reps > 1 ? ` (run ${rep} of ${reps})` : ""}`);
      // Rotate the pullers' order per scenario and run, so no puller always goes first.
      const order = pullers.map((_p, i) => pullers[(i + scenario.id + rep - 2) % pullers.length] as PullerId);
      for (const puller of order) {
        const clean = await cleanBatch(ctx, puller, `s${scenario.id}r${rep}-clean`);
        say(`  ${puller.padEnd(16)} clean ${clean.seconds.toFixed(1)} s (exit ${clean.code}, ${clean.pulled}/${clean.images})`);
        const run = await faultRun(ctx, scenario, puller, clean, rep);
        runs.push(run);
        const w = run.window;
        say(
          `  ${puller.padEnd(16)} fault: exit ${run.timedOut ? "timeout" : run.code} pulled ${run.pulled}/${run.expectedPulled} wall ${run.wallS.toFixed(1)} s, ` +
            `exit − fault end ${run.recoveryS.toFixed(1)} s, requests in window ${w.requests}, attempts ${w.attempts} (${w.attemptsAfterWave} after the 1st wave, ` +
            `${w.attemptRateAfterWave.toFixed(2)}/s, max ${w.maxAttemptsIn3s} in 3 s), max manifest in flight ${w.maxManifestInFlightAfterWave}, ` +
            `most attempts on one image ${run.maxAttemptsPerImage}` +
            (run.outage ? `; outage phase: ${run.outage.attemptsAfterWave} after the 1st wave (${run.outage.attemptRateAfterWave.toFixed(2)}/s)` : "") +
            `; engine attempts ${run.load.engineAttempts}, prepull requests ${run.load.prepullRequests}, requests/s after the 1st wave ${run.load.requestRateAfterWave.toFixed(2)}` +
            (run.throttle ? `; inside Retry-After: prepull ${run.throttle.prepull}, engine ${run.throttle.engine}` : "") +
            (run.broken ? `; broken images: engine ${run.broken.engineRequests}, prepull ${run.broken.prepullHeads} HEAD + ${run.broken.prepullGets} GET` : ""),
        );
      }
    }
  }
  return runs;
}

// --- issue 11: archives ------------------------------------------------------------------------

function archiveDeps(ctx: Context): Parameters<typeof archiveBench>[0] {
  return {
    images: IMAGES,
    pushBatch: async (prefix) => (await pushBatch(ctx, prefix)).map((i) => i.reference),
    prepull: (args) => runProcess(process.execPath, [CLI, ...args], { timeoutMs: BATCH_TIMEOUT_MS, env: { ...baseEnv(ctx), PULL_SEED: String(ctx.seed) } }),
    removeImages: (references) => cleanUp(ctx, references),
    countPresent: (references) => ctx.engine.countPresent(references),
    proxyRequests: () => ctx.stack.proxy.count(),
    clearProxyLog: () => ctx.stack.proxy.clearLog(),
    say,
  };
}

// --- main ------------------------------------------------------------------------------------

async function main(): Promise<number> {
  let options: Options;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`bench: ${(error as Error).message}\n`);
    return 2;
  }
  if (!existsSync(CLI)) {
    process.stderr.write(`bench: ${CLI} is missing: run \`npm run build\` (npm run bench does it for you)\n`);
    return 2;
  }
  const started = performance.now();
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const logDir = join(BENCH, "logs", stamp);
  await mkdir(logDir, { recursive: true });
  const docker = dockerBinary();
  const loadBefore = loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");
  const wants = (part: string) => options.parts.has(part);

  let cold: ColdStart | undefined;
  // The cold start needs no stack: measure it first, on a machine with no dockerd of ours running.
  if (wants("version")) cold = await coldStart(options);

  // The fleet starts a stack of its own (a cache, more engines), in a process of its own as
  // `npm run bench:fleet` runs it, before the stack below (whose end stops every puller for good).
  let fleet: string | undefined;
  if (wants("fleet")) {
    const out = join(logDir, "fleet.md");
    say("\nfleet behind a pull-through cache (bench/fleet.ts)…");
    const run = await runProcess(process.execPath, ["--import", "tsx", join(BENCH, "fleet.ts"), "--out", out], {
      env: { ...process.env } as Record<string, string>,
      timeoutMs: 600_000,
    });
    say(run.stdout.trimEnd());
    if (run.code !== 0) process.stderr.write(`bench: the fleet benchmark failed (exit ${run.code}):\n${run.stderr}\n`);
    else fleet = (await readFile(out, "utf8")).replace(/^# Fleet benchmark\n\n/, "");
  }

  const needStack = wants("batch") || wants("archive") || SCENARIOS.some((sc) => wants(String(sc.id)));
  let stack: Stack | undefined;
  let dockerConfig: string | undefined;
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) return;
    interrupted = true;
    process.stderr.write(`\nbench: ${signal}: stopping the pullers and the stack\n`);
    stopAllProcesses();
    void Promise.resolve(stack?.stop())
      .catch(() => undefined)
      .then(() => (dockerConfig ? rm(dockerConfig, { recursive: true, force: true }) : undefined))
      .catch(() => undefined)
      .finally(() => process.exit(signal === "SIGINT" ? 130 : 143));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  let batch: { runs: BatchRun[]; pullers: PullerId[] } | undefined;
  let faults: FaultRun[] = [];
  let archive: ArchiveRun[] = [];
  let engineVersion = "dockerd (not started)";
  let dockerVersion = "(not used)";
  let onPodman: PodmanPart | undefined;
  try {
    if (needStack) {
      say(`\nstarting the stack (isolated dockerd, registry, fault proxy)…`);
      stack = await startStack({ seed: options.seed });
      dockerConfig = await mkdtemp(join(tmpdir(), "prepull-bench-docker-config-"));
      dockerVersion = `${await execText(docker, ["--version"])} (${docker})`;
      engineVersion = `dockerd ${await execText(docker, ["version", "--format", "{{.Server.Version}} (API {{.Server.APIVersion}})"], { ...process.env, DOCKER_HOST: stack.engine.dockerHost, DOCKER_CONFIG: dockerConfig } as Record<string, string>)}, max-concurrent-downloads 3 (daemon default)`;
      const ctx: Context = {
        stack,
        engine: engineApi(stack.engine.socketPath),
        docker,
        dockerConfig,
        logDir,
        seed: options.seed,
        isAttempt: isDockerdAttempt,
        runs: 0,
      };
      if (wants("batch")) batch = await batchBench(ctx, options);
      faults = await faultBench(
        ctx,
        SCENARIOS.filter((sc) => wants(String(sc.id))),
        options.faultReps,
        options.faultPullers,
      );
      if (wants("archive")) archive = await archiveBench(archiveDeps(ctx), options.quick ? 1 : 3);
    }
  } catch (error) {
    stopAllProcesses();
    throw error;
  } finally {
    // Not stopAllProcesses(): the podman part still runs pullers.
    endRunningProcesses();
    await stack?.stop().catch((error: unknown) => process.stderr.write(`bench: stopping the stack: ${String(error)}\n`));
    stack = undefined;
  }
  try {
    // One engine at a time: the two would share the 2 cores and each other's disk.
    if (options.podman && dockerConfig && (wants("batch") || wants("1"))) {
      say(`\nstarting a second stack on podman (podman system service, registry, fault proxy)…`);
      stack = await startStack({ seed: options.seed, engine: "podman" });
      const version = await execText(docker, ["version", "--format", "{{.Server.Version}} (API {{.Server.APIVersion}})"], {
        ...process.env,
        DOCKER_HOST: stack.engine.dockerHost,
        DOCKER_CONFIG: dockerConfig,
      } as Record<string, string>);
      const ctx: Context = {
        stack,
        engine: engineApi(stack.engine.socketPath),
        docker,
        dockerConfig,
        logDir: join(logDir, "podman"),
        seed: options.seed,
        isAttempt: isPodmanAttempt,
        runs: 0,
      };
      await mkdir(ctx.logDir, { recursive: true });
      onPodman = {
        engine: `podman ${version}`,
        ...(wants("batch") ? { batch: await batchBench(ctx, options) } : {}),
        faults: await faultBench(
          ctx,
          SCENARIOS.filter((sc) => sc.id === 1 && wants("1")),
          options.faultReps,
          options.faultPullers,
        ),
      };
    }
  } finally {
    stopAllProcesses();
    await stack?.stop().catch((error: unknown) => process.stderr.write(`bench: stopping the podman stack: ${String(error)}\n`));
    if (dockerConfig) await rm(dockerConfig, { recursive: true, force: true });
  }

  const commit = await execText("git", ["-C", ROOT, "rev-parse", "--short", "HEAD"]);
  const dirty = (await execText("git", ["-C", ROOT, "status", "--porcelain", "--", "src"])) !== "";
  const setup: BenchSetup = {
    build: `prepull at commit ${commit}${dirty ? " with uncommitted changes in src/" : ""}`,
    date: new Date().toISOString().slice(0, 16).replace("T", " ") + " UTC",
    machine: `${cpus().length} × ${cpus()[0]?.model.trim() ?? "cpu"}, Node ${process.version}`,
    images: IMAGES,
    imageDescription: IMAGE_DESCRIPTION,
    docker: dockerVersion,
    engine: engineVersion,
    quick: options.quick,
    reps: options.reps,
    faultReps: options.faultReps,
    seed: options.seed,
    loadBefore,
    loadAfter: loadavg()
      .map((l) => l.toFixed(2))
      .join(" "),
  };
  const text =
    markdown(setup, { ...(batch ? { batch } : {}), ...(cold ? { cold } : {}), faults, ...(onPodman ? { podman: onPodman } : {}) }) +
    (archive.length > 0 ? `\n${archiveTable(archive, IMAGES)}\n` : "");
  await writeFile(options.out, fleet ? `${text.trimEnd()}\n\n${fleet}` : text);

  say("\n" + "=".repeat(100));
  if (batch) say(`\n${batchTable(batch.runs, batch.pullers)}`);
  if (cold) say(`\n${coldStartLine(cold)}`);
  if (faults.length > 0) say(`\n${faultTable(faults)}`);
  if (onPodman?.batch) say(`\non ${onPodman.engine}:\n${batchTable(onPodman.batch.runs, onPodman.batch.pullers)}`);
  if (onPodman && onPodman.faults.length > 0) say(`\non ${onPodman.engine}:\n${faultTable(onPodman.faults)}`);
  if (archive.length > 0) say(`\n${archiveTable(archive, IMAGES)}`);
  say(`\n${verdictList(verdicts(batch?.runs ?? [], cold, faults))}`);
  say(`\nwritten: ${options.out}; per-run stdout/stderr and proxy logs: ${logDir}; took ${secs(performance.now() - started)} s`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    stopAllProcesses();
    if (error instanceof Error && error.message === "interrupted") return; // the signal handler exits
    process.stderr.write(`bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
