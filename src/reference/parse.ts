// Parses what a user wrote ("nginx", "ghcr.io/o/r:1@sha256:…") into the normalized Reference
// that names one image everywhere else: in the plan, the per-registry gates and the report.
// The rules are Docker's (distribution/reference ParseNormalizedNamed + TagNameOnly), so the
// canonical form is the name `docker pull` would record for the same input.
import type { Reference, Result } from "../types.js";
import { NAME_MAX_LENGTH, checkDigest, checkDomain, checkPath, checkTag, type Problem } from "./grammar.js";

/** Why an input is not an image reference. `reason` is a sentence fragment naming the bad part. */
export interface ReferenceError {
  readonly input: string;
  readonly reason: string;
}

/** Docker Hub's one registry key; "index.docker.io" is normalized to it. */
export const DOCKER_HUB = "docker.io";
const LEGACY_DOCKER_HUB = "index.docker.io";
const OFFICIAL_PREFIX = "library/";
const DEFAULT_TAG = "latest";

/** `sha256:<hex>` or a 64-hex image ID: something copied from `docker images`, not a pullable name. */
const BARE_IMAGE_ID = /^(?:[a-f0-9]{64}|sha(?:256|384|512):[a-fA-F0-9]+)$/;

interface Parts {
  /** The domain as written, or undefined when the name has none (Docker Hub). */
  readonly domain: string | undefined;
  readonly path: string;
  readonly tag: string | undefined;
  readonly digest: string | undefined;
}

export function parseReference(input: string): Result<Reference, ReferenceError> {
  const problem = checkWhole(input);
  if (problem !== undefined) return fail(input, problem);
  const parts = splitReference(input);
  const partProblem = checkParts(parts);
  if (partProblem !== undefined) return fail(input, partProblem);
  const reference = normalize(input, parts);
  const nameLength = reference.registry.length + 1 + reference.repository.length;
  if (nameLength > NAME_MAX_LENGTH) {
    return fail(input, `name is ${nameLength} characters long counting the registry; the limit is ${NAME_MAX_LENGTH}`);
  }
  return { ok: true, value: reference };
}

/** One line for a user, e.g. `invalid image reference "Nginx": repository name must be lowercase`. */
export function formatReferenceError(error: ReferenceError): string {
  return `invalid image reference ${JSON.stringify(error.input)}: ${error.reason}`;
}

function fail(input: string, reason: string): Result<Reference, ReferenceError> {
  return { ok: false, error: { input, reason } };
}

// Problems with the input as a whole, caught before splitting so the reason is not about a part
// the user never meant to write (e.g. "-v" read as the repository "-v").
function checkWhole(input: string): Problem {
  if (input === "") return "reference is empty";
  if (input.trim() !== input) return "has leading or trailing whitespace; remove it";
  if (input.startsWith("-")) return "looks like a command-line option; image references never start with '-'";
  if (BARE_IMAGE_ID.test(input)) {
    return 'a bare image ID is not a reference to pull; name the repository too, e.g. "nginx@sha256:<64 hex digits>"';
  }
  return undefined;
}

// The digest goes first because its own ":" would otherwise read as a tag separator. The tag is
// then whatever follows the first ":" after the last "/"; a ":" before that "/" is a port.
function splitReference(input: string): Parts {
  const at = input.indexOf("@");
  const beforeDigest = at === -1 ? input : input.slice(0, at);
  const digest = at === -1 ? undefined : input.slice(at + 1);
  const colon = beforeDigest.indexOf(":", beforeDigest.lastIndexOf("/") + 1);
  const name = colon === -1 ? beforeDigest : beforeDigest.slice(0, colon);
  const tag = colon === -1 ? undefined : beforeDigest.slice(colon + 1);
  return { ...splitDomain(name), tag, digest };
}

// Docker's rule: the first component is a registry only when it cannot be a Docker Hub namespace:
// it has "." or ":", is "localhost", or has an uppercase letter (Hub namespaces are lowercase).
function splitDomain(name: string): Pick<Parts, "domain" | "path"> {
  const slash = name.indexOf("/");
  if (slash === -1) return { domain: undefined, path: name };
  const first = name.slice(0, slash);
  const isDomain = /[.:]/.test(first) || first === "localhost" || first.toLowerCase() !== first;
  return isDomain ? { domain: first, path: name.slice(slash + 1) } : { domain: undefined, path: name };
}

function checkParts(parts: Parts): Problem {
  if (parts.domain === undefined && parts.path === "") {
    return "repository name is empty; write the image name before the tag or digest";
  }
  if (parts.domain !== undefined) {
    const domainProblem = checkDomain(parts.domain);
    if (domainProblem !== undefined) return domainProblem;
    if (parts.path === "") return `repository path is missing after registry ${JSON.stringify(parts.domain)}`;
  }
  return (
    checkPath(parts.path) ?? (parts.tag === undefined ? undefined : checkTag(parts.tag)) ?? (parts.digest === undefined ? undefined : checkDigest(parts.digest))
  );
}

function normalize(input: string, parts: Parts): Reference {
  const registry = parts.domain === undefined || parts.domain === LEGACY_DOCKER_HUB ? DOCKER_HUB : parts.domain;
  const repository = registry === DOCKER_HUB && !parts.path.includes("/") ? OFFICIAL_PREFIX + parts.path : parts.path;
  const tag = parts.tag ?? (parts.digest === undefined ? DEFAULT_TAG : undefined);
  const canonical = `${registry}/${repository}` + (tag === undefined ? "" : `:${tag}`) + (parts.digest === undefined ? "" : `@${parts.digest}`);
  return {
    input,
    registry,
    repository,
    ...(tag === undefined ? {} : { tag }),
    ...(parts.digest === undefined ? {} : { digest: parts.digest }),
    canonical,
  };
}
