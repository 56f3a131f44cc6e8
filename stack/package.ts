// prepull as a user gets it: the tarball `npm pack` makes from the built tree, installed into an
// empty project with `npm install --omit=dev`, and the Node binaries of other major versions from
// the npm registry. Used by the package and action tests and by the cold-start benchmark.
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const exec = promisify(execFile);
export const REPO = fileURLToPath(new URL("..", import.meta.url));
/** Bounded: an install that hangs on the network fails the test instead of holding it forever. */
const NPM_TIMEOUT_MS = 180_000;

export interface InstalledPackage {
  /** The empty project the tarball was installed into. */
  readonly dir: string;
  readonly tarball: string;
  /** Paths inside the tarball, as `npm pack` listed them ("dist/index.js", "package.json", ...). */
  readonly files: readonly string[];
  /** node_modules/.bin/prepull: what `npx prepull` and package.json scripts run. */
  readonly bin: string;
  remove(): Promise<void>;
}

/**
 * Packs the repository as it is built now (dist/ must be current: `npm run build`) and installs the
 * tarball into a new temporary project. Lifecycle scripts are skipped when packing, so packing never
 * rebuilds or wipes the dist/ other tests are using; a release runs them (prepack cleans dist/).
 */
export async function packAndInstall(): Promise<InstalledPackage> {
  const dir = await mkdtemp(join(tmpdir(), "prepull-package-"));
  try {
    const { stdout } = await exec("npm", ["pack", "--json", "--ignore-scripts", "--pack-destination", dir], {
      cwd: REPO,
      timeout: NPM_TIMEOUT_MS,
      maxBuffer: 16 * 1024 * 1024,
    });
    const [packed] = JSON.parse(stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
    if (!packed) throw new Error(`npm pack listed no tarball: ${stdout.slice(0, 500)}`);
    const tarball = join(dir, packed.filename);
    const project = join(dir, "consumer");
    await mkdir(project);
    await writeFile(join(project, "package.json"), `${JSON.stringify({ name: "consumer", version: "1.0.0", private: true }, null, 2)}\n`);
    await exec("npm", ["install", "--omit=dev", "--no-audit", "--no-fund", "--prefer-offline", tarball], {
      cwd: project,
      timeout: NPM_TIMEOUT_MS,
      maxBuffer: 16 * 1024 * 1024,
    });
    return {
      dir: project,
      tarball,
      files: packed.files.map((f) => f.path),
      bin: join(project, "node_modules", ".bin", "prepull"),
      remove: () => rm(dir, { recursive: true, force: true }),
    };
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

/** Runs a program to its end and gives its exit code and output, whatever the code (bounded: 2 minutes, 8 MiB). */
export async function runToEnd(
  file: string,
  args: readonly string[],
  options: { cwd: string; env: Record<string, string> },
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(file, [...args], { ...options, timeout: 120_000, maxBuffer: 8 * 1024 * 1024 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number | string; stdout?: string; stderr?: string };
    if (typeof e.code !== "number") throw error;
    return { code: e.code, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

/**
 * A Node binary of the given major version: this process's own when it is that version, else
 * NODE<major> from the environment, else the one scripts/node-versions.sh caches from the npm
 * registry (offline once cached).
 */
export async function nodeBinary(major: number): Promise<string> {
  if (Number(process.versions.node.split(".")[0]) === major) return process.execPath;
  const fromEnv = process.env[`NODE${major}`];
  if (fromEnv) return fromEnv;
  const { stdout } = await exec("bash", [join(REPO, "scripts", "node-versions.sh"), String(major)], { timeout: NPM_TIMEOUT_MS });
  return stdout.trim();
}
