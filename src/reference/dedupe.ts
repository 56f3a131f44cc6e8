import type { Reference } from "../types.js";

/**
 * The references with repeats removed: the first of each canonical form is kept, in input order,
 * so "nginx" and "docker.io/library/nginx:latest" are pulled once and reported as first written.
 */
export function dedupeReferences(refs: readonly Reference[]): Reference[] {
  const seen = new Set<string>();
  return refs.filter((ref) => {
    if (seen.has(ref.canonical)) return false;
    seen.add(ref.canonical);
    return true;
  });
}
