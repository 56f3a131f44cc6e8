// Issue 11's archive question, measured: is `--load` of a 20-image set faster than pulling it from
// the local registry? Per repetition, on fresh images: prepull pulls them (timed), saves them with
// --save (timed apart), the engine forgets them, and prepull loads them with --load --pull never
// (timed; the proxy must see no request). Same engine, same run, so the two times compare.
import { mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ProcessResult } from "./processes.js";
import { median } from "./metrics.js";

export interface ArchiveRun {
  readonly rep: number;
  readonly pullSeconds: number;
  readonly saveSeconds: number;
  readonly loadSeconds: number;
  readonly archiveBytes: number;
  /** Exit codes of the three runs. */
  readonly codes: readonly [number | null, number | null, number | null];
  readonly presentAfterLoad: number;
  /** Requests the fault proxy saw during the --load run (should be 0). */
  readonly registryRequestsDuringLoad: number;
}

export interface ArchiveBenchDeps {
  readonly images: number;
  /** Pushes a fresh batch and returns its references. */
  readonly pushBatch: (prefix: string) => Promise<string[]>;
  /** Runs the built prepull CLI with these arguments against the bench engine. */
  readonly prepull: (args: readonly string[]) => Promise<ProcessResult>;
  readonly removeImages: (references: readonly string[]) => Promise<void>;
  readonly countPresent: (references: readonly string[]) => Promise<number>;
  readonly proxyRequests: () => number;
  readonly clearProxyLog: () => void;
  readonly say: (line: string) => void;
}

export async function archiveBench(deps: ArchiveBenchDeps, reps: number): Promise<ArchiveRun[]> {
  deps.say(`\n== archives: ${deps.images} images pulled from the local registry vs loaded with --load, ${reps} run(s)`);
  const runs: ArchiveRun[] = [];
  for (let rep = 0; rep < reps; rep++) {
    const references = await deps.pushBatch(`arch${rep}`);
    const dir = await mkdtemp(join(tmpdir(), "prepull-bench-archives-"));
    try {
      const pull = await deps.prepull([...references, "--pull", "always"]);
      const save = await deps.prepull([...references, "--save", dir]);
      const archiveBytes = await directoryBytes(dir);
      await deps.removeImages(references);
      deps.clearProxyLog();
      const load = await deps.prepull([...references, "--load", dir, "--pull", "never"]);
      const run: ArchiveRun = {
        rep,
        pullSeconds: pull.wallMs / 1000,
        saveSeconds: save.wallMs / 1000,
        loadSeconds: load.wallMs / 1000,
        archiveBytes,
        codes: [pull.code, save.code, load.code],
        presentAfterLoad: await deps.countPresent(references),
        registryRequestsDuringLoad: deps.proxyRequests(),
      };
      runs.push(run);
      deps.say(
        `  rep ${rep + 1} pull ${run.pullSeconds.toFixed(2)} s  save ${run.saveSeconds.toFixed(2)} s  load ${run.loadSeconds.toFixed(2)} s  exits ${run.codes.join("/")}  present ${run.presentAfterLoad}/${deps.images}  registry requests during load ${run.registryRequestsDuringLoad}`,
      );
      await deps.removeImages(references);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
  return runs;
}

async function directoryBytes(dir: string): Promise<number> {
  let total = 0;
  for (const name of await readdir(dir)) total += (await stat(join(dir, name))).size;
  return total;
}

export function archiveTable(runs: readonly ArchiveRun[], images: number): string {
  const m = (pick: (r: ArchiveRun) => number) => median(runs.map(pick)).toFixed(2);
  const ok = runs.filter((r) => r.codes.every((c) => c === 0) && r.presentAfterLoad === images).length;
  const lines = [
    `**Archives** (${images} images; per run: pull from the local registry, then \`--save\`, then the engine forgets them and \`--load --pull never\` loads them back):`,
    "",
    "| Runs | Runs all OK | Pull median s | Save median s | Load median s | Load / pull | Archive MB (median) | Registry requests during load (max) |",
    "|---:|---:|---:|---:|---:|---:|---:|---:|",
    `| ${runs.length} | ${ok}/${runs.length} | ${m((r) => r.pullSeconds)} | ${m((r) => r.saveSeconds)} | ${m((r) => r.loadSeconds)} | ${(median(runs.map((r) => r.loadSeconds)) / median(runs.map((r) => r.pullSeconds))).toFixed(2)} | ${(median(runs.map((r) => r.archiveBytes)) / 1e6).toFixed(1)} | ${Math.max(0, ...runs.map((r) => r.registryRequestsDuringLoad))} |`,
  ];
  return lines.join("\n");
}
