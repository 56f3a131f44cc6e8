// A fault-injecting HTTP proxy in front of a real registry. It forwards every request as the client
// sent it (Host header included, so the registry's Location URLs point back at the proxy), streams
// bodies both ways, applies the first matching fault rule, and logs every request with timings so
// tests can assert attempt counts and concurrency.
import { Agent, createServer, request as httpRequest } from "node:http";
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { performance } from "node:perf_hooks";
import { seededRandom } from "../src/policy/random.js";

/** What a request is about, from its path. */
export type RequestKind = "ping" | "manifest" | "blob" | "upload" | "other";

/** How a request ended when it did not end with a complete HTTP response. */
export type ProxyOutcome = "reset" | "close" | "stall" | "truncate" | "aborted" | "error";

export interface FaultMatch {
  /** "GET", "HEAD", ... or a list of them. Default: any method. */
  readonly method?: string | readonly string[];
  /** Default "any". */
  readonly kind?: RequestKind | "any";
  /** Exact repository name, or a pattern tested against it. */
  readonly repository?: string | RegExp;
  /** A specific blob (kind blob) or manifest digest. */
  readonly digest?: string;
  /** A manifest reference (tag or digest). */
  readonly ref?: string;
  /** Pattern tested against the request path (with query). */
  readonly path?: RegExp;
  /** Who sent it: prepull's own registry client, or anyone else (the engine). Default: both. */
  readonly client?: RequestClient;
}

/** prepull's own registry client says so in its User-Agent ("prepull/<version>"); everything else is the engine. */
export type RequestClient = "prepull" | "engine";

export interface FaultWhen {
  /** The rule applies from afterMs after it was added ... */
  readonly afterMs?: number;
  /** ... until untilMs after it was added (exclusive). */
  readonly untilMs?: number;
  /** The fault fires at most this many times (counting requests it changed). */
  readonly times?: number;
  /** Chance that a matching request gets the fault, from the proxy's seeded random. */
  readonly probability?: number;
}

export type FaultAction =
  /** Answer with this status; the body defaults to a registry JSON error for the status. */
  | { readonly status: number; readonly body?: string | object; readonly headers?: Readonly<Record<string, string>> }
  /** Destroy the client socket with a TCP RST. */
  | { readonly reset: true }
  /** Close the client socket without any response. */
  | { readonly close: true }
  /**
   * Never answer, until closeStalled()/stop() or stallMs (then the socket is closed). With
   * stallAfterBytes, forward the upstream headers and that many body bytes first, then stall.
   */
  | { readonly stall: true; readonly stallMs?: number; readonly stallAfterBytes?: number }
  /** Forward, but destroy the socket after this many response body bytes. */
  | { readonly truncate: number }
  /** Wait, then forward normally (a slow registry). */
  | { readonly delayMs: number }
  /**
   * Forward, and change the registry's response headers on the way back (e.g. add Docker Hub's
   * ratelimit headers, or remove Docker-Content-Digest). Names are case-insensitive.
   */
  | { readonly rewriteHeaders: { readonly set?: Readonly<Record<string, string>>; readonly remove?: readonly string[] } }
  /** Brownout: let n matching requests per second through, answer the rest (503 by default). */
  | { readonly admitPerSecond: number; readonly status?: number; readonly body?: string | object; readonly headers?: Readonly<Record<string, string>> };

export interface FaultRule {
  /** Shown in the log's `fault` field. Default "rule-<n>". */
  readonly name?: string;
  readonly match?: FaultMatch;
  readonly when?: FaultWhen;
  readonly action: FaultAction;
}

export interface ProxyLogEntry {
  readonly id: number;
  readonly method: string;
  /** Path with query, as the client sent it. */
  readonly path: string;
  readonly kind: RequestKind;
  readonly repository?: string;
  /** Manifest tag/digest, blob digest, or upload id. */
  readonly ref?: string;
  /** The client's Range header (the engine resumes a cut-off layer with one). */
  readonly range?: string;
  /** ms since the proxy started. */
  readonly startedAt: number;
  /** ms since the proxy started; unset while the request is in flight. */
  endedAt?: number;
  /** HTTP status of the completed response, or how the request ended otherwise. Unset while in flight. */
  status?: number | ProxyOutcome;
  /** Status line sent to the client, also for truncated/stalled responses. */
  httpStatus?: number;
  /** Response body bytes sent to the client. */
  bytes: number;
  /** Name of the rule that changed this request. */
  fault?: string;
  /** Name of the rule that matched (also for requests a brownout admitted). */
  rule?: string;
  /** Requests (of any kind) already in flight when this one started. */
  readonly inFlightAtStart: number;
  readonly client: RequestClient;
  /** Upstream or socket error text, if any. */
  error?: string;
}

export interface RequestFilter {
  readonly method?: string | readonly string[];
  readonly kind?: RequestKind | readonly RequestKind[];
  readonly repository?: string | RegExp;
  /** Matches `ref` (a blob digest, manifest tag or digest). */
  readonly ref?: string;
  /** Alias of ref. */
  readonly digest?: string;
  readonly status?: number | ProxyOutcome;
  /** A rule name, or true for "any fault", false for "no fault". */
  readonly fault?: string | boolean;
  /** Only entries that started at or after this time (ms since proxy start). */
  readonly since?: number;
  readonly client?: RequestClient;
}

export type RequestSelector = RequestFilter | ((entry: ProxyLogEntry) => boolean);

export interface FaultProxy {
  /** "127.0.0.1:PORT" */
  readonly host: string;
  readonly port: number;
  /** Every request so far, in arrival order (live array). */
  readonly log: readonly ProxyLogEntry[];
  /** Adds a rule (after the existing ones: the first matching rule wins). Returns its remover. */
  addFault(rule: FaultRule): () => void;
  clearFaults(): void;
  clearLog(): void;
  /** ms since the proxy started, the clock of the log. */
  now(): number;
  requests(filter?: RequestSelector): ProxyLogEntry[];
  count(filter?: RequestSelector): number;
  /** Most requests matching the filter that were in flight at the same moment. */
  maxConcurrent(filter?: RequestSelector): number;
  /** Resolves once `count` requests match (default 1); rejects after timeoutMs (default 10 s). */
  waitFor(filter: RequestSelector, options?: { count?: number; timeoutMs?: number }): Promise<ProxyLogEntry[]>;
  /** Closes the sockets of every stalled request; returns how many. */
  closeStalled(): number;
  /** Destroys every socket, stalled ones included, and closes the server. Idempotent. */
  stop(): Promise<void>;
}

export interface FaultProxyOptions {
  /** "127.0.0.1:PORT" of the real registry. */
  readonly target: string;
  /** Seed of the random used by `probability`. Default 1. */
  readonly seed?: number;
}

const ERROR_CODES: Record<number, { code: string; message: string }> = {
  400: { code: "UNSUPPORTED", message: "The operation is unsupported." },
  401: { code: "UNAUTHORIZED", message: "authentication required" },
  403: { code: "DENIED", message: "requested access to the resource is denied" },
  405: { code: "UNSUPPORTED", message: "The operation is unsupported." },
  429: { code: "TOOMANYREQUESTS", message: "too many requests" },
  503: { code: "UNAVAILABLE", message: "service unavailable" },
};

const HOP_BY_HOP = ["connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization", "te", "trailer", "upgrade"];

interface ActiveRule {
  readonly name: string;
  readonly match: FaultMatch;
  readonly when: FaultWhen;
  readonly action: FaultAction;
  readonly addedAt: number;
  fired: number;
  /** admitPerSecond: times of the admitted requests in the last second. */
  admitted: number[];
}

interface Stalled {
  readonly entry: ProxyLogEntry;
  readonly socket: Socket;
  timer?: NodeJS.Timeout;
}

/** Parses a registry API path into kind, repository and ref. */
export function classifyPath(pathWithQuery: string): { kind: RequestKind; repository?: string; ref?: string } {
  const path = pathWithQuery.split("?")[0] ?? "";
  if (/^\/v2\/?$/.test(path)) return { kind: "ping" };
  let m = /^\/v2\/(.+)\/blobs\/uploads(?:\/([^/]*))?$/.exec(path);
  if (m) return { kind: "upload", repository: m[1], ...(m[2] ? { ref: m[2] } : {}) };
  m = /^\/v2\/(.+)\/blobs\/([^/]+)$/.exec(path);
  if (m) return { kind: "blob", repository: m[1], ref: m[2] };
  m = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(path);
  if (m) return { kind: "manifest", repository: m[1], ref: m[2] };
  m = /^\/v2\/(.+)\/tags\/list$/.exec(path);
  if (m) return { kind: "other", repository: m[1] };
  return { kind: "other" };
}

function oneOf<T>(value: T, expected: T | readonly T[] | undefined): boolean {
  if (expected === undefined) return true;
  return Array.isArray(expected) ? expected.includes(value) : value === expected;
}

function matchesRepository(repository: string | undefined, expected: string | RegExp | undefined): boolean {
  if (expected === undefined) return true;
  if (repository === undefined) return false;
  return typeof expected === "string" ? repository === expected : expected.test(repository);
}

function ruleMatches(match: FaultMatch, entry: ProxyLogEntry): boolean {
  if (
    match.method !== undefined &&
    !oneOf(entry.method, typeof match.method === "string" ? match.method.toUpperCase() : match.method.map((m) => m.toUpperCase()))
  )
    return false;
  if (match.kind !== undefined && match.kind !== "any" && match.kind !== entry.kind) return false;
  if (!matchesRepository(entry.repository, match.repository)) return false;
  if (match.digest !== undefined && entry.ref !== match.digest) return false;
  if (match.ref !== undefined && entry.ref !== match.ref) return false;
  if (match.path !== undefined && !match.path.test(entry.path)) return false;
  if (match.client !== undefined && match.client !== entry.client) return false;
  return true;
}

function selectorMatches(selector: RequestSelector | undefined, entry: ProxyLogEntry): boolean {
  if (selector === undefined) return true;
  if (typeof selector === "function") return selector(entry);
  const f = selector;
  if (f.method !== undefined && !oneOf(entry.method, f.method)) return false;
  if (f.kind !== undefined && !oneOf<RequestKind>(entry.kind, f.kind)) return false;
  if (!matchesRepository(entry.repository, f.repository)) return false;
  if (f.ref !== undefined && entry.ref !== f.ref) return false;
  if (f.digest !== undefined && entry.ref !== f.digest) return false;
  if (f.status !== undefined && entry.status !== f.status) return false;
  if (f.fault !== undefined) {
    if (f.fault === true && entry.fault === undefined) return false;
    if (f.fault === false && entry.fault !== undefined) return false;
    if (typeof f.fault === "string" && entry.fault !== f.fault) return false;
  }
  if (f.since !== undefined && entry.startedAt < f.since) return false;
  if (f.client !== undefined && entry.client !== f.client) return false;
  return true;
}

function defaultErrorBody(status: number, entry: ProxyLogEntry): object {
  let known = ERROR_CODES[status];
  if (status === 404) {
    known =
      entry.kind === "manifest"
        ? { code: "MANIFEST_UNKNOWN", message: "manifest unknown" }
        : entry.kind === "blob"
          ? { code: "BLOB_UNKNOWN", message: "blob unknown to registry" }
          : { code: "NAME_UNKNOWN", message: "repository name not known to registry" };
  }
  const { code, message } = known ?? { code: "UNKNOWN", message: "unknown error" };
  return { errors: [{ code, message, detail: `injected by prepull fault proxy (HTTP ${status})` }] };
}

/** Starts the proxy on 127.0.0.1:<free port>. */
export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const [targetHost = "", targetPortText = ""] = options.target.split(":");
  const targetPort = Number(targetPortText);
  if (targetHost === "" || !Number.isInteger(targetPort)) throw new Error(`target must be "host:port", got ${JSON.stringify(options.target)}`);

  const t0 = performance.now();
  const now = (): number => performance.now() - t0;
  const random = seededRandom(options.seed ?? 1);
  const agent = new Agent({ keepAlive: true });
  const log: ProxyLogEntry[] = [];
  const open = new Set<ProxyLogEntry>();
  let rules: ActiveRule[] = [];
  let ruleCounter = 0;
  let nextId = 1;
  const sockets = new Set<Socket>();
  const stalled = new Set<Stalled>();
  /** How a request ends when its socket closes (set before the socket is dropped on purpose). */
  const pending = new WeakMap<ProxyLogEntry, ProxyOutcome>();
  let stopping: Promise<void> | undefined;

  const finish = (entry: ProxyLogEntry, status: number | ProxyOutcome): void => {
    if (entry.endedAt !== undefined) return;
    entry.endedAt = now();
    entry.status = status;
    open.delete(entry);
  };

  const destroy = (socket: Socket): void => {
    try {
      socket.destroy();
    } catch {
      // already gone
    }
  };

  const stall = (entry: ProxyLogEntry, socket: Socket, stallMs: number | undefined): void => {
    const item: Stalled = { entry, socket };
    pending.set(entry, "stall");
    stalled.add(item);
    if (stallMs !== undefined) item.timer = setTimeout(() => endStall(item), stallMs);
    socket.once("close", () => {
      if (item.timer) clearTimeout(item.timer);
      stalled.delete(item);
      finish(entry, "stall");
    });
  };

  /** Ends a stall now: logged at once (the socket's close event comes a little later). */
  const endStall = (item: Stalled): void => {
    if (item.timer) clearTimeout(item.timer);
    stalled.delete(item);
    finish(item.entry, "stall");
    destroy(item.socket);
  };

  /** The first rule that applies to this request, if any; updates the rule's counters. */
  const pickRule = (entry: ProxyLogEntry): { rule: ActiveRule; admit: boolean } | undefined => {
    const t = now();
    for (const rule of rules) {
      if (!ruleMatches(rule.match, entry)) continue;
      const elapsed = t - rule.addedAt;
      if (rule.when.afterMs !== undefined && elapsed < rule.when.afterMs) continue;
      if (rule.when.untilMs !== undefined && elapsed >= rule.when.untilMs) continue;
      if (rule.when.times !== undefined && rule.fired >= rule.when.times) continue;
      if (rule.when.probability !== undefined && random() >= rule.when.probability) continue;
      if ("admitPerSecond" in rule.action) {
        rule.admitted = rule.admitted.filter((at) => t - at < 1000);
        if (rule.admitted.length < rule.action.admitPerSecond) {
          rule.admitted.push(t);
          return { rule, admit: true };
        }
      }
      rule.fired++;
      return { rule, admit: false };
    }
    return undefined;
  };

  const respond = (
    req: IncomingMessage,
    res: ServerResponse,
    entry: ProxyLogEntry,
    status: number,
    body: string | object | undefined,
    headers: Readonly<Record<string, string>> = {},
  ): void => {
    req.resume();
    const isText = typeof body === "string";
    const payload = isText ? body : JSON.stringify(body ?? defaultErrorBody(status, entry));
    const outHeaders: OutgoingHttpHeaders = {
      "Content-Type": isText ? "text/plain; charset=utf-8" : "application/json; charset=utf-8",
      "Content-Length": Buffer.byteLength(payload),
      "Docker-Distribution-Api-Version": "registry/2.0",
    };
    if (status === 401) outHeaders["WWW-Authenticate"] = 'Basic realm="prepull-fault-proxy"';
    for (const [name, value] of Object.entries(headers)) {
      for (const existing of Object.keys(outHeaders)) if (existing.toLowerCase() === name.toLowerCase()) delete outHeaders[existing];
      outHeaders[name] = value;
    }
    entry.httpStatus = status;
    res.writeHead(status, outHeaders);
    if (req.method !== "HEAD") entry.bytes = Buffer.byteLength(payload);
    res.end(payload);
  };

  /** Forwards the request; `cut` truncates or stalls the response after some body bytes. */
  const forward = (
    req: IncomingMessage,
    res: ServerResponse,
    entry: ProxyLogEntry,
    cut?: { bytes: number; mode: "truncate" | "stall"; stallMs?: number },
    rewrite?: { readonly set?: Readonly<Record<string, string>>; readonly remove?: readonly string[] },
  ): void => {
    const headers = { ...req.headers };
    for (const name of HOP_BY_HOP) delete headers[name];
    const upstream = httpRequest({ host: targetHost, port: targetPort, method: req.method, path: req.url, headers, agent });
    let cutDone = false;
    let upstreamDone = false;
    res.on("close", () => {
      // The client went away (or the cut dropped it): stop reading from the registry.
      if (!upstreamDone && !upstream.destroyed) upstream.destroy();
    });
    upstream.on("error", (error) => {
      entry.error = `upstream: ${error.message}`;
      if (cutDone || res.destroyed) return;
      if (!res.headersSent) {
        respond(req, res, entry, 502, `prepull fault proxy: upstream ${options.target} failed: ${error.message}\n`);
        entry.error = `upstream: ${error.message}`;
      } else {
        finish(entry, "error");
        destroy(req.socket);
      }
    });
    req.on("error", () => upstream.destroy());
    req.pipe(upstream);
    upstream.on("response", (up) => {
      if (res.destroyed) {
        up.resume();
        upstream.destroy();
        return;
      }
      const outHeaders = { ...up.headers };
      for (const name of HOP_BY_HOP) delete outHeaders[name];
      for (const name of rewrite?.remove ?? []) delete outHeaders[name.toLowerCase()];
      for (const [name, value] of Object.entries(rewrite?.set ?? {})) outHeaders[name.toLowerCase()] = value;
      entry.httpStatus = up.statusCode ?? 502;
      res.writeHead(up.statusCode ?? 502, up.statusMessage, outHeaders);
      up.on("error", (error) => {
        entry.error = `upstream response: ${error.message}`;
        if (!cutDone) {
          finish(entry, "error");
          destroy(req.socket);
        }
      });

      const applyCut = (): void => {
        if (!cut) return;
        cutDone = true;
        up.destroy();
        upstream.destroy();
        if (cut.mode === "truncate") {
          pending.set(entry, "truncate");
          finish(entry, "truncate");
          // Let the bytes written so far reach the client, then drop the connection.
          setImmediate(() => destroy(req.socket));
        } else {
          stall(entry, req.socket, cut.stallMs);
        }
      };

      if (cut && cut.bytes <= 0) {
        res.flushHeaders();
        applyCut();
        return;
      }
      up.on("data", (chunk: Buffer) => {
        if (cutDone) return;
        let data = chunk;
        if (cut) {
          const remaining = cut.bytes - entry.bytes;
          if (data.length > remaining) {
            data = data.subarray(0, remaining);
            entry.bytes += data.length;
            res.write(data, () => applyCut());
            cutDone = true;
            up.pause();
            return;
          }
        }
        entry.bytes += data.length;
        if (!res.write(data)) {
          up.pause();
          res.once("drain", () => up.resume());
        }
      });
      up.on("end", () => {
        upstreamDone = true;
        if (!cutDone) res.end();
      });
    });
  };

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const path = req.url ?? "/";
    const parsed = classifyPath(path);
    const range = req.headers.range;
    const entry: ProxyLogEntry = {
      id: nextId++,
      method: (req.method ?? "GET").toUpperCase(),
      path,
      kind: parsed.kind,
      ...(parsed.repository !== undefined ? { repository: parsed.repository } : {}),
      ...(parsed.ref !== undefined ? { ref: parsed.ref } : {}),
      ...(range !== undefined ? { range } : {}),
      startedAt: now(),
      bytes: 0,
      inFlightAtStart: open.size,
      client: /^prepull\//.test(req.headers["user-agent"] ?? "") ? "prepull" : "engine",
    };
    log.push(entry);
    open.add(entry);
    res.on("finish", () => finish(entry, entry.httpStatus ?? res.statusCode));
    res.on("close", () => finish(entry, pending.get(entry) ?? "aborted"));
    res.on("error", () => undefined);

    const picked = pickRule(entry);
    if (!picked) {
      forward(req, res, entry);
      return;
    }
    const { rule, admit } = picked;
    entry.rule = rule.name;
    if (admit) {
      forward(req, res, entry);
      return;
    }
    entry.fault = rule.name;
    const action = rule.action;
    if ("admitPerSecond" in action) {
      respond(req, res, entry, action.status ?? 503, action.body, action.headers);
    } else if ("status" in action) {
      respond(req, res, entry, action.status, action.body, action.headers);
    } else if ("reset" in action) {
      finish(entry, "reset");
      try {
        req.socket.resetAndDestroy();
      } catch {
        destroy(req.socket);
      }
    } else if ("close" in action) {
      finish(entry, "close");
      destroy(req.socket);
    } else if ("stall" in action) {
      if (action.stallAfterBytes !== undefined) {
        forward(req, res, entry, { bytes: action.stallAfterBytes, mode: "stall", ...(action.stallMs !== undefined ? { stallMs: action.stallMs } : {}) });
      } else {
        req.resume();
        stall(entry, req.socket, action.stallMs);
      }
    } else if ("truncate" in action) {
      forward(req, res, entry, { bytes: action.truncate, mode: "truncate" });
    } else if ("rewriteHeaders" in action) {
      forward(req, res, entry, undefined, action.rewriteHeaders);
    } else if ("delayMs" in action) {
      req.pause();
      const timer = setTimeout(() => {
        if (!res.destroyed) forward(req, res, entry);
      }, action.delayMs);
      res.on("close", () => clearTimeout(timer));
    }
  };

  const server = createServer({ keepAlive: true }, handle);
  // Node's own server timeouts must not end a stall the test asked for.
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;
  server.timeout = 0;
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.on("error", () => undefined);
    socket.once("close", () => sockets.delete(socket));
  });
  server.on("clientError", (_error, socket) => {
    destroy(socket as Socket);
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  server.on("error", () => undefined);
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;

  const closeStalled = (): number => {
    const items = [...stalled];
    for (const item of items) endStall(item);
    return items.length;
  };

  const requests = (filter?: RequestSelector): ProxyLogEntry[] => log.filter((e) => selectorMatches(filter, e));

  return {
    host: `127.0.0.1:${port}`,
    port,
    log,
    now,
    addFault(rule: FaultRule): () => void {
      validateRule(rule);
      const active: ActiveRule = {
        name: rule.name ?? `rule-${++ruleCounter}`,
        match: rule.match ?? {},
        when: rule.when ?? {},
        action: rule.action,
        addedAt: now(),
        fired: 0,
        admitted: [],
      };
      rules.push(active);
      return () => {
        rules = rules.filter((r) => r !== active);
      };
    },
    clearFaults(): void {
      rules = [];
    },
    clearLog(): void {
      log.length = 0;
    },
    requests,
    count: (filter?: RequestSelector) => requests(filter).length,
    maxConcurrent(filter?: RequestSelector): number {
      return maxInFlight(requests(filter), now());
    },
    async waitFor(filter: RequestSelector, opts: { count?: number; timeoutMs?: number } = {}): Promise<ProxyLogEntry[]> {
      const wanted = opts.count ?? 1;
      const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
      while (true) {
        const found = requests(filter);
        if (found.length >= wanted) return found;
        if (Date.now() >= deadline) {
          throw new Error(
            `fault proxy: waited ${opts.timeoutMs ?? 10_000} ms for ${wanted} request(s), saw ${found.length}; log:\n${formatLog(log.slice(-20))}`,
          );
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
    closeStalled,
    stop(): Promise<void> {
      stopping ??= (async () => {
        rules = [];
        closeStalled();
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        for (const socket of sockets) destroy(socket);
        server.closeAllConnections();
        agent.destroy();
        await closed;
      })();
      return stopping;
    },
  };
}

function validateRule(rule: FaultRule): void {
  const bad = (what: string, value: unknown): never => {
    throw new Error(
      `fault rule${rule.name ? ` "${rule.name}"` : ""}: ${what} must be ${value}; got ${JSON.stringify({ when: rule.when, action: rule.action })}`,
    );
  };
  const count = (v: number | undefined): boolean => v === undefined || (Number.isFinite(v) && v >= 0);
  const { when = {}, action } = rule;
  if (!count(when.afterMs) || !count(when.untilMs)) bad("afterMs/untilMs", "numbers >= 0");
  if (when.times !== undefined && !(Number.isInteger(when.times) && when.times >= 0)) bad("times", "an integer >= 0");
  if (when.probability !== undefined && !(when.probability >= 0 && when.probability <= 1)) bad("probability", "in [0, 1]");
  const status = "status" in action ? action.status : undefined;
  if (status !== undefined && !(Number.isInteger(status) && status >= 100 && status <= 599)) bad("status", "an HTTP status");
  if ("truncate" in action && !(Number.isInteger(action.truncate) && action.truncate >= 0)) bad("truncate", "an integer >= 0");
  if ("delayMs" in action && !count(action.delayMs)) bad("delayMs", "a number >= 0");
  if ("admitPerSecond" in action && !(Number.isInteger(action.admitPerSecond) && action.admitPerSecond >= 0)) bad("admitPerSecond", "an integer >= 0");
  if ("stall" in action && (!count(action.stallMs) || !count(action.stallAfterBytes))) bad("stallMs/stallAfterBytes", "numbers >= 0");
  const kinds = ["status", "reset", "close", "stall", "truncate", "delayMs", "admitPerSecond", "rewriteHeaders"].filter((k) => k in action);
  if (kinds.length !== 1 && !(kinds.length === 2 && kinds.includes("admitPerSecond") && kinds.includes("status")))
    bad("action", "exactly one of status|reset|close|stall|truncate|delayMs|admitPerSecond|rewriteHeaders");
}

/** One line per entry, for assertion messages. */
export function formatLog(entries: readonly ProxyLogEntry[]): string {
  return entries
    .map((e) => {
      const time = `${e.startedAt.toFixed(0)}-${e.endedAt === undefined ? "…" : e.endedAt.toFixed(0)}ms`;
      const extra = [e.range ? `range=${e.range}` : "", e.fault ? `fault=${e.fault}` : "", e.error ? `error=${e.error}` : ""].filter(Boolean).join(" ");
      return `#${e.id} ${time} ${e.method} ${e.path} → ${e.status ?? "in flight"} (${e.bytes} B) ${extra}`.trimEnd();
    })
    .join("\n");
}

/** Most requests in flight at the same moment; requests still open count until `openEnd`. */
export function maxInFlight(entries: readonly ProxyLogEntry[], openEnd: number): number {
  const events: [number, number][] = [];
  for (const e of entries) events.push([e.startedAt, 1], [e.endedAt ?? openEnd, -1]);
  // At equal times, an end comes before a start: back-to-back requests do not overlap.
  events.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let current = 0;
  let max = 0;
  for (const [, delta] of events) {
    current += delta;
    max = Math.max(max, current);
  }
  return max;
}
