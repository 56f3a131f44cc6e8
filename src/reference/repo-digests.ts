// An engine lists the digests an image was pulled by as RepoDigests ("repo@sha256:…", Docker
// Hub's in the short form "nginx@sha256:…"): these read them for one repository.
import type { Reference } from "../types.js";
import { parseReference } from "./parse.js";

/** The digests RepoDigests hold for the reference's repository (on its registry), in their order. */
export function digestsFor(repoDigests: readonly string[], reference: Reference): string[] {
  return repoDigests.flatMap((entry) => {
    const parsed = parseReference(entry);
    return parsed.ok && parsed.value.registry === reference.registry && parsed.value.repository === reference.repository && parsed.value.digest
      ? [parsed.value.digest]
      : [];
  });
}

/** Whether RepoDigests hold `digest` for the reference's repository. */
export function namesDigest(repoDigests: readonly string[], reference: Reference, digest: string): boolean {
  return digestsFor(repoDigests, reference).includes(digest);
}
