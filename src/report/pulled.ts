// The list of images a later CI step can rely on being on the engine, e.g. to `docker save` or to
// tell a test harness not to pull again. Skipped and failed images are left out on purpose.
import type { Report } from "../types.js";

/** Normalized references of images now present on the engine, one per line; "" when there are none. */
export function pulledList(report: Report): string {
  const references = report.images.filter((image) => image.status === "pulled" || image.status === "present").map((image) => image.reference);
  return references.map((reference) => `${reference}\n`).join("");
}
