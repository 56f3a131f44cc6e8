import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { dedupeReferences, formatReferenceError, parseReference } from "../../src/reference/index.js";
import type { Reference } from "../../src/types.js";

const H64 = "0123456789abcdef".repeat(4);
const H96 = "0123456789abcdef".repeat(6);
const H128 = "0123456789abcdef".repeat(8);
const TAG128 = "v" + "1".repeat(127);

type Row = readonly [input: string, registry: string, repository: string, tag: string | undefined, digest: string | undefined, canonical: string];

const HUB_NGINX = ["docker.io", "library/nginx", "latest", undefined, "docker.io/library/nginx:latest"] as const;

const valid: readonly Row[] = [
  // Docker Hub spellings all land on one registry key and the library/ namespace.
  ["nginx", ...HUB_NGINX],
  ["library/nginx", ...HUB_NGINX],
  ["docker.io/nginx", ...HUB_NGINX],
  ["docker.io/library/nginx", ...HUB_NGINX],
  ["index.docker.io/library/nginx", ...HUB_NGINX],
  ["index.docker.io/nginx", ...HUB_NGINX],
  ["nginx:latest", ...HUB_NGINX],
  ["nginx:1.25-alpine", "docker.io", "library/nginx", "1.25-alpine", undefined, "docker.io/library/nginx:1.25-alpine"],
  ["bitnami/redis:7.2", "docker.io", "bitnami/redis", "7.2", undefined, "docker.io/bitnami/redis:7.2"],
  ["a", "docker.io", "library/a", "latest", undefined, "docker.io/library/a:latest"],
  ["0/1", "docker.io", "0/1", "latest", undefined, "docker.io/0/1:latest"],
  // Docker does not alias registry-1.docker.io; it stays its own registry with no library/ prefix.
  ["registry-1.docker.io/nginx", "registry-1.docker.io", "nginx", "latest", undefined, "registry-1.docker.io/nginx:latest"],
  // localhost without a "/" is a Hub image and ":5000" its tag, exactly as Docker reads it.
  ["localhost:5000", "docker.io", "library/localhost", "5000", undefined, "docker.io/library/localhost:5000"],
  ["localhost/foo", "localhost", "foo", "latest", undefined, "localhost/foo:latest"],
  ["localhost:5000/foo:1.0", "localhost:5000", "foo", "1.0", undefined, "localhost:5000/foo:1.0"],
  ["127.0.0.1:5000/a/b/c:tag", "127.0.0.1:5000", "a/b/c", "tag", undefined, "127.0.0.1:5000/a/b/c:tag"],
  ["[::1]:5000/x", "[::1]:5000", "x", "latest", undefined, "[::1]:5000/x:latest"],
  ["[::1]/x", "[::1]", "x", "latest", undefined, "[::1]/x:latest"],
  ["[2001:db8::1]:443/team/app:v1", "[2001:db8::1]:443", "team/app", "v1", undefined, "[2001:db8::1]:443/team/app:v1"],
  ["my-registry.local:8443/app", "my-registry.local:8443", "app", "latest", undefined, "my-registry.local:8443/app:latest"],
  ["xn--bcher-kva.example/app", "xn--bcher-kva.example", "app", "latest", undefined, "xn--bcher-kva.example/app:latest"],
  ["ghcr.io/owner/repo", "ghcr.io", "owner/repo", "latest", undefined, "ghcr.io/owner/repo:latest"],
  ["quay.io/org/sub/team/app:v2.0.1", "quay.io", "org/sub/team/app", "v2.0.1", undefined, "quay.io/org/sub/team/app:v2.0.1"],
  // A digest alone gets no default tag; a tag and a digest are both kept.
  [`registry.example.com/org/app@sha256:${H64}`, "registry.example.com", "org/app", undefined, `sha256:${H64}`, `registry.example.com/org/app@sha256:${H64}`],
  [`nginx:1.25@sha256:${H64}`, "docker.io", "library/nginx", "1.25", `sha256:${H64}`, `docker.io/library/nginx:1.25@sha256:${H64}`],
  [`nginx@sha256:${H64}`, "docker.io", "library/nginx", undefined, `sha256:${H64}`, `docker.io/library/nginx@sha256:${H64}`],
  [`gcr.io/project/image@sha512:${H128}`, "gcr.io", "project/image", undefined, `sha512:${H128}`, `gcr.io/project/image@sha512:${H128}`],
  [`example.com/x@sha384:${H96}`, "example.com", "x", undefined, `sha384:${H96}`, `example.com/x@sha384:${H96}`],
  // Every separator the grammar allows: ".", "_", "__", and runs of dashes.
  ["example.com/a__b/c.d/e-f/g---h/i_j", "example.com", "a__b/c.d/e-f/g---h/i_j", "latest", undefined, "example.com/a__b/c.d/e-f/g---h/i_j:latest"],
  ["my_org/my.app-name", "docker.io", "my_org/my.app-name", "latest", undefined, "docker.io/my_org/my.app-name:latest"],
  // Tags: up to 128 characters, may start with "_", may hold uppercase.
  [`nginx:${TAG128}`, "docker.io", "library/nginx", TAG128, undefined, `docker.io/library/nginx:${TAG128}`],
  ["nginx:_underscore", "docker.io", "library/nginx", "_underscore", undefined, "docker.io/library/nginx:_underscore"],
  ["nginx:Latest-TAG.1", "docker.io", "library/nginx", "Latest-TAG.1", undefined, "docker.io/library/nginx:Latest-TAG.1"],
  // Uppercase in the first component makes it a registry (Docker's rule: Hub namespaces are lowercase).
  ["Foo/bar", "Foo", "bar", "latest", undefined, "Foo/bar:latest"],
  ["UPPER.example.com/x", "UPPER.example.com", "x", "latest", undefined, "UPPER.example.com/x:latest"],
  // The bare-ID rule is narrow: "sha256" is still a usable Hub repository name with a non-hex tag.
  ["sha256:latest", "docker.io", "library/sha256", "latest", undefined, "docker.io/library/sha256:latest"],
  // Name length is counted on the normalized registry/repository: 255 is the most allowed.
  ["example.com/" + "a".repeat(243), "example.com", "a".repeat(243), "latest", undefined, `example.com/${"a".repeat(243)}:latest`],
  ["a".repeat(237), "docker.io", "library/" + "a".repeat(237), "latest", undefined, `docker.io/library/${"a".repeat(237)}:latest`],
];

function expected([input, registry, repository, tag, digest, canonical]: Row): Reference {
  return {
    input,
    registry,
    repository,
    ...(tag === undefined ? {} : { tag }),
    ...(digest === undefined ? {} : { digest }),
    canonical,
  };
}

describe("parseReference: valid references", () => {
  for (const row of valid) {
    it(`parses ${JSON.stringify(row[0].length > 60 ? row[0].slice(0, 60) + "…" : row[0])}`, () => {
      assert.deepStrictEqual(parseReference(row[0]), { ok: true, value: expected(row) });
    });
  }

  it("canonical forms are fixed points: parsing one gives it back", () => {
    for (const row of valid) {
      const reparsed = parseReference(row[5]);
      assert.equal(reparsed.ok && reparsed.value.canonical, row[5], `canonical of ${row[0]}`);
    }
  });
});

const OPTION = "looks like a command-line option; image references never start with '-'";
const BARE_ID = 'a bare image ID is not a reference to pull; name the repository too, e.g. "nginx@sha256:<64 hex digits>"';
const EMPTY_NAME = "repository name is empty; write the image name before the tag or digest";
const LOWERCASE = "repository name must be lowercase";
const WHITESPACE = "has leading or trailing whitespace; remove it";
const separators = (c: string): string =>
  `repository path component "${c}" must start and end with a letter or digit, with words separated by ".", "_", "__" or dashes`;
const label = (l: string): string => `registry host label "${l}" must contain only letters, digits and "-", and start and end with a letter or digit`;

const invalid: readonly (readonly [input: string, reason: string])[] = [
  ["", "reference is empty"],
  [" nginx", WHITESPACE],
  ["nginx\n", WHITESPACE],
  ["\tnginx", WHITESPACE],
  ["-v", OPTION],
  ["--help", OPTION],
  ["-nginx", OPTION],
  [`sha256:${H64}`, BARE_ID],
  ["sha256:abc", BARE_ID],
  [H64, BARE_ID],
  [":tag", EMPTY_NAME],
  [`@sha256:${H64}`, EMPTY_NAME],
  ["Nginx", LOWERCASE],
  ["docker.io/Library/nginx", LOWERCASE],
  ["Foo/Bar", LOWERCASE],
  ["ghcr.io/Owner/repo", LOWERCASE],
  ["a//b", 'repository path "a//b" has an empty component; remove the extra "/"'],
  ["nginx/", 'repository path "nginx/" has an empty component; remove the extra "/"'],
  ["example.com/", 'repository path is missing after registry "example.com"'],
  ["foo bar", 'repository name contains invalid character " "; use lowercase letters, digits, ".", "_", "-" and "/"'],
  ["foo$bar", 'repository name contains invalid character "$"; use lowercase letters, digits, ".", "_", "-" and "/"'],
  ["ngînx", 'repository name contains invalid character "î"; use lowercase letters, digits, ".", "_", "-" and "/"'],
  ["a..b", separators("a..b")],
  ["a-", separators("a-")],
  ["org/_a", separators("_a")],
  ["a___b", separators("a___b")],
  ["nginx:", 'tag is empty; remove the trailing ":" or add a tag'],
  ["nginx:-bad", 'tag "-bad" must start with a letter, digit or "_"'],
  ["nginx:.bad", 'tag ".bad" must start with a letter, digit or "_"'],
  ["nginx:1 0", 'tag "1 0" contains invalid character " "; use letters, digits, "_", "." and "-"'],
  ["nginx:latest:foo", 'tag "latest:foo" contains invalid character ":"; use letters, digits, "_", "." and "-"'],
  [`nginx:${TAG128}1`, "tag is 129 characters long; the limit is 128"],
  ["nginx@", 'digest is empty after "@"; add "sha256:<64 hex digits>" or remove the "@"'],
  ["nginx@sha256", 'digest "sha256" must be "algorithm:hex", e.g. "sha256:" followed by 64 hex digits'],
  ["nginx@sha256:abc", "sha256 digest must be exactly 64 lowercase hex digits; got 3"],
  [`nginx@sha256:${H64}0`, "sha256 digest must be exactly 64 lowercase hex digits; got 65"],
  [`nginx@sha256:${H64.toUpperCase()}`, 'sha256 digest must be lowercase hex digits (0-9, a-f); found "A"'],
  [`nginx@sha512:${H64}`, "sha512 digest must be exactly 128 lowercase hex digits; got 64"],
  [`nginx@SHA256:${H64}`, 'digest algorithm "SHA256" is malformed; use a lowercase name such as "sha256"'],
  [`nginx@sha+:${H64}`, 'digest algorithm "sha+" is malformed; use a lowercase name such as "sha256"'],
  [`nginx@md5:${H64.slice(0, 32)}`, 'digest algorithm "md5" is not supported; use sha256, sha384 or sha512'],
  // Names inherited from Object.prototype must not pass for algorithms.
  [`nginx@constructor:${H64}`, 'digest algorithm "constructor" is not supported; use sha256, sha384 or sha512'],
  [`nginx:1.0@sha256:${H64}@x`, "sha256 digest must be exactly 64 lowercase hex digits; got 66"],
  ["host:port0x/a", 'registry port "port0x" must be digits'],
  ["nginx:1.0/x", 'registry port "1.0" must be digits'],
  ["localhost:/a", 'registry port is empty after ":"; add the port number or remove the ":"'],
  ["localhost:99999/a", 'registry port "99999" must be between 1 and 65535'],
  ["localhost:0/a", 'registry port "0" must be between 1 and 65535'],
  ["bad-.example.com/a", label("bad-")],
  ["exa_mple.com/a", label("exa_mple")],
  ["example..com/a", 'registry host "example..com" has an empty label; check the dots'],
  [".example.com/a", 'registry host ".example.com" has an empty label; check the dots'],
  ["[::1/x", 'registry "[::1" is not a valid bracketed IPv6 address such as "[::1]:5000"'],
  ["[zz::1]:5000/x", 'registry "[zz::1]:5000" is not a valid bracketed IPv6 address such as "[::1]:5000"'],
  ["[::1]5000/x", 'registry "[::1]5000" has text after "]" that is not a ":port"'],
  ["[::1]:abc/x", 'registry port "abc" must be digits'],
  ["example.com/" + "a".repeat(244), "name is 256 characters long counting the registry; the limit is 255"],
  // library/ counts: 238 characters written become 256 after normalization.
  ["a".repeat(238), "name is 256 characters long counting the registry; the limit is 255"],
  [`org/${"a".repeat(300)}:tag`, "name is 314 characters long counting the registry; the limit is 255"],
];

describe("parseReference: invalid references", () => {
  for (const [input, reason] of invalid) {
    it(`rejects ${JSON.stringify(input.length > 60 ? input.slice(0, 60) + "…" : input)}`, () => {
      assert.deepStrictEqual(parseReference(input), { ok: false, error: { input, reason } });
    });
  }
});

describe("formatReferenceError", () => {
  const cases: readonly (readonly [input: string, message: string])[] = [
    ["Nginx", 'invalid image reference "Nginx": repository name must be lowercase'],
    ["--help", `invalid image reference "--help": ${OPTION}`],
    // JSON quoting makes invisible whitespace visible in the message.
    ["nginx\n", `invalid image reference "nginx\\n": ${WHITESPACE}`],
    ["", 'invalid image reference "": reference is empty'],
  ];
  for (const [input, message] of cases) {
    it(`formats the error for ${JSON.stringify(input)}`, () => {
      const result = parseReference(input);
      assert.equal(result.ok, false);
      if (!result.ok) assert.equal(formatReferenceError(result.error), message);
    });
  }
});

function parseAll(inputs: readonly string[]): Reference[] {
  return inputs.map((input) => {
    const result = parseReference(input);
    if (!result.ok) throw new Error(`test input ${JSON.stringify(input)} did not parse: ${result.error.reason}`);
    return result.value;
  });
}

describe("dedupeReferences", () => {
  const cases: readonly (readonly [name: string, inputs: readonly string[], kept: readonly string[]])[] = [
    ["empty list", [], []],
    ["no duplicates keeps everything in order", ["redis", "nginx", "ghcr.io/o/r"], ["redis", "nginx", "ghcr.io/o/r"]],
    [
      "Hub spellings of one image collapse to the first written",
      ["nginx", "docker.io/library/nginx:latest", "redis", "index.docker.io/nginx", "library/nginx:latest"],
      ["nginx", "redis"],
    ],
    ["a later first-occurrence keeps its position", ["b", "a", "b", "c", "a"], ["b", "a", "c"]],
    ["different tags are different images", ["nginx:1", "nginx:2", "nginx:1"], ["nginx:1", "nginx:2"]],
    [
      "tag+digest and digest-only differ in canonical form, so both are kept",
      [`nginx@sha256:${H64}`, `nginx:1@sha256:${H64}`, `docker.io/library/nginx@sha256:${H64}`],
      [`nginx@sha256:${H64}`, `nginx:1@sha256:${H64}`],
    ],
    ["registry case is kept as written, as Docker does", ["UPPER.example.com/x", "upper.example.com/x"], ["UPPER.example.com/x", "upper.example.com/x"]],
  ];
  for (const [name, inputs, kept] of cases) {
    it(name, () => {
      assert.deepStrictEqual(
        dedupeReferences(parseAll(inputs)).map((ref) => ref.input),
        kept,
      );
    });
  }

  it("does not modify the list it is given", () => {
    const refs = parseAll(["nginx", "nginx", "redis"]);
    const copy = [...refs];
    dedupeReferences(refs);
    assert.deepStrictEqual(refs, copy);
  });
});
