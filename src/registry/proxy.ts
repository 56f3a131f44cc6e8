// Which proxy a request goes through, by Go's net/http/httpproxy rules (what the engine and the
// docker CLI use): HTTPS_PROXY for https URLs, HTTP_PROXY for http, upper case first; NO_PROXY is a
// comma list of hosts, ".domain"/"domain" suffixes, IPs, CIDRs, each optionally with a port, or "*".
// Loopback is never proxied.
import { BlockList, isIP } from "node:net";
import { hostnameOf } from "./trust.js";

export type ProxyResolver = (url: URL) => URL | undefined;

export function envProxyResolver(env: NodeJS.ProcessEnv): ProxyResolver {
  const httpsProxy = parseProxy(env.HTTPS_PROXY ?? env.https_proxy, "HTTPS_PROXY");
  const httpProxy = parseProxy(env.HTTP_PROXY ?? env.http_proxy, "HTTP_PROXY");
  const bypass = noProxyMatcher(env.NO_PROXY ?? env.no_proxy ?? "");
  return (url) => {
    const proxy = url.protocol === "https:" ? httpsProxy : httpProxy;
    if (!proxy) return undefined;
    const host = hostnameOf(url.host).toLowerCase();
    if (host === "localhost" || isLoopback(host)) return undefined;
    return bypass(host, url.port || (url.protocol === "https:" ? "443" : "80")) ? undefined : proxy;
  };
}

/** Like Go: a proxy value without a scheme means http://. Only http:// proxies are supported. */
function parseProxy(value: string | undefined, name: string): URL | undefined {
  if (value === undefined || value.trim() === "") return undefined;
  const text = /^[a-z][a-z0-9+.-]*:\/\//i.test(value.trim()) ? value.trim() : `http://${value.trim()}`;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error(`${name} is not a URL (expected e.g. http://proxy.example:3128)`);
  }
  if (url.protocol !== "http:") throw new Error(`${name} uses ${url.protocol}//; prepull's registry client supports http:// proxies only`);
  return url;
}

export function noProxyMatcher(list: string): (host: string, port: string) => boolean {
  const cidrs = new BlockList();
  const exact: Array<{ host: string; port?: string }> = [];
  const suffixes: Array<{ suffix: string; port?: string; alsoExact: boolean }> = [];
  let all = false;
  for (const raw of list.split(",")) {
    const entry = raw.trim().toLowerCase();
    if (entry === "") continue;
    if (entry === "*") {
      all = true;
      continue;
    }
    if (entry.includes("/")) {
      const [address = "", prefix = ""] = entry.split("/");
      const family = isIP(address);
      if (family !== 0 && /^\d+$/.test(prefix)) cidrs.addSubnet(address, Number(prefix), family === 4 ? "ipv4" : "ipv6");
      continue;
    }
    const portMatch = /^(.*?)(?::(\d+))?$/.exec(entry.startsWith("[") ? entry.replace(/^\[(.*)\]/, "$1") : entry);
    const host = isIP(entry) === 6 ? entry : (portMatch?.[1] ?? entry);
    const port = isIP(entry) === 6 ? undefined : portMatch?.[2];
    if (isIP(host) !== 0) exact.push({ host, ...(port ? { port } : {}) });
    else if (host.startsWith("*.")) suffixes.push({ suffix: host.slice(1), ...(port ? { port } : {}), alsoExact: false });
    else if (host.startsWith(".")) suffixes.push({ suffix: host, ...(port ? { port } : {}), alsoExact: false });
    else suffixes.push({ suffix: `.${host}`, ...(port ? { port } : {}), alsoExact: true });
  }
  return (host, port) => {
    if (all) return true;
    const family = isIP(host);
    if (family !== 0) {
      if (cidrs.check(host, family === 4 ? "ipv4" : "ipv6")) return true;
      return exact.some((e) => e.host === host && (e.port === undefined || e.port === port));
    }
    return suffixes.some((s) => (s.port === undefined || s.port === port) && (host.endsWith(s.suffix) || (s.alsoExact && host === s.suffix.slice(1))));
  };
}

function isLoopback(host: string): boolean {
  if (isIP(host) === 4) return host.startsWith("127.");
  return host === "::1";
}
