export { parseReference, formatReferenceError, DOCKER_HUB, type ReferenceError } from "./parse.js";
export { dedupeReferences } from "./dedupe.js";
export { digestsFor, namesDigest } from "./repo-digests.js";
