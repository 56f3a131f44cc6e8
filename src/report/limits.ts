// Bounds on foreign text. An engine (or a registry it quotes) decides how long its messages are;
// prepull decides how much of one it records: a 2 MB error line must not become a 17 MB report, and
// GitHub rejects a step summary over 1 MiB. Secrets are masked before anything is cut, so a cut
// can never leave half a secret behind.
import { maskSecrets } from "../secrets.js";

/** Longest message recorded per attempt or image, in characters. */
export const MESSAGE_LIMIT = 4096;
/** GitHub refuses a step summary over 1 MiB; prepull stays below with room for other steps' notes. */
export const STEP_SUMMARY_LIMIT = 1024 * 1024 - 64 * 1024;

/** The text, or its first `max` characters and a note of how much was cut. */
export function clip(text: string, max: number = MESSAGE_LIMIT): string {
  if (text.length <= max) return text;
  const note = ` …[${text.length - max} more characters cut]`;
  let head = text.slice(0, max);
  // Never leave half of a surrogate pair: a lone surrogate is not valid UTF-8 text or XML.
  if (/[\ud800-\udbff]$/.test(head)) head = head.slice(0, -1);
  return `${head}${note}`;
}

/** Foreign text as prepull records it: secrets masked, then bounded. */
export function foreign(text: string, max: number = MESSAGE_LIMIT): string {
  return clip(maskSecrets(text), max);
}
