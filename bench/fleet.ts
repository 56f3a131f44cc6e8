// `npm run bench:fleet`, also part of `npm run bench` (`--scenario fleet`) (issue 11): a fleet of prepull processes behind one pull-through cache, on
// the real stack: four isolated dockerds (one per "runner"), the stack's registry as upstream, and
// a CNCF registry in proxy mode in front of it, each with a fault proxy whose log counts who asked
// upstream for what. Not a test: it prints a table and writes bench/results-fleet.md.
//
//   node --import tsx bench/fleet.ts [--runners N] [--images N] [--outage SEC] [--out FILE]
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { startDockerd, type Dockerd } from "../stack/dockerd.js";
import type { PushedImage } from "../stack/images.js";
import { startStack, type Stack } from "../stack/stack.js";
import { engineApi } from "./engine-api.js";
import { runProcess, stopAllProcesses, type ProcessResult } from "./processes.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const CLI = join(ROOT, "dist", "cli", "main.js");
const IMAGE = { layers: 2, sizeBytes: 1_000_000 } as const;

export interface FleetOptions {
  readonly runners: number;
  readonly images: number;
  readonly outageMs: number;
}

export const FLEET_DEFAULTS: FleetOptions = { runners: 4, images: 10, outageMs: 45_000 };

const say = (line: string) => process.stdout.write(`${line}\n`);
const secs = (ms: number) => `${(Math.round(ms / 100) / 10).toFixed(1)} s`;

interface Row {
  readonly scenario: string;
  readonly ok: string;
  readonly wall: string;
  readonly upstream: string;
  readonly note: string;
}

async function pushSet(stack: Stack, prefix: string, images: number): Promise<PushedImage[]> {
  const out: PushedImage[] = [];
  for (let i = 0; i < images; i++) out.push(await stack.pushImage(stack.image(`${prefix}-${i}`), "v1", IMAGE));
  return out;
}

/** Every runner pulls the whole set at once, each through its own engine. */
async function fleet(
  stack: Stack,
  engines: readonly Dockerd[],
  refs: readonly string[],
  mirror: string | undefined,
  outageMs: number,
): Promise<{ results: ProcessResult[]; wallMs: number }> {
  const started = performance.now();
  const results = await Promise.all(
    engines.map((engine, i) =>
      runProcess(process.execPath, [CLI, ...refs], {
        timeoutMs: outageMs + 240_000,
        env: {
          PATH: process.env.PATH ?? "/usr/bin:/bin",
          HOME: process.env.HOME ?? "/root",
          NO_COLOR: "1",
          DOCKER_HOST: engine.dockerHost,
          PULL_POLICY: "always",
          PULL_SEED: String(i + 1),
          PULL_DEADLINE: String(Math.ceil(outageMs / 1000) + 180),
          ...(mirror ? { PULL_MIRRORS: `${stack.host}=${mirror}` } : {}),
        },
      }),
    ),
  );
  return { results, wallMs: performance.now() - started };
}

const okCount = (results: readonly ProcessResult[]) => `${results.filter((r) => r.code === 0).length}/${results.length}`;

async function forget(engines: readonly Dockerd[], refs: readonly string[]): Promise<void> {
  for (const engine of engines) await engineApi(engine.socketPath).removeImages(refs);
}

/** Runs the four fleet scenarios on a stack of its own; resolves with the Markdown section. */
export async function runFleet(options: FleetOptions = FLEET_DEFAULTS): Promise<string> {
  const { runners: RUNNERS, images: IMAGES, outageMs: OUTAGE_MS } = options;
  const BLOBS = IMAGES * (IMAGE.layers + 1);
  say(
    `fleet bench: ${RUNNERS} runners (one dockerd each), ${IMAGES} images of ${IMAGE.sizeBytes / 1e6} MB in ${IMAGE.layers} layers, outage ${OUTAGE_MS / 1000} s`,
  );
  const stack = await startStack({ mirrors: true });
  // One at a time: each start sweeps the harness's stale temp dirs, which must not race a sibling's.
  const extra: Dockerd[] = [];
  try {
    for (let i = 1; i < RUNNERS; i++) extra.push(await startDockerd());
  } catch (error) {
    await Promise.allSettled(extra.map((e) => e.stop()));
    await stack.stop();
    throw error;
  }
  const engines = [stack.engine, ...extra];
  const cache = stack.cache;
  if (!cache) throw new Error("the stack has no cache");
  const rows: Row[] = [];
  const upstreamBlobs = () =>
    stack.proxy.count({ kind: "blob", method: "GET", status: 200 }) + cache.upstreamProxy.count({ kind: "blob", method: "GET", status: 200 });
  const clear = () => [stack.proxy, cache.proxy, cache.upstreamProxy].forEach((p) => p.clearLog());
  try {
    // 1. Cold fleet, no cache: every runner fetches every layer from upstream.
    const plain = await pushSet(stack, "fleet-plain", IMAGES);
    clear();
    const a = await fleet(
      stack,
      engines,
      plain.map((p) => p.reference),
      undefined,
      OUTAGE_MS,
    );
    rows.push({
      scenario: "cold fleet, no cache",
      ok: okCount(a.results),
      wall: secs(a.wallMs),
      upstream: `${(upstreamBlobs() / BLOBS).toFixed(2)} fetches per blob`,
      note: "",
    });
    // 2. Cold fleet through the cache: the cache fetches each layer from upstream (ideally once).
    const cached = await pushSet(stack, "fleet-cache", IMAGES);
    clear();
    const b = await fleet(
      stack,
      engines,
      cached.map((p) => p.reference),
      cache.host,
      OUTAGE_MS,
    );
    const fromCache = cache.proxy.count({ kind: "blob", method: "GET", status: 200, client: "engine" });
    rows.push({
      scenario: "cold fleet, cache cold",
      ok: okCount(b.results),
      wall: secs(b.wallMs),
      upstream: `${(upstreamBlobs() / BLOBS).toFixed(2)} fetches per blob`,
      note: `${fromCache} blob GETs served by the cache`,
    });
    // 3. Upstream down for OUTAGE_MS, the cache warm from run 2, the engines empty again.
    await forget(
      engines,
      cached.map((p) => p.reference),
    );
    clear();
    const window = { untilMs: OUTAGE_MS };
    stack.proxy.addFault({ name: "outage", when: window, action: { status: 503 } });
    cache.upstreamProxy.addFault({ name: "outage", when: window, action: { status: 503 } });
    const c = await fleet(
      stack,
      engines,
      cached.map((p) => p.reference),
      cache.host,
      OUTAGE_MS,
    );
    const engineUpstream = stack.proxy.count({ client: "engine" });
    const prepullUpstream = stack.proxy.count({ client: "prepull" });
    const cacheUpstream = cache.upstreamProxy.count({ fault: "outage" });
    rows.push({
      scenario: `upstream 503 for ${OUTAGE_MS / 1000} s, cache warm`,
      ok: okCount(c.results),
      wall: secs(c.wallMs),
      upstream: `${engineUpstream} engine requests`,
      note: `${prepullUpstream} prepull HEADs upstream (preflight and gate probes), ${cacheUpstream} cache tag refreshes answered 503`,
    });
    stack.proxy.clearFaults();
    cache.upstreamProxy.clearFaults();
    // 4. The same outage with references pinned by digest: the cache answers from its store alone.
    const pinned = cached.map((p) => `${p.reference}@${p.manifestDigest}`);
    await forget(
      engines,
      cached.map((p) => p.reference),
    );
    clear();
    stack.proxy.addFault({ name: "outage", when: window, action: { status: 503 } });
    cache.upstreamProxy.addFault({ name: "outage", when: window, action: { status: 503 } });
    const d = await fleet(stack, engines, pinned, cache.host, OUTAGE_MS);
    rows.push({
      scenario: `upstream 503 for ${OUTAGE_MS / 1000} s, cache warm, references by tag@digest`,
      ok: okCount(d.results),
      wall: secs(d.wallMs),
      upstream: `${stack.proxy.count({ client: "engine" })} engine requests`,
      note: `${stack.proxy.count({ client: "prepull" })} prepull HEADs upstream, ${cache.upstreamProxy.count({})} cache requests upstream`,
    });
    stack.proxy.clearFaults();
    cache.upstreamProxy.clearFaults();
  } finally {
    stopAllProcesses();
    await Promise.allSettled(extra.map((e) => e.stop()));
    await stack.stop();
  }
  const table = [
    "| scenario | runners ok | wall time | upstream | note |",
    "|---|---:|---:|---|---|",
    ...rows.map((r) => `| ${r.scenario} | ${r.ok} | ${r.wall} | ${r.upstream} | ${r.note} |`),
  ];
  const text = [
    `## Fleet behind a pull-through cache (issue 11)`,
    "",
    `${RUNNERS} runners (one isolated dockerd each) pulling ${IMAGES} images (${IMAGE.sizeBytes / 1e6} MB in ${IMAGE.layers} layers each) at once; ${new Date().toISOString()}.`,
    "",
    ...table,
    "",
  ].join("\n");
  say(table.join("\n"));
  return text;
}

function wholeNumber(flag: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  if (!/^\d+$/.test(text) || Number(text) < 1) throw new Error(`${flag} must be a whole number >= 1, got ${JSON.stringify(text)}`);
  return Number(text);
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { runners: { type: "string" }, images: { type: "string" }, outage: { type: "string" }, out: { type: "string" } } });
  const options: FleetOptions = {
    runners: wholeNumber("--runners", values.runners, FLEET_DEFAULTS.runners),
    images: wholeNumber("--images", values.images, FLEET_DEFAULTS.images),
    outageMs: wholeNumber("--outage", values.outage, FLEET_DEFAULTS.outageMs / 1000) * 1000,
  };
  const out = values.out ?? join(ROOT, "bench", "results-fleet.md");
  await writeFile(out, `# Fleet benchmark\n\n${await runFleet(options)}`);
  say(`written to ${out}`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    stopAllProcesses();
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  });
}
