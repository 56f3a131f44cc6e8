// Scheme and TLS trust as the engine decides them (moby registry/config.go isSecureIndex and
// registry.ReadCertsDirectory): a registry named in the insecure list, or resolving into one of its
// CIDRs (127.0.0.0/8 always), is spoken to over plain HTTP; any other over HTTPS, trusting the
// system CAs plus the *.crt files of <certsDir>/<host[:port]>/, with a client pair *.cert/*.key.
import { lookup as dnsLookup } from "node:dns/promises";
import { readFile, readdir, stat } from "node:fs/promises";
import { BlockList, isIP } from "node:net";
import { join } from "node:path";
import { rootCertificates } from "node:tls";

export const DEFAULT_CERTS_DIR = "/etc/docker/certs.d";
/** The engine treats loopback as insecure whatever its configuration says. */
export const ALWAYS_INSECURE = ["127.0.0.0/8", "::1/128"];

/** Resolves a host name to its addresses; injected in tests. */
export type Lookup = (host: string) => Promise<string[]>;

export const systemLookup: Lookup = async (host) => (await dnsLookup(host, { all: true })).map((a) => a.address);

export interface InsecurePolicy {
  /** True when the engine would use plain HTTP for `host` ("host[:port]"). */
  isInsecure(host: string): Promise<boolean>;
}

/**
 * `entries` mixes CIDRs ("10.0.0.0/8", from the engine's InsecureRegistryCIDRs) and registry
 * names ("myreg:5000", its IndexConfigs with Secure false). Bad entries throw, naming the entry.
 */
export function insecurePolicy(entries: readonly string[], lookup: Lookup = systemLookup, lookupTimeoutMs = 5_000): InsecurePolicy {
  const cidrs = new BlockList();
  const names = new Set<string>();
  for (const entry of [...ALWAYS_INSECURE, ...entries]) {
    const trimmed = entry.trim().toLowerCase();
    const slash = trimmed.indexOf("/");
    if (slash === -1) {
      if (trimmed === "") throw new Error(`insecure registry entry ${JSON.stringify(entry)} is empty`);
      names.add(trimmed);
      continue;
    }
    const address = trimmed.slice(0, slash);
    const prefix = Number(trimmed.slice(slash + 1));
    const family = isIP(address);
    if (family === 0 || !Number.isInteger(prefix) || prefix < 0 || prefix > (family === 4 ? 32 : 128)) {
      throw new Error(`insecure registry entry ${JSON.stringify(entry)} is neither a host[:port] nor a CIDR like 10.0.0.0/8`);
    }
    cidrs.addSubnet(address, prefix, family === 4 ? "ipv4" : "ipv6");
  }
  const inCidrs = (ip: string) => {
    const family = isIP(ip);
    return family !== 0 && cidrs.check(ip, family === 4 ? "ipv4" : "ipv6");
  };
  const cache = new Map<string, Promise<boolean>>();
  return {
    isInsecure(host) {
      const key = host.toLowerCase();
      let answer = cache.get(key);
      if (!answer) {
        answer = decide(key);
        cache.set(key, answer);
      }
      return answer;
    },
  };

  async function decide(host: string): Promise<boolean> {
    if (names.has(host)) return true;
    const name = hostnameOf(host);
    if (names.has(name)) return true;
    if (isIP(name) !== 0) return inCidrs(name);
    // Like the engine: a name that does not resolve is treated as secure.
    const addresses = await withTimeout(lookup(name), lookupTimeoutMs).catch(() => [] as string[]);
    return addresses.some(inCidrs);
  }
}

/** "host:5000" → "host"; "[::1]:5000" → "::1". */
export function hostnameOf(host: string): string {
  if (host.startsWith("[")) return host.slice(1, host.indexOf("]"));
  const colons = host.split(":").length - 1;
  return colons === 1 ? (host.split(":")[0] ?? host) : host;
}

export interface TlsMaterial {
  /** System CAs plus the registry's own; undefined when the directory adds none (Node's defaults). */
  readonly ca?: string[];
  readonly cert?: string;
  readonly key?: string;
}

const CERT_FILE_MAX_BYTES = 1024 * 1024;

/** The TLS material for `host` from `<certsDir>/<host>/`; a missing directory means the defaults. */
export async function tlsMaterialFor(certsDir: string, host: string): Promise<TlsMaterial> {
  const dir = join(certsDir, host);
  let files: string[];
  try {
    files = (await readdir(dir)).sort();
  } catch {
    return {};
  }
  const read = async (name: string): Promise<string> => {
    const path = join(dir, name);
    const info = await stat(path);
    if (info.size > CERT_FILE_MAX_BYTES) throw new Error(`${path} is larger than 1 MiB; it is not a certificate`);
    return readFile(path, "utf8");
  };
  const cas = await Promise.all(files.filter((f) => f.endsWith(".crt")).map(read));
  const certName = files.find((f) => f.endsWith(".cert"));
  const keyName = certName ? `${certName.slice(0, -".cert".length)}.key` : undefined;
  if (certName && keyName && !files.includes(keyName)) {
    throw new Error(`${join(dir, certName)} has no matching ${keyName}: the engine would refuse this directory too`);
  }
  return {
    ...(cas.length > 0 ? { ca: [...rootCertificates, ...cas] } : {}),
    ...(certName && keyName ? { cert: await read(certName), key: await read(keyName) } : {}),
  };
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error("timeout")), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
