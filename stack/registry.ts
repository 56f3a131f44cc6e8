// A real CNCF registry (docker-registry 2.8, Debian's package) on 127.0.0.1:<free port>, with
// filesystem storage in a temp dir and, optionally, htpasswd (bcrypt) basic auth.
import { execFile, spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { request } from "node:http";
import { join } from "node:path";
import { stringify } from "yaml";
import { findBinary, freePort, markOwned, pollUntil, recordPid, tailFile, terminate, trackChild } from "./util.js";

export interface Credentials {
  readonly user: string;
  readonly password: string;
}

export interface Registry {
  /** "127.0.0.1:PORT" */
  readonly host: string;
  readonly port: number;
  /** "http://127.0.0.1:PORT" */
  readonly url: string;
  readonly logFile: string;
  readonly dir: string;
  /** The credentials the registry demands, when started with htpasswd. */
  readonly auth?: Credentials;
  logTail(lines?: number): Promise<string>;
  /** SIGTERM (SIGKILL after ~5 s) and remove the temp dir. Idempotent. */
  stop(): Promise<void>;
}

export interface StartRegistryOptions {
  /** Protect the registry with htpasswd basic auth for this one user. */
  readonly htpasswd?: Credentials;
  /** Protect the registry with token auth (`auth: token`): clients get JWTs from this realm. */
  readonly token?: { readonly realm: string; readonly service: string; readonly issuer: string; readonly rootCertBundle: string };
  /**
   * Run as a pull-through cache (distribution's `proxy.remoteurl`): manifests by digest and blobs
   * are served from its store once fetched; tags are asked upstream first, the cached tag used
   * when upstream fails.
   */
  readonly proxyRemoteUrl?: string;
  /** How long to wait for GET /v2/ to answer. Default 15 000 ms. */
  readonly readyTimeoutMs?: number;
}

const HTPASSWD_HINT = "apt-get install -y apache2-utils";

/** Starts a registry and resolves once GET /v2/ answers (200, or 401 with htpasswd or token auth). */
export async function startRegistry(options: StartRegistryOptions = {}): Promise<Registry> {
  const binary = findBinary("docker-registry", ["/usr/bin/docker-registry"]);
  const htpasswdBinary = options.htpasswd ? findBinary("htpasswd", ["/usr/bin/htpasswd"], HTPASSWD_HINT) : undefined;
  const dir = await mkdtemp("/tmp/pp-reg-");
  try {
    await markOwned(dir);
    let htpasswdFile: string | undefined;
    if (options.htpasswd && htpasswdBinary) {
      htpasswdFile = join(dir, "htpasswd");
      await writeFile(htpasswdFile, await bcryptLine(htpasswdBinary, options.htpasswd));
    }
    // The port can be taken between freePort() and the registry's listen(): try a few.
    let lastError: unknown;
    for (let attempt = 0; attempt < 4; attempt++) {
      try {
        return await launch(binary, dir, attempt, htpasswdFile, options);
      } catch (error) {
        lastError = error;
        if (!(error instanceof Error && /address already in use/.test(error.message))) break;
      }
    }
    throw lastError;
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

async function launch(binary: string, dir: string, attempt: number, htpasswdFile: string | undefined, options: StartRegistryOptions): Promise<Registry> {
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const configFile = join(dir, `config-${attempt}.yml`);
  const logFile = join(dir, `registry-${attempt}.log`);
  const config: Record<string, unknown> = {
    version: 0.1,
    log: { level: "info", formatter: "text", accesslog: { disabled: false } },
    storage: {
      filesystem: { rootdirectory: join(dir, "data") },
      delete: { enabled: false },
      cache: { blobdescriptor: "inmemory" },
      maintenance: { uploadpurging: { enabled: false } },
    },
    http: { addr: host, secret: `prepull-test-${process.pid}-${port}`, headers: { "X-Content-Type-Options": ["nosniff"] } },
  };
  if (htpasswdFile) config.auth = { htpasswd: { realm: "prepull-test", path: htpasswdFile } };
  if (options.proxyRemoteUrl) config.proxy = { remoteurl: options.proxyRemoteUrl };
  if (options.token) {
    const { realm, service, issuer, rootCertBundle } = options.token;
    config.auth = { token: { realm, service, issuer, rootcertbundle: rootCertBundle } };
  }
  await writeFile(configFile, stringify(config));

  const logFd = openSync(logFile, "a");
  let child;
  try {
    child = spawn(binary, ["serve", configFile], { stdio: ["ignore", logFd, logFd] });
  } finally {
    closeSync(logFd);
  }
  trackChild(child);
  child.on("error", () => undefined);
  await recordPid(dir, `registry-${attempt}`, child.pid);

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      await terminate(child, 5_000);
      await rm(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
    })();
    return stopping;
  };

  try {
    await pollUntil(() => v2Answers(port, htpasswdFile !== undefined || options.token !== undefined), {
      child,
      timeoutMs: options.readyTimeoutMs ?? 15_000,
      what: `docker-registry (${binary}) on ${host}`,
      describe: async () => `--- last lines of ${logFile} ---\n${await tailFile(logFile, 20)}`,
    });
  } catch (error) {
    await terminate(child, 5_000);
    throw error;
  }

  return {
    host,
    port,
    url: `http://${host}`,
    logFile,
    dir,
    ...(options.htpasswd ? { auth: { user: options.htpasswd.user, password: options.htpasswd.password } } : {}),
    logTail: (lines = 30) => tailFile(logFile, lines),
    stop,
  };
}

function v2Answers(port: number, withAuth: boolean): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ host: "127.0.0.1", port, path: "/v2/", method: "GET", timeout: 2_000 }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode === 200 || (withAuth && res.statusCode === 401)));
      res.on("error", () => resolve(false));
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(false));
    req.end();
  });
}

/**
 * "user:$2y$05$..." from `htpasswd -nBi user` (apache2-utils), the password on stdin so it never
 * shows in a process list. The registry's htpasswd auth accepts only bcrypt.
 */
function bcryptLine(htpasswd: string, credentials: Credentials): Promise<string> {
  if (credentials.user.includes(":")) throw new Error(`htpasswd user may not contain ":": ${credentials.user}`);
  return new Promise((resolve, reject) => {
    const child = execFile(htpasswd, ["-nBi", credentials.user], (error, stdout, stderr) => {
      if (error) {
        reject(new Error(`htpasswd failed: ${error.message} ${stderr}`));
        return;
      }
      const line = stdout.split("\n").find((l) => l.startsWith(`${credentials.user}:$2`));
      if (!line) reject(new Error(`htpasswd printed no bcrypt line: ${JSON.stringify(stdout)}`));
      else resolve(`${line.trim()}\n`);
    });
    child.stdin?.end(`${credentials.password}\n`);
  });
}
