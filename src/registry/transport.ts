// One HTTP exchange with a registry or its token realm over node:http/https: a timeout on the
// whole exchange, a bounded body, redirects (Authorization dropped when the origin changes), the
// environment's proxy (CONNECT tunnel for https, absolute-form for http) and per-host TLS trust.
// Expected failures come back as values; only the caller's own abort rejects.
import { Agent as HttpAgent, request as httpRequest } from "node:http";
import type { ClientRequest, IncomingHttpHeaders, IncomingMessage, RequestOptions } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import type { Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import type { ProxyResolver } from "./proxy.js";
import { redactText, redactUrl } from "./redact.js";
import type { TlsMaterial } from "./trust.js";

export interface HttpRequest {
  readonly method: "GET" | "HEAD" | "POST";
  readonly url: URL;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string;
  /** Body bytes kept at most; the rest is not read and `truncated` is set. */
  readonly maxBodyBytes: number;
}

export interface HttpResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  readonly truncated: boolean;
  /** The URL that answered, after redirects. */
  readonly url: URL;
}

/** `cause` is safe to show: URLs redacted, no header values. */
export type HttpOutcome = { readonly ok: true; readonly response: HttpResponse } | { readonly ok: false; readonly cause: string };

export interface Transport {
  send(request: HttpRequest, signal?: AbortSignal): Promise<HttpOutcome>;
  /** Closes pooled connections. */
  close(): void;
}

export interface TransportOptions {
  /** Whole exchange, redirects included. */
  readonly timeoutMs: number;
  readonly proxyFor: ProxyResolver;
  readonly tlsFor: (host: string) => Promise<TlsMaterial>;
  readonly userAgent: string;
  readonly maxRedirects?: number;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

export function createTransport(options: TransportOptions): Transport {
  const httpAgent = new HttpAgent({ keepAlive: true, maxSockets: 16 });
  const httpsAgents = new Map<string, HttpsAgent>();

  const httpsAgentFor = (host: string, tls: TlsMaterial): HttpsAgent => {
    let agent = httpsAgents.get(host);
    if (!agent) {
      agent = new HttpsAgent({ keepAlive: true, maxSockets: 16, ...tls });
      httpsAgents.set(host, agent);
    }
    return agent;
  };

  const once = async (request: HttpRequest, url: URL, headers: Record<string, string>, signal: AbortSignal): Promise<HttpResponse> => {
    const proxy = options.proxyFor(url);
    const https = url.protocol === "https:";
    const tls = https ? await options.tlsFor(url.host) : {};
    const base: RequestOptions = { method: request.method, headers: { ...headers, Host: url.host }, signal };
    let req: ClientRequest;
    let tunnelled: readonly Socket[] = [];
    if (proxy && https) {
      const socket = await tunnel(proxy, url, signal);
      const secure = tlsConnect({ socket, servername: url.hostname, ...tls });
      tunnelled = [secure, socket];
      // No agent: the socket is ours, serves this one exchange and is closed once the answer is read.
      req = httpsRequest({ ...base, host: url.hostname, port: url.port || 443, path: url.pathname + url.search, createConnection: () => secure });
    } else if (proxy) {
      req = httpRequest({
        ...base,
        host: proxy.hostname,
        port: proxy.port || 80,
        path: url.href,
        headers: { ...base.headers, ...proxyAuthorization(proxy) },
        agent: httpAgent,
      });
    } else if (https) {
      req = httpsRequest({
        ...base,
        host: url.hostname,
        port: url.port || 443,
        path: url.pathname + url.search,
        servername: url.hostname,
        agent: httpsAgentFor(url.host, tls),
      });
    } else {
      req = httpRequest({ ...base, host: url.hostname, port: url.port || 80, path: url.pathname + url.search, agent: httpAgent });
    }
    try {
      const res = await exchange(req, request.body);
      // A HEAD answer has no body, but its socket goes back to the keep-alive pool only once the
      // response is read to its end: unread, 16 HEADs hold every socket until the server times them out.
      if (request.method === "HEAD") res.resume();
      const { body, truncated } = request.method === "HEAD" ? { body: Buffer.alloc(0), truncated: false } : await readBounded(res, request.maxBodyBytes);
      return { status: res.statusCode ?? 0, headers: res.headers, body, truncated, url };
    } finally {
      for (const socket of tunnelled) socket.destroy();
    }
  };

  return {
    async send(request, callerSignal) {
      callerSignal?.throwIfAborted();
      const timeout = AbortSignal.timeout(options.timeoutMs);
      const signal = callerSignal ? AbortSignal.any([callerSignal, timeout]) : timeout;
      let url = request.url;
      let method = request.method;
      let headers: Record<string, string> = { "User-Agent": options.userAgent, ...request.headers };
      try {
        for (let hop = 0; ; hop++) {
          const response = await once({ ...request, method }, url, headers, signal);
          const location = response.headers.location;
          if (!REDIRECTS.has(response.status) || typeof location !== "string" || hop >= (options.maxRedirects ?? 5)) {
            return { ok: true, response };
          }
          const next = new URL(location, url);
          // Credentials for one origin are never replayed to another (blob storage, CDN, ...).
          if (next.origin !== url.origin) headers = withoutAuthorization(headers);
          if (response.status === 303 && method === "POST") method = "GET";
          url = next;
        }
      } catch (error) {
        if (callerSignal?.aborted) throw callerSignal.reason;
        if (timeout.aborted) return { ok: false, cause: `no complete answer from ${redactUrl(url)} within ${options.timeoutMs} ms` };
        return { ok: false, cause: `${request.method} ${redactUrl(url)}: ${describe(error)}` };
      }
    },
    close() {
      httpAgent.destroy();
      for (const agent of httpsAgents.values()) agent.destroy();
      httpsAgents.clear();
    },
  };
}

/**
 * Waits for a promise shared by several callers, giving up (with the caller's reason) when this
 * caller's signal aborts: one caller's abort must not cancel the shared work for the others.
 */
export function untilAborted<T>(shared: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return shared;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    shared.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

function exchange(req: ClientRequest, body: string | undefined): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    req.once("response", resolve);
    req.once("error", reject);
    req.end(body);
  });
}

/** Reads at most `max` bytes, then stops the download: a registry's error page can be anything. */
function readBounded(res: IncomingMessage, max: number): Promise<{ body: Buffer; truncated: boolean }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const settle = (action: () => void) => {
      if (settled) return;
      settled = true;
      action();
    };
    res.on("data", (chunk: Buffer) => {
      if (settled) return;
      const room = max - size;
      if (chunk.length > room) {
        chunks.push(chunk.subarray(0, room));
        settle(() => resolve({ body: Buffer.concat(chunks), truncated: true }));
        // Destroying emits "aborted" at once; the answer is already settled by then.
        res.destroy();
        return;
      }
      chunks.push(chunk);
      size += chunk.length;
    });
    res.once("end", () => settle(() => resolve({ body: Buffer.concat(chunks), truncated: false })));
    res.once("error", (error) => settle(() => reject(error)));
    res.once("aborted", () => settle(() => reject(new Error("the connection closed before the body was complete"))));
  });
}

/** A CONNECT tunnel through an http:// proxy to the URL's host. */
function tunnel(proxy: URL, url: URL, signal: AbortSignal): Promise<Socket> {
  const target = `${url.hostname.includes(":") ? `[${url.hostname}]` : url.hostname}:${url.port || 443}`;
  return new Promise((resolve, reject) => {
    const req = httpRequest({
      host: proxy.hostname,
      port: proxy.port || 80,
      method: "CONNECT",
      path: target,
      headers: { Host: target, ...proxyAuthorization(proxy) },
      signal,
    });
    req.once("connect", (res, socket) => {
      if (res.statusCode === 200) resolve(socket);
      else {
        socket.destroy();
        reject(new Error(`the proxy ${redactUrl(proxy)} refused the tunnel to ${target} with HTTP ${res.statusCode}`));
      }
    });
    req.once("error", reject);
    req.end();
  });
}

function proxyAuthorization(proxy: URL): Record<string, string> {
  if (proxy.username === "") return {};
  const user = decodeURIComponent(proxy.username);
  const password = decodeURIComponent(proxy.password);
  return { "Proxy-Authorization": `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}` };
}

function withoutAuthorization(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => name.toLowerCase() !== "authorization"));
}

function describe(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const message = error instanceof Error ? error.message : String(error);
  return redactText(code && !message.includes(code) ? `${code}: ${message}` : message);
}
