// What the scheduler needs from a container engine: one pull attempt, and "is it here already?".
// The Docker Engine API client implements it; unit tests implement it with scripted fakes.
import type { PullPhase, Reference, Result } from "../types.js";
import type { Platform } from "./platform.js";

/** Progress of one attempt, cumulated over all layers. */
export interface PullProgress {
  /** The engine's status text of the latest line ("Downloading", "Waiting", "Pull complete", ...). */
  readonly status: string;
  /** Layer (or tag) id the latest line was about. */
  readonly id?: string;
  /** Bytes downloaded so far in this attempt, summed over layers. Grows only. */
  readonly bytes: number;
  /** Sum of the known layer sizes, when the engine has told them. */
  readonly total?: number;
  /** Resolving, downloading or extracting (see pullPhase); absent from engines that cannot tell. */
  readonly phase?: PullPhase;
}

export type AttemptOutcome =
  /**
   * The stream ended without an error line and the engine then showed the image, for the expected
   * platform (see docs/decisions.md, "One success contract for every engine"). platform: what the
   * engine reports the pulled image to be ("linux/arm64"), when it says.
   */
  | { readonly ok: true; readonly digest?: string; readonly bytes: number; readonly upToDate: boolean; readonly platform?: string }
  /**
   * The engine answered with an error: an HTTP status >= 400, an error line anywhere in a 200 stream,
   * or a clean stream after which the engine did not show the image for the expected platform.
   */
  | { readonly ok: false; readonly kind: "engine"; readonly httpStatus?: number; readonly message: string; readonly bytes: number; readonly answered: boolean }
  /** The engine itself could not be reached (socket missing, refused, TLS failure to the daemon). */
  | { readonly ok: false; readonly kind: "unreachable"; readonly message: string }
  /** The connection to the engine broke during the attempt (dockerd restarting?). */
  | { readonly ok: false; readonly kind: "lost"; readonly message: string; readonly bytes: number; readonly answered: boolean }
  /** prepull could not get this registry's credentials, so the engine was not asked. */
  | { readonly ok: false; readonly kind: "credentials"; readonly message: string; readonly retryable: boolean }
  /** The caller's signal aborted the attempt. lastLayer names the layer seen last, for stall reports. */
  | {
      readonly ok: false;
      readonly kind: "aborted";
      readonly bytes: number;
      readonly answered: boolean;
      readonly lastLayer?: string;
      readonly lastStatus?: string;
    };

export interface PullRequest {
  readonly reference: Reference;
  readonly signal: AbortSignal;
  /** Pull this platform instead of the engine's own; success then means the engine has the image for it. */
  readonly platform?: Platform;
  /**
   * Called once the engine reports the first progress line: the registry resolved the manifest.
   * (Not the HTTP headers: podman 4 sends 200 before it asks the registry anything.)
   */
  readonly onAnswer?: () => void;
  readonly onProgress?: (progress: PullProgress) => void;
}

export interface Engine {
  /** One attempt. Never throws for expected failures: they come back as a typed outcome. */
  pull(request: PullRequest): Promise<AttemptOutcome>;
  /**
   * True when the engine already has the image (GET /images/{name}/json answers 200) for `platform`,
   * or for the engine's own platform when none is given: an image filed for another platform is not here.
   */
  hasImage(reference: Reference, signal?: AbortSignal, platform?: Platform): Promise<boolean>;
  /** The image's RepoDigests ("repo@sha256:…"), or undefined when the engine does not have it. Optional. */
  repoDigests?(reference: Reference, signal?: AbortSignal): Promise<readonly string[] | undefined>;
  /** The platform the engine pulls for (its OS and architecture). Optional. */
  readonly platform?: Platform;
  /** Removes the name `name` from its image, never the image's layers (DELETE /images/{name}?noprune=1); an image with other names keeps them. Optional. */
  removeImage?(name: string, signal?: AbortSignal): Promise<Result<void, string>>;
  /** The registries the engine treats as insecure (CIDRs and host[:port] names) and its mirrors (GET /info). Optional. */
  registryConfig?(signal?: AbortSignal): Promise<{ readonly insecure: readonly string[]; readonly mirrors: readonly string[] } | undefined>;
  /** Gives the local image `source` (a name, name@digest or image id) the name `target` (POST /images/{source}/tag). Optional. */
  tag?(source: string, target: Reference, signal?: AbortSignal): Promise<Result<void, string>>;
}

// ---------------------------------------------------------------------------------------------
// Archives (--save, --load): optional; an engine without them makes those options fail by file.

export interface SaveRequest {
  /** The images the archive holds, by name (their tags are written into it). */
  readonly references: readonly Reference[];
  /** Receives the tar bytes as the engine sends them; the caller owns it (temp file, hashing). */
  readonly destination: NodeJS.WritableStream;
  readonly signal: AbortSignal;
  /** Save only this platform's blobs, where the engine's API allows it (1.48+). */
  readonly platform?: { readonly os: string; readonly architecture: string; readonly variant?: string };
}

export type SaveOutcome = { readonly ok: true; readonly bytes: number } | { readonly ok: false; readonly message: string };

export interface LoadRequest {
  /** The docker-archive's bytes. */
  readonly source: NodeJS.ReadableStream;
  readonly signal: AbortSignal;
}

export type LoadOutcome =
  /** names: the "Loaded image: …" names; ids: the "Loaded image ID: …" of untagged images. */
  { readonly ok: true; readonly names: readonly string[]; readonly ids: readonly string[] } | { readonly ok: false; readonly message: string };

export interface Engine {
  /** GET /images/get: streams a docker-archive of the images into the destination. Optional. */
  saveImage?(request: SaveRequest): Promise<SaveOutcome>;
  /** POST /images/load: loads one docker-archive; errors inside the 200 stream come back as ok: false. Optional. */
  loadArchive?(request: LoadRequest): Promise<LoadOutcome>;
}
