// Small helpers shared by the harness modules: finding binaries, free ports, log tails, polling.
import { accessSync, constants } from "node:fs";
import { open, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { delimiter, join } from "node:path";
import type { ChildProcess } from "node:child_process";

/** The one line CI runs to get the whole stack. */
export const STACK_INSTALL_HINT = "apt-get install -y docker.io docker-registry";

/**
 * Absolute path of an executable: the preferred absolute paths first, then $PATH, then the sbin
 * directories (a root shell may not have them on $PATH). Throws an Error that says what to install.
 */
export function findBinary(name: string, preferred: readonly string[], installHint: string = STACK_INSTALL_HINT): string {
  const dirs = (process.env.PATH ?? "").split(delimiter).filter((d) => d !== "");
  const candidates = [...preferred, ...dirs.map((d) => join(d, name)), ...["/usr/local/sbin", "/usr/sbin", "/sbin"].map((d) => join(d, name))];
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // try the next one
    }
  }
  throw new Error(`${name} not found: install it with \`${installHint}\``);
}

/** A TCP port on 127.0.0.1 that was free a moment ago (the caller retries if it races). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error("could not allocate a port"))));
    });
  });
}

/** The last `lines` lines of a log file ("" if it cannot be read). Reads at most the last 64 KiB. */
export async function tailFile(file: string, lines = 30): Promise<string> {
  try {
    const handle = await open(file, "r");
    try {
      const { size } = await handle.stat();
      const length = Math.min(size, 64 * 1024);
      const buffer = Buffer.alloc(length);
      await handle.read(buffer, 0, length, size - length);
      return buffer
        .toString("utf8")
        .split("\n")
        .slice(-lines - 1)
        .join("\n")
        .trimEnd();
    } finally {
      await handle.close();
    }
  } catch {
    return "";
  }
}

/** Whole file, or "" if it cannot be read. */
export async function readText(file: string): Promise<string> {
  try {
    return await readFile(file, "utf8");
  } catch {
    return "";
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Resolves with the exit code (or signal) once the child has exited; immediately if it already has. */
export function waitExit(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once("exit", () => resolve()));
}

/** Waits for the child to exit for at most ms; true if it did. */
export async function waitExitFor(child: ChildProcess, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  const exited = waitExit(child).then(() => true as const);
  try {
    return await Promise.race([exited, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** SIGTERM, wait up to graceMs, then SIGKILL and wait for the exit. Safe to call on an exited child. */
export async function terminate(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  try {
    child.kill("SIGTERM");
  } catch {
    // already gone
  }
  if (await waitExitFor(child, graceMs)) return;
  try {
    child.kill("SIGKILL");
  } catch {
    // already gone
  }
  await waitExitFor(child, 5_000);
}

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/**
 * Polls `probe` every intervalMs until it returns true. Throws if the child exits first or the
 * timeout passes; `describe` gives the error message its context (e.g. the log tail).
 */
export async function pollUntil(
  probe: () => Promise<boolean>,
  options: { child: ChildProcess; timeoutMs: number; intervalMs?: number; what: string; describe: () => Promise<string> },
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  const interval = options.intervalMs ?? 100;
  while (true) {
    if (exited(options.child)) {
      const how = options.child.exitCode !== null ? `exit code ${options.child.exitCode}` : `signal ${options.child.signalCode}`;
      throw new Error(`${options.what} exited during startup (${how})\n${await options.describe()}`);
    }
    if (await probe().catch(() => false)) return;
    if (Date.now() >= deadline) {
      throw new Error(`${options.what} did not become ready within ${options.timeoutMs} ms\n${await options.describe()}`);
    }
    await sleep(interval);
  }
}

// Children still running when the test process exits (or is told to by SIGINT/SIGTERM/SIGHUP)
// get a SIGTERM, so a crashed or killed test run never leaves a dockerd or registry behind; they
// shut down on their own. (The temp dirs of such a run stay in /tmp/pp-*.)
const liveChildren = new Set<ChildProcess>();
let exitHookInstalled = false;

function terminateAll(): void {
  for (const child of liveChildren) {
    try {
      child.kill("SIGTERM");
    } catch {
      // ignore
    }
  }
}

export function trackChild(child: ChildProcess): void {
  liveChildren.add(child);
  child.once("exit", () => liveChildren.delete(child));
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once("exit", terminateAll);
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.once(signal, () => {
      terminateAll();
      // Keep the default behaviour (die by the signal) unless someone else handles it.
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    });
  }
}

// --- temp dirs ---------------------------------------------------------------------------------

const TEMP_PARENT = "/tmp";
const TEMP_PREFIX = /^pp-(reg-)?[A-Za-z0-9]{6}$/;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Marks a harness temp dir as owned by this process (see sweepStaleDirs). */
export async function markOwned(dir: string): Promise<void> {
  await writeFile(`${dir}/owner.pid`, `${process.pid}\n`);
}

/** Records the pid of a child living in a harness temp dir (see sweepStaleDirs). */
export async function recordPid(dir: string, name: string, pid: number | undefined): Promise<void> {
  if (pid !== undefined) await writeFile(`${dir}/${name}.pid`, `${pid}\n`).catch(() => undefined);
}

/**
 * Removes /tmp/pp-* dirs left by killed test runs: only dirs whose owner.pid and every other *.pid
 * file name processes that are gone (so another run's live stack is never touched). Best effort.
 */
export async function sweepStaleDirs(unmount: (dir: string) => Promise<void>): Promise<void> {
  let names: string[];
  try {
    names = (await readdir(TEMP_PARENT)).filter((n) => TEMP_PREFIX.test(n));
  } catch {
    return;
  }
  for (const name of names) {
    const dir = `${TEMP_PARENT}/${name}`;
    try {
      const files = (await readdir(dir)).filter((f) => f.endsWith(".pid"));
      if (!files.includes("owner.pid")) continue;
      const pids = await Promise.all(files.map(async (f) => Number((await readFile(`${dir}/${f}`, "utf8")).trim())));
      if (pids.some((pid) => !Number.isInteger(pid) || pid <= 0 || alive(pid))) continue;
      await unmount(dir);
      await rm(dir, { recursive: true, force: true, maxRetries: 3, retryDelay: 100 });
    } catch {
      // raced with its owner or unreadable: leave it
    }
  }
}
