// (status, message) of a failed engine call → failure class, by an ordered table of message rules.
//
// The message decides, the status only breaks ties for messages no rule knows: the Engine API
// sends "manifest unknown" and "denied" as 404 or 500 depending on whether the registry filled
// its `detail` field, and failures after the first progress line arrive inside an HTTP 200
// stream (observed on dockerd 20.10 behind a fault-injecting proxy).
import type { FailureClass } from "../types.js";

export interface Failure {
  /** Engine API status, when the engine answered with one (200 for an error line inside a pull stream). */
  readonly httpStatus?: number;
  readonly message: string;
}

export interface Classification {
  readonly class: FailureClass;
  /** Stable id of the table row that matched, so reports and tests can say why. */
  readonly rule: string;
  /** One line telling the user what to do, where there is something to do. */
  readonly hint?: string;
}

interface MessageRule {
  readonly rule: string;
  readonly class: FailureClass;
  readonly pattern: RegExp;
  readonly hint?: string;
}

interface StatusRule {
  /** Suffix of the rule id: "http-<key>" when the status was read from the message, "status-<key>" from the API. */
  readonly key: string;
  readonly matches: (status: number) => boolean;
  readonly class: FailureClass;
  readonly hint?: string;
}

const HINT = {
  platform: "the image has no manifest for this CPU architecture; nothing to pull on this machine",
  engine: "is dockerd running? check DOCKER_HOST and that the engine socket exists",
  socketPermission: "this user may not open the Docker socket: check its permissions (docker group) and DOCKER_HOST",
  rateLimit:
    "the registry is rate-limiting pulls (on Docker Hub, likely the anonymous pull quota): log in (docker login / DOCKER_CONFIG credentials) or use a registry mirror",
  certificate:
    "the engine does not trust the registry's TLS certificate: install the registry's CA on the engine host (/etc/docker/certs.d/<registry>/ca.crt) or fix the certificate",
  plainHttp: "the registry serves plain HTTP: list it in the engine's insecure-registries or serve it over TLS",
  diskFull: "the engine's disk is full: free space (docker system prune) or give the engine a larger disk",
  reference: "check the image reference: lowercase repository name, valid tag or digest",
  notFound: "check the image name and tag (registries also answer 'not found' for private images pulled without credentials)",
  auth: "check the image name and the credentials for that registry (docker login / DOCKER_CONFIG)",
  unknownHost: "check the registry name and DNS: the host name does not resolve",
  badRequest: "the engine rejected the request: check the image reference",
  engineLost: "the engine closed the connection mid-pull: check that dockerd is not restarting or out of memory",
  credentials: "prepull could not get the credentials for this registry: fix the Docker config or its credential helper",
} as const;

// Order matters: the first matching row wins. Rows go from the most specific cause to the most
// generic wrapper, so the cause inside "download failed after attempts=N: <cause>" decides, and a
// registry's error code ("manifest unknown", "denied") beats transport words around it.
const MESSAGE_RULES: readonly MessageRule[] = [
  // Beats everything: newer engines append "...: not found" to it, which is not a missing image
  // (Docker 29's containerd store: "no matching manifest for <p> in the manifest list entries: no
  // match for platform in manifest: not found", as HTTP 404).
  { rule: "no-matching-manifest", class: "skipped-platform", pattern: /no matching manifest for/i, hint: HINT.platform },
  // podman (containers/image): "choosing an image from manifest list docker://…: no image found in
  // manifest list for architecture arm, variant "v7", OS linux".
  { rule: "no-image-in-manifest-list", class: "skipped-platform", pattern: /no image found in manifest list for architecture/i, hint: HINT.platform },
  // dockerd asked for a platform that a single-platform image does not have.
  { rule: "platform-does-not-match", class: "skipped-platform", pattern: /does not match the specified platform/i, hint: HINT.platform },
  // Our own success check (src/engine/client.ts confirmPull): the engine has the image, for another platform.
  { rule: "pulled-other-platform", class: "skipped-platform", pattern: /^no matching image for \S+: the engine pulled /, hint: HINT.platform },

  // The engine itself, before any registry rule: "connection refused" to the daemon's socket is
  // not the registry's. (Our own client's connection failures arrive typed: see classifyOwn.)
  {
    rule: "docker-socket-permission",
    class: "engine-unreachable",
    pattern: /permission denied while trying to connect to the docker daemon socket/i,
    hint: HINT.socketPermission,
  },
  { rule: "docker-daemon-down", class: "engine-unreachable", pattern: /cannot connect to the docker daemon/i, hint: HINT.engine },
  { rule: "docker-socket-dial", class: "engine-unreachable", pattern: /dial unix \S*docker\.sock/i, hint: HINT.engine },
  { rule: "error-during-connect", class: "engine-unreachable", pattern: /^error during connect\b/i, hint: HINT.engine },

  // Before auth and not-found: a registry's rate-limit text may say "unauthenticated" or
  // "unauthorized users", and the daemon wraps 429 in "download failed after attempts=1".
  { rule: "toomanyrequests", class: "rate-limited", pattern: /toomanyrequests/i, hint: HINT.rateLimit },
  { rule: "too-many-requests", class: "rate-limited", pattern: /too many requests/i, hint: HINT.rateLimit },
  { rule: "pull-rate-limit", class: "rate-limited", pattern: /pull rate limit|increase-rate-limit/i, hint: HINT.rateLimit },

  // Configuration errors: the next attempt meets the same certificate, protocol or full disk.
  { rule: "x509-certificate", class: "permanent", pattern: /\bx509: /i, hint: HINT.certificate },
  { rule: "http-response-to-https-client", class: "permanent", pattern: /server gave HTTP response to HTTPS client/i, hint: HINT.plainHttp },
  { rule: "disk-full", class: "permanent", pattern: /no space left on device/i, hint: HINT.diskFull },
  { rule: "invalid-reference-format", class: "permanent", pattern: /invalid reference format/i, hint: HINT.reference },
  { rule: "invalid-tag-format", class: "permanent", pattern: /invalid tag format/i, hint: HINT.reference },
  { rule: "repository-name-lowercase", class: "permanent", pattern: /repository name\b.*\bmust be lowercase/i, hint: HINT.reference },

  // NXDOMAIN is an answer; a failed lookup ("server misbehaving") is not, and stays transient below.
  { rule: "no-such-host", class: "permanent", pattern: /no such host/i, hint: HINT.unknownHost },

  { rule: "manifest-unknown", class: "permanent", pattern: /manifest unknown/i, hint: HINT.notFound },
  { rule: "name-unknown", class: "permanent", pattern: /name unknown/i, hint: HINT.notFound },
  { rule: "not-found", class: "permanent", pattern: /\bnot found\b/i, hint: HINT.notFound },

  { rule: "pull-access-denied", class: "permanent", pattern: /pull access denied/i, hint: HINT.auth },
  { rule: "unauthorized", class: "permanent", pattern: /\bunauthorized\b/i, hint: HINT.auth },
  { rule: "auth-required", class: "permanent", pattern: /authentication required|no basic auth credentials/i, hint: HINT.auth },
  // A registry's "denied" code, not the operating system's "permission denied" on some file.
  { rule: "denied", class: "permanent", pattern: /(?<!permission )\bdenied\b/i, hint: HINT.auth },
];

// Registry statuses the daemon quotes in its messages. Unlike the Engine API's own status, these
// are what the registry really answered. Docker 20.10 wording first, then containerd's.
const EMBEDDED_STATUS: readonly RegExp[] = [
  /received unexpected HTTP status: (\d{3})\b/i,
  /error parsing HTTP (\d{3}) response body/i,
  /unexpected status from \w+ request to \S+: (\d{3})\b/i,
  /unexpected status code:? (\d{3})\b/i,
  // containerd's blob reader names the URL first: "unexpected status code https://…/blobs/sha256:…: 503 Service Unavailable".
  /unexpected status code \S+: (\d{3})\b/i,
  // podman (containers/image) on a blob: "Error fetching blob: invalid status code from registry 500 (Internal Server Error)".
  /invalid status code from registry (\d{3})\b/i,
];

// 408 and 429 are the only 4xx worth asking again; every other 4xx is the same answer next time.
const STATUS_RULES: readonly StatusRule[] = [
  { key: "400", matches: (s) => s === 400, class: "permanent", hint: HINT.badRequest },
  { key: "401", matches: (s) => s === 401, class: "permanent", hint: HINT.auth },
  { key: "403", matches: (s) => s === 403, class: "permanent", hint: HINT.auth },
  { key: "404", matches: (s) => s === 404, class: "permanent", hint: HINT.notFound },
  { key: "408", matches: (s) => s === 408, class: "transient" },
  { key: "429", matches: (s) => s === 429, class: "rate-limited", hint: HINT.rateLimit },
  { key: "4xx", matches: (s) => s >= 400 && s < 500, class: "permanent" },
  { key: "5xx", matches: (s) => s >= 500 && s < 600, class: "transient" },
];

// Transport failures between the daemon and the registry. Checked after the registry's own words
// and quoted statuses; the daemon's retry wrapper comes last since it only says "it kept failing".
const TRANSIENT_RULES: readonly MessageRule[] = [
  { rule: "eof", class: "transient", pattern: /\bEOF\b/i },
  { rule: "connection-reset", class: "transient", pattern: /connection reset by peer/i },
  { rule: "connection-refused", class: "transient", pattern: /connection refused/i },
  { rule: "broken-pipe", class: "transient", pattern: /broken pipe/i },
  { rule: "tls-handshake-timeout", class: "transient", pattern: /TLS handshake timeout/i },
  { rule: "io-timeout", class: "transient", pattern: /i\/o timeout/i },
  { rule: "client-timeout", class: "transient", pattern: /Client\.Timeout exceeded/i },
  { rule: "request-canceled", class: "transient", pattern: /request canceled/i },
  { rule: "deadline-exceeded", class: "transient", pattern: /context deadline exceeded/i },
  { rule: "timed-out", class: "transient", pattern: /timed out/i },
  { rule: "dns-temporary", class: "transient", pattern: /server misbehaving|temporary failure in name resolution/i },
  { rule: "network-unreachable", class: "transient", pattern: /no route to host|network is unreachable/i },
  { rule: "daemon-retries-exhausted", class: "transient", pattern: /download failed after attempts=/i },
];

/**
 * Go quotes data with %q: request URLs (`Head "https://…/v2/<repo>/manifests/<tag>": EOF`),
 * references, response bodies. Those carry user-chosen names and arbitrary proxy HTML, so a
 * repository called "access-denied-test" must not make an EOF permanent. Drop them before matching.
 */
function withoutQuoted(message: string): string {
  return message.replace(/"(?:[^"\\]|\\.)*"/g, '""');
}

function firstMatch(rules: readonly MessageRule[], text: string): MessageRule | undefined {
  return rules.find((row) => row.pattern.test(text));
}

function statusRule(status: number): StatusRule | undefined {
  return STATUS_RULES.find((row) => row.matches(status));
}

function embeddedStatus(text: string): number | undefined {
  for (const pattern of EMBEDDED_STATUS) {
    const digits = pattern.exec(text)?.[1];
    if (digits !== undefined) return Number(digits);
  }
  return undefined;
}

function fromStatus(prefix: "http" | "status", status: number | undefined): Classification | undefined {
  const row = status === undefined ? undefined : statusRule(status);
  if (row === undefined) return undefined;
  return toClassification(row.class, `${prefix}-${row.key}`, row.hint);
}

function toClassification(failureClass: FailureClass, rule: string, hint: string | undefined): Classification {
  return hint === undefined ? { class: failureClass, rule } : { class: failureClass, rule, hint };
}

/**
 * Classify one failed engine call. Pure: same input, same answer.
 *
 * Precedence: message rules (platform, engine, rate limit, configuration, reference, not found,
 * auth) → a registry status quoted in the message → transport words → the Engine API status →
 * "unknown-message".
 */
export function classify(failure: Failure): Classification {
  const text = withoutQuoted(failure.message);
  const known = firstMatch(MESSAGE_RULES, text);
  if (known) return toClassification(known.class, known.rule, known.hint);
  const quoted = fromStatus("http", embeddedStatus(text));
  if (quoted) return quoted;
  const transport = firstMatch(TRANSIENT_RULES, text);
  if (transport) return toClassification(transport.class, transport.rule, transport.hint);
  const api = fromStatus("status", failure.httpStatus);
  if (api) return api;
  // Unknown message with no 4xx to go on (no status, a 200 stream, or a 5xx, which the Engine API
  // uses for almost everything): transient. A wrong "transient" costs a few bounded retries; a
  // wrong "permanent" fails the whole CI batch on a message we have not met yet.
  return { class: "transient", rule: "unknown-message" };
}

/**
 * Failures prepull itself knows the cause of, typed where they happen (src/engine/): no message
 * is parsed. A broken Docker config or a missing credential helper stays broken; a helper that
 * timed out may answer next time; a connection to the engine that broke mid-pull is worth a retry
 * (dockerd restarting).
 */
export type OwnFailure = { readonly kind: "credentials"; readonly retryable: boolean } | { readonly kind: "lost" };

export function classifyOwn(failure: OwnFailure): Classification {
  if (failure.kind === "lost") return { class: "transient", rule: "engine-connection-lost", hint: HINT.engineLost };
  return failure.retryable
    ? { class: "transient", rule: "credentials-helper-timeout", hint: HINT.credentials }
    : { class: "permanent", rule: "credentials-config", hint: HINT.credentials };
}
