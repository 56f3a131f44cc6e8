// Runs one puller as a separate process, asynchronously (the fault proxy lives on this event loop
// and must keep answering while anything pulls), in its own process group so a timeout or Ctrl-C
// can end it together with everything it started (a bash baseline's subshells and docker CLIs).
import { spawn, type ChildProcess } from "node:child_process";
import { performance } from "node:perf_hooks";

export interface ProcessResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** performance.now() at spawn and at exit (stdio may close a little later). */
  readonly startedAt: number;
  readonly endedAt: number;
  readonly wallMs: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly timedOut: boolean;
}

export interface ProcessOptions {
  readonly env: Record<string, string>;
  readonly stdin?: string;
  readonly timeoutMs: number;
  /** Called right before the spawn (e.g. to add the scenario's fault rules). */
  readonly beforeSpawn?: () => void;
}

/** Processes started by runProcess and still running: stopAllProcesses() ends their groups. */
const running = new Set<ChildProcess>();

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // the group is gone already
  }
}

let stopped = false;

/** Kills every running puller's process group; later runProcess() calls reject. */
export function stopAllProcesses(): void {
  stopped = true;
  endRunningProcesses();
}

/** Kills every running puller's process group, and later runProcess() calls still run (between engines). */
export function endRunningProcesses(): void {
  for (const child of running) killGroup(child, "SIGKILL");
}

export function runProcess(command: string, args: readonly string[], options: ProcessOptions): Promise<ProcessResult> {
  return new Promise((resolve, reject) => {
    if (stopped) {
      reject(new Error("interrupted"));
      return;
    }
    options.beforeSpawn?.();
    const startedAt = performance.now();
    const child = spawn(command, args, { env: options.env, stdio: ["pipe", "pipe", "pipe"], detached: true });
    running.add(child);
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    let exitedAt: number | undefined;
    child.on("exit", () => (exitedAt ??= performance.now()));
    child.stdout?.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr?.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child, "SIGKILL");
    }, options.timeoutMs);
    child.on("error", (error) => {
      clearTimeout(timer);
      running.delete(child);
      reject(error);
    });
    child.on("close", (code, signal) => {
      const endedAt = exitedAt ?? performance.now();
      clearTimeout(timer);
      running.delete(child);
      // Whatever the puller left running in its group (there should be nothing) goes too.
      killGroup(child, "SIGKILL");
      if (stopped) {
        reject(new Error("interrupted"));
        return;
      }
      resolve({ code, signal, startedAt, endedAt, wallMs: endedAt - startedAt, stdout, stderr, timedOut });
    });
    child.stdin?.on("error", () => undefined);
    child.stdin?.end(options.stdin ?? "");
  });
}
