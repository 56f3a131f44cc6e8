// Parsing of the POST /images/create answer: newline-delimited JSON messages. The HTTP status
// is 200 as soon as the manifest resolves, so whether the pull failed is decided here, by an error
// line, not by the status code. The daemon is foreign: a line, the number of layers and every
// string kept from it are bounded, and secrets it quotes are masked on the way in.
import { foreign } from "../report/limits.js";
import type { PullPhase } from "../types.js";

/** What one layer contributed: the most bytes ever reported for it, and its size once known. */
export interface LayerBytes {
  readonly bytes: number;
  readonly total?: number;
  /** Its download finished (or was not needed). */
  readonly done: boolean;
  /** Number of the latest line about this layer: the oldest unfinished layer is the stuck one. */
  readonly seenAt: number;
}

export interface PullState {
  /** Per layer id. A Map: layer ids are daemon text, and must not reach Object.prototype ("__proto__"). */
  readonly layers: ReadonlyMap<string, LayerBytes>;
  /** Downloaded bytes summed over layers. Grows only, even when the daemon restarts a layer. */
  readonly bytes: number;
  /** Sum of the layer sizes the daemon has told so far. */
  readonly total?: number;
  /** Status text of the latest message. */
  readonly lastStatus?: string;
  /** Id of the latest message (a layer id, or the tag on "Pulling from …"). */
  readonly lastId?: string;
  /** Layer named by the latest layer message: what a stall report points at. */
  readonly lastLayer?: string;
  readonly digest?: string;
  readonly upToDate: boolean;
  /** True once a final "Status: …" line arrived: dockerd's evidence of success, not proof (podman sends none; see confirmPull). */
  readonly finished: boolean;
  /** The daemon's error line; it decides failure although the HTTP status was 200. */
  readonly error?: string;
  /** Why prepull stopped reading the stream (a line too long, too many layers): the attempt fails now. */
  readonly stopped?: string;
  /** Status messages folded so far (each one is a progress report). */
  readonly lines: number;
  /** Layers whose download is done, kept with the sums so the phase is known in O(1). */
  readonly done: number;
}

/** The accumulator behind PullState: folded in place, so one line costs O(1) however many layers came before. */
interface MutablePullState {
  layers: Map<string, LayerBytes>;
  bytes: number;
  total?: number;
  /** How many layers have a known size (total is undefined while none has). */
  sized: number;
  done: number;
  lastStatus?: string;
  lastId?: string;
  lastLayer?: string;
  digest?: string;
  upToDate: boolean;
  finished: boolean;
  error?: string;
  stopped?: string;
  lines: number;
}

/** A fresh state for one pull attempt. */
export function newPullState(): PullState {
  const state: MutablePullState = { layers: new Map(), bytes: 0, sized: 0, done: 0, upToDate: false, finished: false, lines: 0 };
  return state;
}

/** Read-only stand-in for "nothing received yet". Never fold lines into it: use newPullState(). */
export const initialPullState: PullState = Object.freeze(newPullState());

/** Longest line prepull reads from a pull stream. The daemon's lines are a few hundred bytes. */
export const MAX_LINE_BYTES = 1024 * 1024;
/** Most distinct layer ids one pull may report; images have at most 127 layers (overlayfs). */
export const MAX_LAYERS = 1000;
/** Longest status text or layer id kept: they are shown in logs and the live view. */
const STATUS_LIMIT = 256;

export type SplitResult = { readonly ok: true; readonly lines: readonly string[] } | { readonly ok: false; readonly error: string };

/**
 * Splits a byte stream into lines. Only the new chunk is searched for a newline, and an unfinished
 * line is kept as a list of chunks, so a long line costs linear time; past MAX_LINE_BYTES it fails.
 */
export class LineSplitter {
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  readonly #maxLineBytes: number;

  constructor(maxLineBytes: number = MAX_LINE_BYTES) {
    this.#maxLineBytes = maxLineBytes;
  }

  push(chunk: Buffer): SplitResult {
    const lines: string[] = [];
    let start = 0;
    for (let newline = chunk.indexOf(10); newline !== -1; newline = chunk.indexOf(10, start)) {
      const tooLong = this.#take(chunk.subarray(start, newline));
      if (tooLong) return tooLong;
      const line = this.#drain();
      if (line !== "") lines.push(line);
      start = newline + 1;
    }
    const tooLong = this.#take(chunk.subarray(start));
    return tooLong ?? { ok: true, lines };
  }

  /** The last line of a stream that did not end with a newline. */
  end(): readonly string[] {
    const line = this.#drain();
    return line === "" ? [] : [line];
  }

  #take(part: Buffer): { ok: false; error: string } | undefined {
    if (part.length === 0) return undefined;
    this.#pendingBytes += part.length;
    if (this.#pendingBytes > this.#maxLineBytes) {
      this.#pending = [];
      return {
        ok: false,
        error: `the engine sent a pull-stream line longer than ${formatLimit(this.#maxLineBytes)} (the daemon's lines are a few hundred bytes): prepull stopped reading it`,
      };
    }
    this.#pending.push(part);
    return undefined;
  }

  #drain(): string {
    // Decoded only once whole: a UTF-8 character is never split, since a newline byte is never part of one.
    const line = Buffer.concat(this.#pending, this.#pendingBytes).toString("utf8").trim();
    this.#pending = [];
    this.#pendingBytes = 0;
    return line;
  }
}

function formatLimit(bytes: number): string {
  return bytes % (1024 * 1024) === 0 ? `${bytes / (1024 * 1024)} MiB` : `${bytes} bytes`;
}

/** One decoded message; everything optional because the daemon sends many shapes. */
interface PullMessage {
  readonly status?: string;
  readonly id?: string;
  readonly progressDetail?: { readonly current?: number; readonly total?: number };
  readonly error?: string;
  readonly errorDetail?: { readonly message?: string };
}

/** Statuses after which a layer's whole size counts as downloaded. */
const LAYER_DONE = new Set(["Download complete", "Pull complete", "Already exists"]);
/** Statuses after the download: the layer is no longer a stall suspect. */
const LAYER_DOWNLOADED = new Set([...LAYER_DONE, "Verifying Checksum", "Extracting"]);

/**
 * Folds one line of the stream into the state, in place, and returns it. Lines that are not JSON
 * objects are ignored. Daemon text (error, status, id) is masked and bounded as it enters.
 */
export function applyLine(state: PullState, line: string): PullState {
  const target = state as MutablePullState;
  if (target === initialPullState) throw new Error("applyLine: fold into newPullState(), not the shared initialPullState");
  if (target.stopped !== undefined) return state;
  const message = decode(line);
  if (!message) return state;
  const error = errorOf(message);
  if (error !== undefined) {
    target.error ??= foreign(error);
    return state;
  }
  const status = typeof message.status === "string" ? foreign(message.status, STATUS_LIMIT) : undefined;
  if (status === undefined) return state;
  const id = typeof message.id === "string" && message.id !== "" ? foreign(message.id, STATUS_LIMIT) : undefined;
  target.lines += 1;
  target.lastStatus = status;
  target.lastId = id;
  if (id === undefined) applyGlobalStatus(target, status);
  else if (!status.startsWith("Pulling from ")) applyLayerStatus(target, id, status, message.progressDetail);
  return state;
}

/** Stops the pull with a reason of prepull's own (a line too long, too many layers). */
export function failPull(state: PullState, reason: string): PullState {
  (state as MutablePullState).stopped ??= reason;
  return state;
}

/** A line of the engine's JSON stream as an object, or undefined when it is not one. */
export function decode(line: string): PullMessage | undefined {
  try {
    const value: unknown = JSON.parse(line);
    return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as PullMessage) : undefined;
  } catch {
    return undefined;
  }
}

/** The error an engine stream line carries (errorDetail.message, else error), if any. */
export function errorOf(message: { readonly error?: unknown; readonly errorDetail?: { readonly message?: unknown } }): string | undefined {
  const detail = message.errorDetail?.message;
  if (typeof detail === "string" && detail !== "") return detail;
  if (typeof message.error === "string" && message.error !== "") return message.error;
  if (message.errorDetail !== undefined || message.error !== undefined) return "the engine reported an error without a message";
  return undefined;
}

/** What the JSON report's schema accepts as a digest: algorithm ":" encoded. Anything else is not kept. */
const DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

function applyGlobalStatus(state: MutablePullState, status: string): void {
  const digest = /^Digest: (\S+)/.exec(status)?.[1];
  if (digest !== undefined) {
    if (DIGEST.test(digest)) state.digest = digest;
    return;
  }
  if (status.startsWith("Status: Image is up to date for ")) {
    state.upToDate = true;
    state.finished = true;
  } else if (status.startsWith("Status: ")) state.finished = true;
}

function applyLayerStatus(state: MutablePullState, id: string, status: string, detail: PullMessage["progressDetail"]): void {
  const known = state.layers.get(id);
  if (known === undefined && state.layers.size >= MAX_LAYERS) {
    state.stopped ??= `the engine reported more than ${MAX_LAYERS} layers for one pull (an image has at most 127): prepull stopped reading the stream`;
    return;
  }
  state.lastLayer = id;
  const layer: LayerBytes = {
    bytes: known?.bytes ?? 0,
    total: known?.total,
    done: (known?.done ?? false) || LAYER_DOWNLOADED.has(status),
    seenAt: state.lines,
  };
  // Only "Downloading" carries download bytes: "Extracting" reports the same sizes a second time.
  if (status === "Downloading") {
    const current = byteCount(detail?.current) ?? 0;
    // After a cut-off body the engine resumes with a Range request and reports the remaining size
    // as the total: the layer's real size is the largest total it has announced.
    const announced = byteCount(detail?.total) ?? 0;
    const total = Math.max(announced, layer.total ?? 0) || undefined;
    return setLayer(state, id, known, { ...layer, bytes: Math.max(layer.bytes, current), total });
  }
  // A small layer can finish downloading before the engine prints any "Downloading" line; its size
  // then first appears in "Extracting" (the compressed stream being unpacked), after the download.
  if (status === "Extracting" && layer.done && layer.bytes === 0) {
    const size = byteCount(detail?.total) ?? 0;
    const total = Math.max(size, layer.total ?? 0) || undefined;
    return setLayer(state, id, known, { ...layer, total, bytes: total ?? 0 });
  }
  if (LAYER_DONE.has(status) && layer.total !== undefined) {
    return setLayer(state, id, known, { ...layer, bytes: Math.max(layer.bytes, layer.total) });
  }
  setLayer(state, id, known, layer);
}

/** Replaces one layer and adjusts the sums by its difference: O(1), not a pass over every layer. */
function setLayer(state: MutablePullState, id: string, before: LayerBytes | undefined, after: LayerBytes): void {
  state.layers.set(id, after);
  state.bytes += after.bytes - (before?.bytes ?? 0);
  const sizedBefore = before?.total !== undefined;
  const sizedAfter = after.total !== undefined;
  state.sized += Number(sizedAfter) - Number(sizedBefore);
  state.done += Number(after.done) - Number(before?.done ?? false);
  const total = (state.total ?? 0) + (after.total ?? 0) - (before?.total ?? 0);
  state.total = state.sized > 0 ? total : undefined;
}

/**
 * The attempt's phase. The engine lists every layer ("Pulling fs layer") before downloading any, so
 * once every listed layer is downloaded what is left is unpacking: an image at 11.2 MB/11.2 MB is
 * extracting, not pulling. Before the first layer line the engine is still resolving the manifest.
 */
export function pullPhase(state: PullState): PullPhase {
  if (state.layers.size === 0) return "resolving";
  return state.done === state.layers.size ? "extracting" : "downloading";
}

/**
 * The layer a stall report should name: among unfinished layers, the one silent the longest
 * (the latest line is usually about a healthy layer). Falls back to the last layer seen.
 */
export function suspectLayer(state: PullState): string | undefined {
  let suspect: [string, LayerBytes] | undefined;
  for (const entry of state.layers) {
    if (!entry[1].done && (suspect === undefined || entry[1].seenAt < suspect[1].seenAt)) suspect = entry;
  }
  return suspect?.[0] ?? state.lastLayer;
}

/** A byte count as the report records it: a whole, finite, non-negative number (a fraction is rounded down). */
function byteCount(value: unknown): number | undefined {
  return typeof value === "number" && Number.isFinite(value) && value >= 0 ? Math.min(Math.floor(value), Number.MAX_SAFE_INTEGER) : undefined;
}

/** Folds a whole recorded stream, e.g. in tests. */
export function parsePullStream(text: string, state: PullState = newPullState()): PullState {
  const splitter = new LineSplitter();
  const split = splitter.push(Buffer.from(text, "utf8"));
  if (!split.ok) return failPull(state, split.error);
  return [...split.lines, ...splitter.end()].reduce(applyLine, state);
}
