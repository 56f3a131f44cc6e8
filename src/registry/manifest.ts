// Manifests as the distribution API serves them: what to accept, how to name what came back, and
// what an index says about platforms. Pure; the requests are client.ts's job.
import { createHash } from "node:crypto";

export const MEDIA_TYPES = {
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerList: "application/vnd.docker.distribution.manifest.list.v2+json",
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  ociIndex: "application/vnd.oci.image.index.v1+json",
} as const;

/**
 * All four types, always: a registry asked without the index types may answer 404
 * MANIFEST_UNKNOWN ("OCI index found, but accept header does not support OCI indexes") or
 * convert to another digest, so a narrower HEAD proves nothing about absence.
 */
export const MANIFEST_ACCEPT = [MEDIA_TYPES.ociIndex, MEDIA_TYPES.dockerList, MEDIA_TYPES.ociManifest, MEDIA_TYPES.dockerManifest].join(", ");

/** OCI's limit for a manifest (image-spec "manifests SHOULD NOT exceed 4 MiB"). */
export const MANIFEST_MAX_BYTES = 4 * 1024 * 1024;

export function isIndexMediaType(mediaType: string | undefined): boolean {
  const base = mediaType?.split(";")[0]?.trim().toLowerCase();
  return base === MEDIA_TYPES.ociIndex || base === MEDIA_TYPES.dockerList;
}

const DIGEST = /^sha256:[a-f0-9]{64}$|^sha512:[a-f0-9]{128}$/;

export function isDigest(value: string | undefined): value is string {
  return value !== undefined && DIGEST.test(value);
}

export function sha256Digest(body: Buffer): string {
  return `sha256:${createHash("sha256").update(body).digest("hex")}`;
}

/** A manifest's own media type: the Content-Type, else the `mediaType` field of the body. */
export function mediaTypeOf(contentType: string | undefined, body?: Buffer): string | undefined {
  const header = contentType?.split(";")[0]?.trim();
  if (header && header !== "application/json" && header !== "application/octet-stream") return header;
  if (body) {
    const parsed = parseJson(body);
    if (isRecord(parsed) && typeof parsed.mediaType === "string") return parsed.mediaType;
  }
  return header || undefined;
}

/** One diagnostic of a registry error body: `{"errors":[{"code","message","detail"}]}`. */
export interface RegistryDiagnostic {
  readonly code: string;
  readonly message?: string;
}

/** The diagnostics of an error body; [] for HTML, text or anything else. */
export function parseErrorBody(body: string): RegistryDiagnostic[] {
  const parsed = parseJson(Buffer.from(body));
  if (!isRecord(parsed) || !Array.isArray(parsed.errors)) return [];
  return parsed.errors.flatMap((e: unknown) =>
    isRecord(e) && typeof e.code === "string"
      ? [{ code: e.code.toUpperCase(), ...(typeof e.message === "string" ? { message: e.message.slice(0, 200) } : {}) }]
      : [],
  );
}

export interface Platform {
  readonly os: string;
  readonly architecture: string;
  readonly variant?: string;
  readonly osVersion?: string;
}

/** Platforms an index lists, or an error naming what is wrong with it. */
export function platformsOfIndex(body: Buffer): { ok: true; platforms: Platform[] } | { ok: false; error: string } {
  const parsed = parseJson(body);
  if (!isRecord(parsed) || !Array.isArray(parsed.manifests)) return { ok: false, error: "the index has no manifests array" };
  const platforms: Platform[] = [];
  for (const entry of parsed.manifests as unknown[]) {
    if (!isRecord(entry) || !isRecord(entry.platform)) continue; // attestation entries and the like
    const { os, architecture, variant } = entry.platform;
    if (typeof os !== "string" || typeof architecture !== "string") continue;
    const osVersion = entry.platform["os.version"];
    platforms.push({
      os,
      architecture,
      ...(typeof variant === "string" && variant !== "" ? { variant } : {}),
      ...(typeof osVersion === "string" ? { osVersion } : {}),
    });
  }
  return { ok: true, platforms };
}

/**
 * Whether an index has an entry the engine would pull for `wanted`, with containerd's platform
 * normalization for the cases that matter in CI: arm64's default variant is v8, arm's is v7,
 * and a wanted platform without a variant accepts any variant. "unknown" entries (attestations) never match.
 */
export function hasPlatform(platforms: readonly Platform[], wanted: Platform): boolean {
  const want = normalizePlatform(wanted);
  return platforms.some((p) => {
    const have = normalizePlatform(p);
    if (have.os !== want.os || have.architecture !== want.architecture) return false;
    return want.variant === undefined || have.variant === undefined || have.variant === want.variant;
  });
}

const ARCH_ALIASES: Readonly<Record<string, string>> = { x86_64: "amd64", "x86-64": "amd64", aarch64: "arm64", armhf: "arm", armel: "arm", i386: "386" };
const DEFAULT_VARIANT: Readonly<Record<string, string>> = { arm64: "v8", arm: "v7" };

export function normalizePlatform(p: Platform): Platform {
  const os = p.os.toLowerCase();
  const architecture = ARCH_ALIASES[p.architecture.toLowerCase()] ?? p.architecture.toLowerCase();
  const variant = p.variant?.toLowerCase() ?? DEFAULT_VARIANT[architecture];
  return { os, architecture, ...(variant !== undefined && architecture !== "amd64" ? { variant } : {}) };
}

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString("utf8"));
  } catch {
    return undefined;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
