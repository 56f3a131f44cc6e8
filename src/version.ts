import { readFileSync } from "node:fs";

/** The package version, read from package.json (src/ and dist/ both sit one level below it). */
export function version(): string {
  const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string };
  return pkg.version;
}
