// Pure parsing of the POST /images/create answer: newline-delimited JSON messages. The HTTP status
// is 200 as soon as the manifest resolves, so whether the pull failed is decided here, by an error
// line, not by the status code.

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
  readonly layers: Readonly<Record<string, LayerBytes>>;
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
  /** Status messages folded so far (each one is a progress report). */
  readonly lines: number;
}

export const initialPullState: PullState = { layers: {}, bytes: 0, upToDate: false, finished: false, lines: 0 };

export interface LineBuffer {
  readonly lines: readonly string[];
  /** The unterminated tail, to be prefixed to the next chunk. */
  readonly rest: string;
}

/** Splits a chunk into whole lines; a line cut by a chunk boundary waits in `rest`. */
export function splitLines(rest: string, chunk: string): LineBuffer {
  const parts = (rest + chunk).split("\n");
  const tail = parts.pop() ?? "";
  return { lines: parts.map((line) => line.trim()).filter((line) => line !== ""), rest: tail };
}

/** The last line of a stream that did not end with a newline. */
export function flushLines(rest: string): readonly string[] {
  const line = rest.trim();
  return line === "" ? [] : [line];
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

/** Folds one line of the stream into the state. Lines that are not JSON objects are ignored. */
export function applyLine(state: PullState, line: string): PullState {
  const message = decode(line);
  if (!message) return state;
  const error = errorOf(message);
  if (error !== undefined) return state.error === undefined ? { ...state, error } : state;
  const status = typeof message.status === "string" ? message.status : undefined;
  if (status === undefined) return state;
  const id = typeof message.id === "string" && message.id !== "" ? message.id : undefined;
  const next: PullState = { ...state, lines: state.lines + 1, lastStatus: status, lastId: id };
  if (id === undefined) return applyGlobalStatus(next, status);
  if (status.startsWith("Pulling from ")) return next;
  return applyLayerStatus({ ...next, lastLayer: id }, id, status, message.progressDetail);
}

function decode(line: string): PullMessage | undefined {
  try {
    const value: unknown = JSON.parse(line);
    return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as PullMessage) : undefined;
  } catch {
    return undefined;
  }
}

function errorOf(message: PullMessage): string | undefined {
  const detail = message.errorDetail?.message;
  if (typeof detail === "string" && detail !== "") return detail;
  if (typeof message.error === "string" && message.error !== "") return message.error;
  if (message.errorDetail !== undefined || message.error !== undefined) return "the engine reported an error without a message";
  return undefined;
}

function applyGlobalStatus(state: PullState, status: string): PullState {
  const digest = /^Digest: (\S+)/.exec(status)?.[1];
  if (digest) return { ...state, digest };
  if (status.startsWith("Status: Image is up to date for ")) return { ...state, upToDate: true, finished: true };
  if (status.startsWith("Status: ")) return { ...state, finished: true };
  return state;
}

function applyLayerStatus(state: PullState, id: string, status: string, detail: PullMessage["progressDetail"]): PullState {
  // hasOwn: a layer id is daemon text and must not reach Object.prototype ("__proto__").
  const known = Object.hasOwn(state.layers, id) ? state.layers[id] : undefined;
  const layer: LayerBytes = {
    bytes: known?.bytes ?? 0,
    total: known?.total,
    done: (known?.done ?? false) || LAYER_DOWNLOADED.has(status),
    seenAt: state.lines,
  };
  // Only "Downloading" carries download bytes: "Extracting" reports the same sizes a second time.
  if (status === "Downloading") {
    const current = finiteNonNegative(detail?.current) ?? 0;
    // After a cut-off body the engine resumes with a Range request and reports the remaining size
    // as the total: the layer's real size is the largest total it has announced.
    const announced = finiteNonNegative(detail?.total) ?? 0;
    const total = Math.max(announced, layer.total ?? 0) || undefined;
    return withLayer(state, id, { ...layer, bytes: Math.max(layer.bytes, current), total });
  }
  // A small layer can finish downloading before the engine prints any "Downloading" line; its size
  // then first appears in "Extracting" (the compressed stream being unpacked), after the download.
  if (status === "Extracting" && layer.done && layer.bytes === 0) {
    const size = finiteNonNegative(detail?.total) ?? 0;
    const total = Math.max(size, layer.total ?? 0) || undefined;
    return withLayer(state, id, { ...layer, total, bytes: total ?? 0 });
  }
  if (LAYER_DONE.has(status) && layer.total !== undefined) {
    return withLayer(state, id, { ...layer, bytes: Math.max(layer.bytes, layer.total) });
  }
  return withLayer(state, id, layer);
}

function withLayer(state: PullState, id: string, layer: LayerBytes): PullState {
  const layers = { ...state.layers, [id]: layer };
  const all = Object.values(layers);
  const sized = all.filter((l) => l.total !== undefined);
  return {
    ...state,
    layers,
    bytes: all.reduce((sum, l) => sum + l.bytes, 0),
    total: sized.length > 0 ? sized.reduce((sum, l) => sum + (l.total ?? 0), 0) : undefined,
  };
}

/**
 * The layer a stall report should name: among unfinished layers, the one silent the longest
 * (the latest line is usually about a healthy layer). Falls back to the last layer seen.
 */
export function suspectLayer(state: PullState): string | undefined {
  let suspect: [string, LayerBytes] | undefined;
  for (const entry of Object.entries(state.layers)) {
    if (!entry[1].done && (suspect === undefined || entry[1].seenAt < suspect[1].seenAt)) suspect = entry;
  }
  return suspect?.[0] ?? state.lastLayer;
}

function finiteNonNegative(value: unknown): number | undefined {
  return typeof value === "number" && Number.isFinite(value) && value >= 0 ? value : undefined;
}

/** Folds a whole recorded stream, e.g. in tests. */
export function parsePullStream(text: string, state: PullState = initialPullState): PullState {
  const { lines, rest } = splitLines("", text);
  return [...lines, ...flushLines(rest)].reduce(applyLine, state);
}
