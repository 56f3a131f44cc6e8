// An isolated Docker engine per test run: its own data root, exec root, socket and log, all in one
// temp dir under /tmp/pp-XXXXXX (short, so the unix socket path stays far below 108 bytes).
import { execFile, spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { request } from "node:http";
import { join } from "node:path";
import { findBinary, markOwned, pollUntil, sweepStaleDirs, tailFile, terminate, trackChild } from "./util.js";

export interface Dockerd {
  /** Path of the engine's unix socket. */
  readonly socketPath: string;
  /** "unix://" + socketPath, for DOCKER_HOST. */
  readonly dockerHost: string;
  /** The daemon's stdout+stderr (removed with the temp dir by stop()). */
  readonly logFile: string;
  /** The temp dir holding everything of this engine. */
  readonly dir: string;
  readonly pid: number;
  /** Last lines of the daemon log, for failure messages. */
  logTail(lines?: number): Promise<string>;
  /** SIGTERM, SIGKILL after ~10 s, unmount leftovers, remove the temp dir. Idempotent. */
  stop(): Promise<void>;
}

export interface StartDockerdOptions {
  /** dockerd --max-concurrent-downloads (daemon default 3). */
  readonly maxConcurrentDownloads?: number;
  /** dockerd --max-download-attempts (daemon default 5). */
  readonly maxDownloadAttempts?: number;
  /** How long to wait for GET /_ping to answer. Default 30 000 ms. */
  readonly readyTimeoutMs?: number;
  /** More dockerd arguments, appended as given. */
  readonly extraArgs?: readonly string[];
}

/** Starts dockerd 20.10+ in a fresh temp dir and resolves once GET /_ping answers on its socket. */
export async function startDockerd(options: StartDockerdOptions = {}): Promise<Dockerd> {
  const binary = findBinary("dockerd", ["/usr/sbin/dockerd", "/usr/bin/dockerd"]);
  await sweepStaleDirs(unmountUnder);
  const dir = await mkdtemp("/tmp/pp-");
  await markOwned(dir);
  const socketPath = join(dir, "docker.sock");
  const logFile = join(dir, "dockerd.log");
  const configFile = join(dir, "daemon.json");
  // An empty config file, so /etc/docker/daemon.json of the machine never leaks into the tests.
  await writeFile(configFile, "{}\n");
  const args = [
    "--config-file",
    configFile,
    "--data-root",
    join(dir, "data"),
    "--exec-root",
    join(dir, "exec"),
    "--pidfile",
    join(dir, "dockerd.pid"),
    "-H",
    `unix://${socketPath}`,
    "--iptables=false",
    "--ip-masq=false",
    "--bridge=none",
  ];
  if (options.maxConcurrentDownloads !== undefined) args.push(`--max-concurrent-downloads=${options.maxConcurrentDownloads}`);
  if (options.maxDownloadAttempts !== undefined) args.push(`--max-download-attempts=${options.maxDownloadAttempts}`);
  args.push(...(options.extraArgs ?? []));

  const logFd = openSync(logFile, "a");
  let child;
  try {
    child = spawn(binary, args, { stdio: ["ignore", logFd, logFd] });
  } finally {
    closeSync(logFd);
  }
  trackChild(child);
  // A spawn failure (e.g. EACCES) is reported as an exit by pollUntil; keep it from being unhandled.
  child.on("error", () => undefined);

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      await terminate(child, 10_000);
      await unmountUnder(dir);
      await rm(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
    })();
    return stopping;
  };

  return engineWhenReady({ child, socketPath, logFile, dir, stop, what: `dockerd (${binary})`, timeoutMs: options.readyTimeoutMs ?? 30_000 });
}

/**
 * Waits until the engine on socketPath answers, then describes it; an engine that never does is
 * stopped (its log tail read into the error first) and the error thrown. dockerd and podman alike.
 */
export async function engineWhenReady(e: {
  child: Parameters<typeof pollUntil>[1]["child"];
  socketPath: string;
  logFile: string;
  dir: string;
  stop: () => Promise<void>;
  what: string;
  timeoutMs: number;
}): Promise<Dockerd> {
  const { child, socketPath, logFile, dir, stop } = e;
  try {
    await pollUntil(() => ping(socketPath), {
      child,
      timeoutMs: e.timeoutMs,
      what: e.what,
      describe: async () => `--- last lines of ${logFile} ---\n${await tailFile(logFile, 30)}`,
    });
  } catch (error) {
    // Read the log tail into the error before the dir goes away.
    await stop().catch(() => undefined);
    throw error;
  }
  return {
    socketPath,
    dockerHost: `unix://${socketPath}`,
    logFile,
    dir,
    pid: child.pid ?? -1,
    logTail: (lines = 30) => tailFile(logFile, lines),
    stop,
  };
}

/** True once the engine on socketPath answers GET /_ping with 200 (dockerd and podman alike). */
export function ping(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ socketPath, path: "/_ping", method: "GET", timeout: 2_000 }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode === 200));
      res.on("error", () => resolve(false));
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(false));
    req.end();
  });
}

/** Lazily unmounts whatever the daemon left mounted under dir (deepest first). */
async function unmountUnder(dir: string): Promise<void> {
  let mountinfo: string;
  try {
    mountinfo = await readFile("/proc/self/mountinfo", "utf8");
  } catch {
    return;
  }
  const mountPoints = mountinfo
    .split("\n")
    .map((line) => line.split(" ")[4])
    .filter((p): p is string => p !== undefined)
    .map((p) => p.replace(/\\([0-7]{3})/g, (_m, octal: string) => String.fromCharCode(parseInt(octal, 8))))
    .filter((p) => p === dir || p.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const mountPoint of mountPoints) {
    await new Promise<void>((resolve) => {
      execFile("umount", ["-l", mountPoint], () => resolve());
    });
  }
}
