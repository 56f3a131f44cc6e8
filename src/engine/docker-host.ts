// Where the Docker engine is: DOCKER_HOST, DOCKER_TLS_VERIFY and DOCKER_CERT_PATH, read the way the
// docker CLI reads them. Parsing is pure so every spelling is unit-tested; reading the TLS files is
// the one I/O step and lives in loadTlsMaterial().
import { readFile } from "node:fs/promises";
import { homedir as osHomedir } from "node:os";
import { join } from "node:path";
import { secrets } from "../secrets.js";
import type { Result } from "../types.js";

export const DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock";
const PLAIN_TCP_PORT = 2375;
const TLS_TCP_PORT = 2376;
const SUPPORTED = "use unix:///path/to/docker.sock or tcp://host:port";

/** Paths of the client certificate files; read by loadTlsMaterial(). */
export interface TlsPaths {
  readonly caPath: string;
  readonly certPath: string;
  readonly keyPath: string;
}

export type EngineAddress =
  | { readonly kind: "unix"; readonly socketPath: string; readonly url: string }
  | { readonly kind: "tcp"; readonly host: string; readonly port: number; readonly tls?: TlsPaths; readonly url: string };

/** The PEM contents for an https connection to the daemon. */
export interface TlsMaterial {
  readonly ca: Buffer;
  readonly cert: Buffer;
  readonly key: Buffer;
}

/**
 * Reads DOCKER_HOST (unset or empty → the default socket). `homedir` is only used for the
 * default DOCKER_CERT_PATH (~/.docker) and is a parameter so tests stay independent of the machine.
 */
export function parseDockerHost(env: NodeJS.ProcessEnv, homedir: string = osHomedir()): Result<EngineAddress, string> {
  const raw = redactUserinfo(env.DOCKER_HOST?.trim() || DEFAULT_DOCKER_HOST);
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(raw)?.[1]?.toLowerCase();
  if (scheme === "unix") return parseUnix(raw);
  if (scheme === "tcp") return parseTcp(raw, tlsPaths(env, homedir));
  const why = scheme === "ssh" || scheme === "npipe" ? `${scheme}:// engines are not supported` : "it is not a Docker host address";
  return fail(`DOCKER_HOST=${JSON.stringify(raw)} cannot be used: ${why}; ${SUPPORTED}.`);
}

function parseUnix(raw: string): Result<EngineAddress, string> {
  const socketPath = raw.slice("unix://".length);
  if (!socketPath.startsWith("/")) {
    return fail(`DOCKER_HOST=${JSON.stringify(raw)} cannot be used: a unix socket needs an absolute path; ${SUPPORTED}.`);
  }
  return { ok: true, value: { kind: "unix", socketPath, url: `unix://${socketPath}` } };
}

function parseTcp(raw: string, tls: TlsPaths | undefined): Result<EngineAddress, string> {
  let url: URL;
  try {
    // URL() does not know tcp:, but parses host, IPv6 brackets and port the same way for http:.
    url = new URL(`http://${raw.slice("tcp://".length)}`);
  } catch {
    return fail(`DOCKER_HOST=${JSON.stringify(raw)} cannot be used: it is not a valid host:port; ${SUPPORTED}.`);
  }
  if (url.username || url.password || (url.pathname !== "/" && url.pathname !== "") || url.search || url.hash) {
    return fail(`DOCKER_HOST=${JSON.stringify(raw)} cannot be used: only host and port are supported after tcp://; ${SUPPORTED}.`);
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  if (!host) return fail(`DOCKER_HOST=${JSON.stringify(raw)} cannot be used: the host is missing; ${SUPPORTED}.`);
  const port = url.port ? Number(url.port) : tls ? TLS_TCP_PORT : PLAIN_TCP_PORT;
  const shown = host.includes(":") ? `[${host}]` : host;
  const value: EngineAddress = tls
    ? { kind: "tcp", host, port, tls, url: `tcp://${shown}:${port}` }
    : { kind: "tcp", host, port, url: `tcp://${shown}:${port}` };
  return { ok: true, value };
}

/**
 * DOCKER_HOST with the password of a `scheme://user:password@host` replaced by the mask, so no
 * message quotes it; the password (raw and percent-decoded) is registered with the masker too.
 */
export function redactUserinfo(raw: string): string {
  const match = /^([a-z][a-z0-9+.-]*:\/\/)([^/]*)@/i.exec(raw);
  if (!match) return raw;
  const [whole, scheme = "", userinfo = ""] = match;
  const colon = userinfo.indexOf(":");
  if (colon === -1) return raw;
  const password = userinfo.slice(colon + 1);
  if (password !== "") {
    secrets.add(password);
    try {
      secrets.add(decodeURIComponent(password));
    } catch {
      // Not percent-encoded text: the raw form is registered already.
    }
  }
  return `${scheme}${userinfo.slice(0, colon)}:***@${raw.slice(whole.length)}`;
}

/** Like the docker CLI: any non-empty DOCKER_TLS_VERIFY turns verified TLS on. */
function tlsPaths(env: NodeJS.ProcessEnv, homedir: string): TlsPaths | undefined {
  if (!env.DOCKER_TLS_VERIFY) return undefined;
  const dir = env.DOCKER_CERT_PATH || join(homedir, ".docker");
  return { caPath: join(dir, "ca.pem"), certPath: join(dir, "cert.pem"), keyPath: join(dir, "key.pem") };
}

/** Reads the three PEM files; the error names the file and the variables that choose it. */
export async function loadTlsMaterial(paths: TlsPaths): Promise<Result<TlsMaterial, string>> {
  const files: Array<[keyof TlsMaterial, string]> = [
    ["ca", paths.caPath],
    ["cert", paths.certPath],
    ["key", paths.keyPath],
  ];
  const loaded: Partial<Record<keyof TlsMaterial, Buffer>> = {};
  for (const [name, path] of files) {
    try {
      loaded[name] = await readFile(path);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? "read error";
      return fail(
        `cannot read the Docker TLS file ${path} (${code}): DOCKER_TLS_VERIFY is set, so ca.pem, cert.pem and key.pem must be in DOCKER_CERT_PATH (default ~/.docker).`,
      );
    }
  }
  return { ok: true, value: loaded as TlsMaterial };
}

function fail(error: string): { ok: false; error: string } {
  return { ok: false, error };
}
