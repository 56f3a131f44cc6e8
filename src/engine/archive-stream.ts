// The answer of POST /images/load, folded line by line. The daemon answers 200 before it has read
// the archive, so success or failure is only known from the stream: an errorDetail line is the
// failure, "Loaded image: …" / "Loaded image ID: …" lines are what it loaded. Pure.
import { foreign } from "../report/limits.js";
import type { LoadOutcome } from "./engine.js";
import { decode, errorOf, LineSplitter } from "./pull-stream.js";

/** More names than this in one archive is not a docker-archive prepull wrote: the rest are not kept. */
export const MAX_LOADED_NAMES = 10_000;
const NAME_LIMIT = 512;

export interface LoadState {
  readonly names: string[];
  readonly ids: string[];
  /** The first error line's message. */
  error?: string;
}

export function newLoadState(): LoadState {
  return { names: [], ids: [] };
}

/** Folds one line, in place. Lines that are not JSON objects, and progress lines, are ignored. */
export function applyLoadLine(state: LoadState, line: string): LoadState {
  const message = decode(line) as { readonly stream?: unknown; readonly error?: unknown; readonly errorDetail?: { readonly message?: unknown } } | undefined;
  if (!message) return state;
  const error = errorOf(message);
  if (error !== undefined) {
    state.error ??= foreign(error);
    return state;
  }
  if (typeof message.stream !== "string") return state;
  for (const text of message.stream.split("\n")) {
    const id = /^Loaded image ID: (\S+)\s*$/.exec(text);
    const name = id ? undefined : /^Loaded image: (\S+)\s*$/.exec(text);
    const list = id ? state.ids : name ? state.names : undefined;
    const value = (id ?? name)?.[1];
    if (list && value !== undefined && list.length < MAX_LOADED_NAMES) list.push(foreign(value, NAME_LIMIT));
  }
  return state;
}

/**
 * How a load ended. `complete`: the stream ended normally (not cut off). A stream with neither an
 * error nor a loaded image loaded nothing: for prepull that is a failure, not an empty success.
 */
export function loadOutcome(state: LoadState, complete: boolean): LoadOutcome {
  if (state.error !== undefined) return { ok: false, message: state.error };
  if (!complete) return { ok: false, message: "the engine's answer was cut off before the load finished" };
  if (state.names.length === 0 && state.ids.length === 0) return { ok: false, message: "the engine loaded no image from it (not a docker-archive?)" };
  return { ok: true, names: [...state.names], ids: [...state.ids] };
}

/** Folds a whole recorded answer, e.g. in tests. */
export function parseLoadStream(text: string): LoadOutcome {
  const splitter = new LineSplitter();
  const state = newLoadState();
  const split = splitter.push(Buffer.from(text, "utf8"));
  if (!split.ok) return { ok: false, message: split.error };
  [...split.lines, ...splitter.end()].forEach((line) => applyLoadLine(state, line));
  return loadOutcome(state, true);
}
