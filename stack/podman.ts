// An isolated podman serving the Docker-compatible API (`podman system service`), per test run: its
// own storage (vfs: no overlay mounts to clean up), run dir, socket and configuration, all in one
// temp dir under /tmp/pp-XXXXXX. The machine's /etc/containers files never leak in: every config
// podman reads is pointed at a file written here through its environment variables.
import { spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { findBinary, markOwned, recordPid, sweepStaleDirs, terminate, trackChild } from "./util.js";
import { engineWhenReady, type Dockerd } from "./dockerd.js";

/** What a started podman offers: the same surface as the harness's dockerd. */
export type Podman = Dockerd;

export interface StartPodmanOptions {
  /** How long to wait for GET /_ping to answer. Default 30 000 ms. */
  readonly readyTimeoutMs?: number;
}

const PODMAN_INSTALL_HINT = "apt-get install -y podman";

/**
 * registries.conf: the loopback registries are plain HTTP. containers/image matches a location as a
 * prefix followed by ':' '/' or '@', so "127.0.0.1" covers every 127.0.0.1:<port> the harness
 * opens. No search registries: a short name must never reach the internet.
 */
const REGISTRIES_CONF = `unqualified-search-registries = []
short-name-mode = "disabled"

[[registry]]
location = "127.0.0.1"
insecure = true
`;

// No journald/file event log (nothing to write outside the temp dir), cgroupfs (no systemd here).
const CONTAINERS_CONF = `[engine]
events_logger = "none"
cgroup_manager = "cgroupfs"
`;

/** Starts podman 4.x's API service in a fresh temp dir; resolves once GET /_ping answers. */
export async function startPodman(options: StartPodmanOptions = {}): Promise<Podman> {
  const binary = findBinary("podman", ["/usr/bin/podman"], PODMAN_INSTALL_HINT);
  await sweepStaleDirs(async () => undefined);
  const dir = await mkdtemp("/tmp/pp-");
  await markOwned(dir);
  const socketPath = join(dir, "podman.sock");
  const logFile = join(dir, "podman.log");
  const root = join(dir, "root");
  const runroot = join(dir, "run");
  const tmp = join(dir, "tmp");
  await mkdir(tmp);
  await writeFile(join(dir, "registries.conf"), REGISTRIES_CONF);
  await writeFile(join(dir, "containers.conf"), CONTAINERS_CONF);
  // podman refuses to start without a runroot in storage.conf even when --runroot is given.
  await writeFile(join(dir, "storage.conf"), `[storage]\ndriver = "vfs"\nrunroot = "${runroot}"\ngraphroot = "${root}"\n`);
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin",
    HOME: dir,
    XDG_RUNTIME_DIR: runroot,
    XDG_CONFIG_HOME: join(dir, "config"),
    TMPDIR: tmp,
    CONTAINERS_REGISTRIES_CONF: join(dir, "registries.conf"),
    CONTAINERS_CONF: join(dir, "containers.conf"),
    CONTAINERS_STORAGE_CONF: join(dir, "storage.conf"),
    // Credentials come only with the request (X-Registry-Auth), never from a file on the machine.
    REGISTRY_AUTH_FILE: join(dir, "auth.json"),
  };
  const args = ["--root", root, "--runroot", runroot, "--storage-driver", "vfs", "--tmpdir", tmp, "system", "service", "--time=0", `unix://${socketPath}`];

  const logFd = openSync(logFile, "a");
  let child;
  try {
    child = spawn(binary, args, { stdio: ["ignore", logFd, logFd], env });
  } finally {
    closeSync(logFd);
  }
  trackChild(child);
  child.on("error", () => undefined);
  await recordPid(dir, "podman", child.pid);

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      await terminate(child, 10_000);
      await rm(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
    })();
    return stopping;
  };

  return engineWhenReady({ child, socketPath, logFile, dir, stop, what: `podman system service (${binary})`, timeoutMs: options.readyTimeoutMs ?? 30_000 });
}
