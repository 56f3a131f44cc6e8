import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { classify, classifyOwn } from "../../src/classify/index.js";
import type { FailureClass } from "../../src/types.js";

interface Row {
  readonly message: string;
  /** Engine API statuses the message is tested under; undefined = no status (engine client's own failure). */
  readonly statuses: readonly (number | undefined)[];
  readonly class: FailureClass;
  readonly rule: string;
}

function check(rows: readonly Row[]): void {
  for (const row of rows) {
    for (const httpStatus of row.statuses) {
      it(`${httpStatus ?? "no status"} ${JSON.stringify(row.message)} → ${row.class} (${row.rule})`, () => {
        const got = classify(httpStatus === undefined ? { message: row.message } : { httpStatus, message: row.message });
        assert.deepEqual({ class: got.class, rule: got.rule }, { class: row.class, rule: row.rule });
      });
    }
  }
}

// The Engine API status is unreliable (404 or 500 for the same registry answer; 200 once the
// stream started), so where the doc says either occurs the message is tested under both.
const EITHER = [404, 500] as const;
const BEFORE_MANIFEST = [500] as const;
const IN_STREAM = [200] as const;

describe("classify: every message recorded in engine-errors.md", () => {
  check([
    // registry 5xx on manifest, config blob and layer
    { message: "received unexpected HTTP status: 500 Internal Server Error", statuses: [500, 200], class: "transient", rule: "http-5xx" },
    { message: "received unexpected HTTP status: 502 Bad Gateway", statuses: [500, 200], class: "transient", rule: "http-5xx" },
    { message: "received unexpected HTTP status: 503 Service Unavailable", statuses: [500, 200], class: "transient", rule: "http-5xx" },
    { message: "received unexpected HTTP status: 504 Gateway Timeout", statuses: [500, 200], class: "transient", rule: "http-5xx" },
    {
      message: "error pulling image configuration: download failed after attempts=6: received unexpected HTTP status: 500 Internal Server Error",
      statuses: IN_STREAM,
      class: "transient",
      rule: "http-5xx",
    },
    // transport
    { message: "unexpected EOF", statuses: IN_STREAM, class: "transient", rule: "eof" },
    {
      message: 'Head "http://registry.local:5000/v2/team/app/manifests/1.2.3": read tcp 172.17.0.1:41234->10.0.0.5:5000: read: connection reset by peer',
      statuses: BEFORE_MANIFEST,
      class: "transient",
      rule: "connection-reset",
    },
    { message: 'Head "http://registry.local:5000/v2/team/app/manifests/1.2.3": EOF', statuses: BEFORE_MANIFEST, class: "transient", rule: "eof" },
    {
      message: 'Get "http://registry.local:5000/v2/": dial tcp 10.0.0.5:5000: connect: connection refused',
      statuses: BEFORE_MANIFEST,
      class: "transient",
      rule: "connection-refused",
    },
    {
      message: 'Get "http://registry.local:5000/v2/": net/http: request canceled (Client.Timeout exceeded while awaiting headers)',
      statuses: BEFORE_MANIFEST,
      class: "transient",
      rule: "client-timeout",
    },
    // 429
    {
      message:
        "toomanyrequests: You have reached your pull rate limit. You may increase the limit by authenticating and upgrading: https://www.docker.com/increase-rate-limit",
      statuses: [500, 200],
      class: "rate-limited",
      rule: "toomanyrequests",
    },
    { message: "download failed after attempts=1: toomanyrequests: too many requests", statuses: IN_STREAM, class: "rate-limited", rule: "toomanyrequests" },
    // unknown tag / repo
    {
      message: "manifest for registry.local:5000/team/app:9.9.9 not found: manifest unknown: manifest unknown",
      statuses: EITHER,
      class: "permanent",
      rule: "manifest-unknown",
    },
    { message: "manifest unknown", statuses: EITHER, class: "permanent", rule: "manifest-unknown" },
    {
      message: "repository registry.local:5000/team/missing not found: name unknown: repository name not known to registry",
      statuses: EITHER,
      class: "permanent",
      rule: "name-unknown",
    },
    // auth
    { message: "unauthorized", statuses: EITHER, class: "permanent", rule: "unauthorized" },
    { message: "unauthorized: authentication required", statuses: EITHER, class: "permanent", rule: "unauthorized" },
    { message: "denied", statuses: EITHER, class: "permanent", rule: "denied" },
    {
      message:
        "pull access denied for team/private, repository does not exist or may require 'docker login': denied: requested access to the resource is denied",
      statuses: EITHER,
      class: "permanent",
      rule: "pull-access-denied",
    },
    // non-JSON 4xx bodies: the registry's real status is in the text
    {
      message: `error parsing HTTP 403 response body: invalid character '<' looking for beginning of value: "<html><body><h1>403 Forbidden</h1></body></html>"`,
      statuses: EITHER,
      class: "permanent",
      rule: "http-403",
    },
    {
      message: `error parsing HTTP 401 response body: invalid character 'A' looking for beginning of value: "Authorization Required"`,
      statuses: EITHER,
      class: "permanent",
      rule: "http-401",
    },
    // The quoted body says "not found"; the rule must come from the status outside the quotes.
    {
      message: `error parsing HTTP 404 response body: invalid character 'p' after top-level value: "404 page not found\\n"`,
      statuses: EITHER,
      class: "permanent",
      rule: "http-404",
    },
    // platform
    {
      message: "no matching manifest for linux/amd64 in the manifest list entries",
      statuses: [200, 404, 500, undefined],
      class: "skipped-platform",
      rule: "no-matching-manifest",
    },
    // bad reference (HTTP 400)
    { message: "invalid reference format", statuses: [400], class: "permanent", rule: "invalid-reference-format" },
    { message: "invalid reference format: repository name must be lowercase", statuses: [400], class: "permanent", rule: "invalid-reference-format" },
    { message: "invalid tag format", statuses: [400], class: "permanent", rule: "invalid-tag-format" },
    // DNS
    { message: "dial tcp: lookup registry.invalid on 127.0.0.53:53: no such host", statuses: BEFORE_MANIFEST, class: "permanent", rule: "no-such-host" },
    { message: "dial tcp: lookup registry.local on 127.0.0.11:53: server misbehaving", statuses: BEFORE_MANIFEST, class: "transient", rule: "dns-temporary" },
    // engine down
    {
      message: "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?",
      statuses: [undefined],
      class: "engine-unreachable",
      rule: "docker-daemon-down",
    },
  ]);
});

describe("classify: the rest of the issue's list", () => {
  check([
    {
      message: 'Get "https://registry-1.docker.io/v2/": dial tcp 44.205.64.79:443: i/o timeout',
      statuses: BEFORE_MANIFEST,
      class: "transient",
      rule: "io-timeout",
    },
    {
      message: 'Get "https://registry-1.docker.io/v2/": net/http: TLS handshake timeout',
      statuses: BEFORE_MANIFEST,
      class: "transient",
      rule: "tls-handshake-timeout",
    },
    { message: 'Get "https://registry.local/v2/": net/http: request canceled', statuses: BEFORE_MANIFEST, class: "transient", rule: "request-canceled" },
    { message: 'Get "https://registry.local/v2/": context deadline exceeded', statuses: BEFORE_MANIFEST, class: "transient", rule: "deadline-exceeded" },
    { message: "write tcp 172.17.0.2:50712->10.0.0.5:443: write: broken pipe", statuses: IN_STREAM, class: "transient", rule: "broken-pipe" },
    { message: "EOF", statuses: [500, 200], class: "transient", rule: "eof" },
    { message: "download failed after attempts=6: unknown blob", statuses: IN_STREAM, class: "transient", rule: "daemon-retries-exhausted" },
    {
      message: `error parsing HTTP 502 response body: invalid character '<' looking for beginning of value: "<html><body><h1>502 Bad Gateway</h1></body></html>"`,
      statuses: BEFORE_MANIFEST,
      class: "transient",
      rule: "http-5xx",
    },
    { message: "received unexpected HTTP status: 429 Too Many Requests", statuses: [500, 200], class: "rate-limited", rule: "too-many-requests" },
    {
      message: "You have reached your unauthenticated pull rate limit. https://www.docker.com/increase-rate-limit",
      statuses: [500],
      class: "rate-limited",
      rule: "pull-rate-limit",
    },
    {
      message: 'Get "https://registry.local/v2/": x509: certificate signed by unknown authority',
      statuses: BEFORE_MANIFEST,
      class: "permanent",
      rule: "x509-certificate",
    },
    {
      message: 'Get "https://registry.local/v2/": x509: certificate is valid for other.local, not registry.local',
      statuses: BEFORE_MANIFEST,
      class: "permanent",
      rule: "x509-certificate",
    },
    {
      message: 'Get "https://registry.local:5000/v2/": http: server gave HTTP response to HTTPS client',
      statuses: BEFORE_MANIFEST,
      class: "permanent",
      rule: "http-response-to-https-client",
    },
    {
      message: "failed to register layer: write /var/lib/docker/overlay2/3f1c/diff/usr/lib/libLLVM.so: no space left on device",
      statuses: IN_STREAM,
      class: "permanent",
      rule: "disk-full",
    },
    {
      message: "invalid reference format: repository name (team/App) must be lowercase",
      statuses: [400],
      class: "permanent",
      rule: "invalid-reference-format",
    },
    { message: "repository name must be lowercase", statuses: [400], class: "permanent", rule: "repository-name-lowercase" },
    { message: "denied: Your authorization token has expired. Reauthenticate and try again.", statuses: EITHER, class: "permanent", rule: "denied" },
    { message: "no basic auth credentials", statuses: EITHER, class: "permanent", rule: "auth-required" },
    { message: "dial tcp: lookup registry.local: Temporary failure in name resolution", statuses: BEFORE_MANIFEST, class: "transient", rule: "dns-temporary" },
    { message: "dial tcp 10.0.0.5:443: connect: no route to host", statuses: BEFORE_MANIFEST, class: "transient", rule: "network-unreachable" },
    { message: "dial tcp 10.0.0.5:443: connect: connection timed out", statuses: BEFORE_MANIFEST, class: "transient", rule: "timed-out" },
    { message: "received unexpected HTTP status: 408 Request Timeout", statuses: [500], class: "transient", rule: "http-408" },
    { message: "received unexpected HTTP status: 410 Gone", statuses: [500], class: "permanent", rule: "http-4xx" },
    // containerd image store wording (Docker with the containerd snapshotter)
    {
      message: 'failed to resolve reference "docker.io/library/nope:latest": docker.io/library/nope:latest: not found',
      statuses: EITHER,
      class: "permanent",
      rule: "not-found",
    },
    {
      message:
        'failed to resolve reference "registry.local/team/app:1": unexpected status from HEAD request to https://registry.local/v2/team/app/manifests/1: 503 Service Unavailable',
      statuses: BEFORE_MANIFEST,
      class: "transient",
      rule: "http-5xx",
    },
  ]);
});

describe("classify: precedence when causes combine", () => {
  check([
    // The cause inside the daemon's retry wrapper decides, not the wrapper.
    { message: "download failed after attempts=6: manifest unknown", statuses: IN_STREAM, class: "permanent", rule: "manifest-unknown" },
    {
      message: "error pulling image configuration: download failed after attempts=1: denied: requested access to the resource is denied",
      statuses: IN_STREAM,
      class: "permanent",
      rule: "denied",
    },
    {
      message: "download failed after attempts=6: dial tcp: lookup cdn.registry.local on 127.0.0.11:53: no such host",
      statuses: IN_STREAM,
      class: "permanent",
      rule: "no-such-host",
    },
    { message: "download failed after attempts=6: unexpected EOF", statuses: IN_STREAM, class: "transient", rule: "eof" },
    {
      message: "download failed after attempts=6: read tcp 172.17.0.2:40112->10.0.0.5:443: read: connection reset by peer",
      statuses: IN_STREAM,
      class: "transient",
      rule: "connection-reset",
    },
    // Rate limit wins over the transient wrapper and over auth words in the registry's text.
    { message: "download failed after attempts=1: toomanyrequests: Rate exceeded", statuses: IN_STREAM, class: "rate-limited", rule: "toomanyrequests" },
    { message: "toomanyrequests: unauthorized users are limited to 100 pulls per 6 hours", statuses: EITHER, class: "rate-limited", rule: "toomanyrequests" },
    // No matching manifest beats everything, including the "not found" newer engines append.
    {
      message: "no matching manifest for linux/arm64/v8 in the manifest list entries: no match for platform in manifest: not found",
      statuses: IN_STREAM,
      class: "skipped-platform",
      rule: "no-matching-manifest",
    },
    {
      message: "download failed after attempts=1: no matching manifest for linux/amd64 in the manifest list entries",
      statuses: IN_STREAM,
      class: "skipped-platform",
      rule: "no-matching-manifest",
    },
    // A registry-quoted status beats transport words and the Engine API status.
    {
      message: "download failed after attempts=6: received unexpected HTTP status: 503 Service Unavailable",
      statuses: [404, 400],
      class: "transient",
      rule: "http-5xx",
    },
    { message: "received unexpected HTTP status: 401 Unauthorized", statuses: [500], class: "permanent", rule: "unauthorized" },
    // User-chosen names inside quoted URLs never match a rule.
    { message: 'Head "https://registry.local/v2/qa/access-denied/manifests/unauthorized": EOF', statuses: BEFORE_MANIFEST, class: "transient", rule: "eof" },
    {
      message: 'Get "https://registry.local/v2/toomanyrequests/manifests/latest": dial tcp 10.0.0.5:443: connect: connection refused',
      statuses: BEFORE_MANIFEST,
      class: "transient",
      rule: "connection-refused",
    },
    { message: 'Head "https://registry.local/v2/team/manifest unknown/manifests/x": EOF', statuses: BEFORE_MANIFEST, class: "transient", rule: "eof" },
    // Connection refused on the daemon's socket is the engine, not the registry.
    {
      message:
        'Post "http://%2Fvar%2Frun%2Fdocker.sock/v1.41/images/create?fromImage=nginx&tag=latest": dial unix /var/run/docker.sock: connect: connection refused',
      statuses: [undefined],
      class: "engine-unreachable",
      rule: "docker-socket-dial",
    },
    {
      message:
        'Got permission denied while trying to connect to the Docker daemon socket at unix:///var/run/docker.sock: Post "http://%2Fvar%2Frun%2Fdocker.sock/v1.41/images/create": dial unix /var/run/docker.sock: connect: permission denied',
      statuses: [undefined],
      class: "engine-unreachable",
      rule: "docker-socket-permission",
    },
    {
      message: 'error during connect: Post "http://docker.example:2375/v1.41/images/create": dial tcp 10.0.0.9:2375: connect: connection refused',
      statuses: [undefined],
      class: "engine-unreachable",
      rule: "error-during-connect",
    },
    // The operating system's "permission denied" on a file is not the registry's "denied" code.
    { message: "open /var/lib/docker/tmp/GetImageBlob123: permission denied", statuses: IN_STREAM, class: "transient", rule: "unknown-message" },
  ]);
});

describe("classify: case-insensitive where Docker's wording varies", () => {
  check([
    { message: "Manifest Unknown", statuses: EITHER, class: "permanent", rule: "manifest-unknown" },
    { message: "TOOMANYREQUESTS: slow down", statuses: [500], class: "rate-limited", rule: "toomanyrequests" },
    { message: "UNAUTHORIZED: authentication required", statuses: EITHER, class: "permanent", rule: "unauthorized" },
    {
      message: "No Matching Manifest for windows/amd64 in the manifest list entries",
      statuses: IN_STREAM,
      class: "skipped-platform",
      rule: "no-matching-manifest",
    },
    {
      message: "cannot connect to the docker daemon at tcp://10.0.0.9:2375. Is the docker daemon running?",
      statuses: [undefined],
      class: "engine-unreachable",
      rule: "docker-daemon-down",
    },
    { message: "Received Unexpected HTTP Status: 502 Bad Gateway", statuses: [500], class: "transient", rule: "http-5xx" },
  ]);
});

describe("classify: messages no rule knows fall back on the Engine API status", () => {
  const unknown = "something a future dockerd says";
  check([
    // No status or an error line in a 200 stream: transient (a wrong "transient" costs bounded retries).
    { message: unknown, statuses: [undefined, 200], class: "transient", rule: "unknown-message" },
    { message: unknown, statuses: [400], class: "permanent", rule: "status-400" },
    { message: unknown, statuses: [401], class: "permanent", rule: "status-401" },
    { message: unknown, statuses: [403], class: "permanent", rule: "status-403" },
    { message: unknown, statuses: [404], class: "permanent", rule: "status-404" },
    { message: unknown, statuses: [408], class: "transient", rule: "status-408" },
    { message: unknown, statuses: [409, 499], class: "permanent", rule: "status-4xx" },
    { message: unknown, statuses: [429], class: "rate-limited", rule: "status-429" },
    { message: unknown, statuses: [500, 502, 503, 504, 599], class: "transient", rule: "status-5xx" },
    // Not an error status at all: no information, same as no status.
    { message: unknown, statuses: [302, 600], class: "transient", rule: "unknown-message" },
    { message: "", statuses: [undefined], class: "transient", rule: "unknown-message" },
    { message: "", statuses: [500], class: "transient", rule: "status-5xx" },
    { message: "", statuses: [404], class: "permanent", rule: "status-404" },
  ]);
});

describe("classify: hints", () => {
  const rows: readonly { readonly message: string; readonly httpStatus?: number; readonly mentions: readonly string[] }[] = [
    { message: "toomanyrequests: You have reached your pull rate limit.", mentions: ["docker login", "DOCKER_CONFIG", "mirror"] },
    { message: "something new", httpStatus: 429, mentions: ["docker login", "mirror"] },
    {
      message:
        "pull access denied for team/private, repository does not exist or may require 'docker login': denied: requested access to the resource is denied",
      mentions: ["image name", "credentials"],
    },
    { message: "unauthorized: authentication required", mentions: ["credentials"] },
    { message: "no matching manifest for linux/amd64 in the manifest list entries", mentions: ["CPU architecture"] },
    { message: "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?", mentions: ["dockerd", "DOCKER_HOST"] },
    { message: "dial tcp: lookup registry.invalid on 127.0.0.53:53: no such host", mentions: ["registry name", "DNS"] },
    { message: 'Get "https://registry.local/v2/": x509: certificate signed by unknown authority', mentions: ["certificate", "CA"] },
    { message: 'Get "https://registry.local:5000/v2/": http: server gave HTTP response to HTTPS client', mentions: ["insecure-registries"] },
    { message: "write /var/lib/docker/tmp/x: no space left on device", mentions: ["disk"] },
    { message: "invalid reference format", httpStatus: 400, mentions: ["reference"] },
  ];
  for (const row of rows) {
    it(`${JSON.stringify(row.message)} hints at ${row.mentions.join(", ")}`, () => {
      const { hint } = classify(row);
      assert.ok(hint !== undefined, "expected a hint");
      for (const word of row.mentions) assert.ok(hint.includes(word), `hint ${JSON.stringify(hint)} should mention ${word}`);
      assert.ok(!hint.includes("\n"), "a hint is one line");
    });
  }

  it("gives no hint where there is nothing for the user to do", () => {
    for (const message of ["unexpected EOF", "received unexpected HTTP status: 503 Service Unavailable", "something new"]) {
      assert.equal(classify({ message }).hint, undefined, message);
      assert.equal(Object.hasOwn(classify({ message }), "hint"), false, message);
    }
  });
});

describe("classifyOwn: prepull's own failures arrive typed, no message is parsed", () => {
  it("a broken Docker config or a missing credential helper is permanent, with a hint to fix it", () => {
    const c = classifyOwn({ kind: "credentials", retryable: false });
    assert.deepEqual([c.class, c.rule], ["permanent", "credentials-config"]);
    assert.ok(c.hint?.includes("credential helper"));
  });

  it("a credential helper that timed out may answer next time: transient", () => {
    assert.deepEqual(classifyOwn({ kind: "credentials", retryable: true }).class, "transient");
  });

  it("a connection to the engine lost mid-pull is worth a retry", () => {
    const c = classifyOwn({ kind: "lost" });
    assert.deepEqual([c.class, c.rule], ["transient", "engine-connection-lost"]);
  });

  it("our own wording is no longer parsed: a message that merely looks like ours is the engine's, and the status decides", () => {
    assert.equal(classify({ message: "engine unreachable: connect ENOENT /var/run/docker.sock", httpStatus: 500 }).class, "transient");
    assert.equal(classify({ message: "cannot use the Docker config /x/config.json: not JSON" }).rule, "unknown-message");
  });
});
