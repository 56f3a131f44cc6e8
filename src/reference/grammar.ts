// The pieces of the distribution/reference grammar, one checker per part of a reference.
// Each checker returns the reason the part is wrong, or undefined when it is valid, so the
// parser can report the first problem in the words of the part that has it.

/** Why a part is invalid; undefined when it is valid. */
export type Problem = string | undefined;

/** Docker rejects names longer than this, counted on the normalized registry/repository. */
export const NAME_MAX_LENGTH = 255;
export const TAG_MAX_LENGTH = 128;

const DOMAIN_LABEL = /^[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?$/;
const IPV6_BODY = /^[a-fA-F0-9:]+$/;
const PORT = /^[0-9]+$/;
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const PATH_CHARS = /[^a-z0-9._\-/]/;
const TAG = /^\w[\w.-]*$/;
const TAG_CHARS = /[^\w.-]/;
const ALGORITHM = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*$/;
const NOT_LOWER_HEX = /[^a-f0-9]/;

/** The digest algorithms Docker's go-digest registers; anything else the engine refuses. */
// A Map, not an object literal, so "constructor" or "__proto__" are not found as algorithms.
const DIGEST_HEX_LENGTH: ReadonlyMap<string, number> = new Map([
  ["sha256", 64],
  ["sha384", 96],
  ["sha512", 128],
]);

const q = (s: string): string => JSON.stringify(s);

/** The first character matching `pattern`, quoted, for "contains invalid character" reasons. */
function firstMatch(value: string, pattern: RegExp): string {
  return q(pattern.exec(value)?.[0] ?? "");
}

/** host[:port], or [ipv6][:port]. */
export function checkDomain(domain: string): Problem {
  if (domain.startsWith("[")) return checkBracketedDomain(domain);
  const colon = domain.indexOf(":");
  const host = colon === -1 ? domain : domain.slice(0, colon);
  return checkHost(host) ?? (colon === -1 ? undefined : checkPort(domain.slice(colon + 1)));
}

function checkBracketedDomain(domain: string): Problem {
  const close = domain.indexOf("]");
  const body = close === -1 ? "" : domain.slice(1, close);
  if (!IPV6_BODY.test(body)) {
    return `registry ${q(domain)} is not a valid bracketed IPv6 address such as "[::1]:5000"`;
  }
  const rest = domain.slice(close + 1);
  if (rest === "") return undefined;
  if (!rest.startsWith(":")) return `registry ${q(domain)} has text after "]" that is not a ":port"`;
  return checkPort(rest.slice(1));
}

function checkHost(host: string): Problem {
  for (const label of host.split(".")) {
    if (label === "") return `registry host ${q(host)} has an empty label; check the dots`;
    if (!DOMAIN_LABEL.test(label)) {
      return `registry host label ${q(label)} must contain only letters, digits and "-", and start and end with a letter or digit`;
    }
  }
  return undefined;
}

// The grammar only asks for digits; the range check is ours, because no registry can listen on
// port 0 or above 65535 and failing here costs nothing while failing at pull time costs an attempt.
function checkPort(port: string): Problem {
  if (port === "") return `registry port is empty after ":"; add the port number or remove the ":"`;
  if (!PORT.test(port)) return `registry port ${q(port)} must be digits`;
  const n = Number(port);
  if (n < 1 || n > 65535) return `registry port ${q(port)} must be between 1 and 65535`;
  return undefined;
}

/** The repository path on its registry: lowercase components joined by "/". */
export function checkPath(path: string): Problem {
  if (path.split("/").includes("")) {
    return `repository path ${q(path)} has an empty component; remove the extra "/"`;
  }
  if (path.toLowerCase() !== path) return "repository name must be lowercase";
  if (PATH_CHARS.test(path)) {
    return `repository name contains invalid character ${firstMatch(path, PATH_CHARS)}; use lowercase letters, digits, ".", "_", "-" and "/"`;
  }
  for (const component of path.split("/")) {
    if (!PATH_COMPONENT.test(component)) {
      return `repository path component ${q(component)} must start and end with a letter or digit, with words separated by ".", "_", "__" or dashes`;
    }
  }
  return undefined;
}

export function checkTag(tag: string): Problem {
  if (tag === "") return `tag is empty; remove the trailing ":" or add a tag`;
  if (tag.length > TAG_MAX_LENGTH) return `tag is ${tag.length} characters long; the limit is ${TAG_MAX_LENGTH}`;
  if (TAG_CHARS.test(tag)) {
    return `tag ${q(tag)} contains invalid character ${firstMatch(tag, TAG_CHARS)}; use letters, digits, "_", "." and "-"`;
  }
  if (!TAG.test(tag)) return `tag ${q(tag)} must start with a letter, digit or "_"`;
  return undefined;
}

export function checkDigest(digest: string): Problem {
  if (digest === "") return `digest is empty after "@"; add "sha256:<64 hex digits>" or remove the "@"`;
  const colon = digest.indexOf(":");
  if (colon === -1) return `digest ${q(digest)} must be "algorithm:hex", e.g. "sha256:" followed by 64 hex digits`;
  const algorithm = digest.slice(0, colon);
  const encoded = digest.slice(colon + 1);
  if (!ALGORITHM.test(algorithm)) {
    return `digest algorithm ${q(algorithm)} is malformed; use a lowercase name such as "sha256"`;
  }
  const expected = DIGEST_HEX_LENGTH.get(algorithm);
  if (expected === undefined) return `digest algorithm ${q(algorithm)} is not supported; use sha256, sha384 or sha512`;
  if (encoded.length !== expected) {
    return `${algorithm} digest must be exactly ${expected} lowercase hex digits; got ${encoded.length}`;
  }
  if (NOT_LOWER_HEX.test(encoded)) {
    return `${algorithm} digest must be lowercase hex digits (0-9, a-f); found ${firstMatch(encoded, NOT_LOWER_HEX)}`;
  }
  return undefined;
}
