// Test images pushed straight to a registry over its HTTP API: no docker build, no docker CLI, no
// internet. Every layer is a gzip'd ustar archive made here, with content unique to the image, so
// layers are never shared between tests (a shared layer would be "Already exists" in the engine).
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { gzipSync } from "node:zlib";
import type { Credentials } from "./registry.js";

export const MEDIA_TYPES = {
  manifest: "application/vnd.docker.distribution.manifest.v2+json",
  manifestList: "application/vnd.docker.distribution.manifest.list.v2+json",
  config: "application/vnd.docker.container.image.v1+json",
  layer: "application/vnd.docker.image.rootfs.diff.tar.gzip",
  ociIndex: "application/vnd.oci.image.index.v1+json",
} as const;

export interface PushedLayer {
  /** sha256 of the gzip'd blob, as the registry serves it. */
  readonly digest: string;
  /** Bytes of the gzip'd blob. */
  readonly size: number;
  /** sha256 of the uncompressed tar (the rootfs diff_id). */
  readonly diffId: string;
  readonly uncompressedSize: number;
}

export interface PushedImage {
  /** "<registryHost>/<repository>:<tag>" */
  readonly reference: string;
  /** "<registryHost>/<repository>@<manifestDigest>" */
  readonly digestReference: string;
  readonly registryHost: string;
  readonly repository: string;
  readonly tag: string;
  readonly architecture: string;
  readonly manifestDigest: string;
  readonly manifestSize: number;
  readonly configDigest: string;
  readonly configSize: number;
  readonly layers: readonly PushedLayer[];
  /** Sum of the compressed layer sizes: the bytes the engine downloads as layer progress. */
  readonly totalBytes: number;
}

export interface PushImageOptions {
  /** Payload bytes spread over the layers (random, so incompressible). Default 2048. */
  readonly sizeBytes?: number;
  /** Number of layers, >= 1. Default 1. */
  readonly layers?: number;
  /** Config architecture. Default "amd64". */
  readonly architecture?: string;
  /** Config variant (e.g. "v8" for arm64). */
  readonly variant?: string;
  /** Basic auth for an htpasswd registry. */
  readonly auth?: Credentials;
  /** An Authorization header value (a Bearer token for a token-auth registry); wins over `auth`. */
  readonly authorization?: string;
  /**
   * Push the manifest by its digest only, without the tag (used for the entries of a list).
   * The returned reference is then the digest reference.
   */
  readonly untagged?: boolean;
}

export interface PushedPlatformList {
  readonly reference: string;
  readonly digestReference: string;
  readonly repository: string;
  readonly tag: string;
  readonly manifestDigest: string;
  readonly mediaType: string;
  /** One image per requested platform, pushed by digest into the same repository. */
  readonly images: readonly PushedImage[];
}

export interface PushPlatformListOptions {
  /** Payload bytes of each platform's image. Default 2048. */
  readonly sizeBytes?: number;
  readonly auth?: Credentials;
  readonly authorization?: string;
  /** "docker" (manifest list v2, the default) or "oci" (OCI image index). */
  readonly format?: "docker" | "oci";
}

const sha256 = (data: Buffer | string): string => `sha256:${createHash("sha256").update(data).digest("hex")}`;

/**
 * Pushes a schema2 image: `layers` gzip'd tar layers with `sizeBytes` random payload in total, a
 * config blob for linux/<architecture>, and the manifest under `tag`.
 */
export async function pushImage(registryHost: string, repository: string, tag: string, options: PushImageOptions = {}): Promise<PushedImage> {
  const layerCount = options.layers ?? 1;
  const sizeBytes = options.sizeBytes ?? 2048;
  const architecture = options.architecture ?? "amd64";
  if (!Number.isInteger(layerCount) || layerCount < 1) throw new Error(`layers must be an integer >= 1, got ${layerCount}`);
  if (!Number.isInteger(sizeBytes) || sizeBytes < 0) throw new Error(`sizeBytes must be an integer >= 0, got ${sizeBytes}`);
  const client = new RegistryClient(registryHost, options.auth, options.authorization);
  const unique = randomUUID();

  const layers: PushedLayer[] = [];
  for (let i = 0; i < layerCount; i++) {
    const payload = Math.floor(sizeBytes / layerCount) + (i < sizeBytes % layerCount ? 1 : 0);
    const tar = makeTar([
      { name: `prepull-test/${unique}/layer-${i}.txt`, content: Buffer.from(`${repository}:${tag} ${architecture} layer ${i} ${unique}\n`) },
      ...(payload > 0 ? [{ name: `prepull-test/${unique}/layer-${i}.bin`, content: randomBytes(payload) }] : []),
    ]);
    const blob = gzipSync(tar, { level: 1 });
    const digest = sha256(blob);
    await client.uploadBlob(repository, digest, blob);
    layers.push({ digest, size: blob.length, diffId: sha256(tar), uncompressedSize: tar.length });
  }

  const config = Buffer.from(
    JSON.stringify({
      architecture,
      ...(options.variant ? { variant: options.variant } : {}),
      os: "linux",
      created: "2024-01-01T00:00:00Z",
      config: { Labels: { "prepull.test": unique } },
      rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffId) },
      history: layers.map((_l, i) => ({ created: "2024-01-01T00:00:00Z", created_by: `prepull test layer ${i}` })),
    }),
  );
  const configDigest = sha256(config);
  await client.uploadBlob(repository, configDigest, config);

  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.manifest,
      config: { mediaType: MEDIA_TYPES.config, size: config.length, digest: configDigest },
      layers: layers.map((l) => ({ mediaType: MEDIA_TYPES.layer, size: l.size, digest: l.digest })),
    }),
  );
  const manifestDigest = sha256(manifest);
  await client.putManifest(repository, options.untagged ? manifestDigest : tag, MEDIA_TYPES.manifest, manifest, manifestDigest);

  const digestReference = `${registryHost}/${repository}@${manifestDigest}`;
  return {
    reference: options.untagged ? digestReference : `${registryHost}/${repository}:${tag}`,
    digestReference,
    registryHost,
    repository,
    tag,
    architecture,
    manifestDigest,
    manifestSize: manifest.length,
    configDigest,
    configSize: config.length,
    layers,
    totalBytes: layers.reduce((sum, l) => sum + l.size, 0),
  };
}

/**
 * Pushes one image per architecture (by digest) and a manifest list with exactly those entries
 * under `tag`. Architectures are "arm64", "arm64/v8", "arm/v7", ... (os is always linux).
 * `["arm64"]` gives the arm64-only list that an amd64 engine must skip.
 */
export async function pushPlatformList(
  registryHost: string,
  repository: string,
  tag: string,
  architectures: readonly string[],
  options: PushPlatformListOptions = {},
): Promise<PushedPlatformList> {
  if (architectures.length === 0) throw new Error("pushPlatformList needs at least one architecture");
  const images: PushedImage[] = [];
  const platforms: { architecture: string; variant?: string }[] = [];
  for (const entry of architectures) {
    const [architecture = "", variant] = entry.split("/");
    if (architecture === "") throw new Error(`bad architecture ${JSON.stringify(entry)}`);
    platforms.push(variant ? { architecture, variant } : { architecture });
    images.push(
      await pushImage(registryHost, repository, tag, {
        architecture,
        ...(variant ? { variant } : {}),
        sizeBytes: options.sizeBytes ?? 2048,
        untagged: true,
        ...(options.auth ? { auth: options.auth } : {}),
        ...(options.authorization ? { authorization: options.authorization } : {}),
      }),
    );
  }
  const mediaType = options.format === "oci" ? MEDIA_TYPES.ociIndex : MEDIA_TYPES.manifestList;
  const list = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType,
      manifests: images.map((image, i) => ({
        mediaType: MEDIA_TYPES.manifest,
        size: image.manifestSize,
        digest: image.manifestDigest,
        platform: { os: "linux", ...platforms[i] },
      })),
    }),
  );
  const manifestDigest = sha256(list);
  await new RegistryClient(registryHost, options.auth, options.authorization).putManifest(repository, tag, mediaType, list, manifestDigest);
  return {
    reference: `${registryHost}/${repository}:${tag}`,
    digestReference: `${registryHost}/${repository}@${manifestDigest}`,
    repository,
    tag,
    manifestDigest,
    mediaType,
    images,
  };
}

// --- tar -------------------------------------------------------------------------------------

interface TarEntry {
  readonly name: string;
  readonly content: Buffer;
}

/** A ustar archive of regular files (mode 0644, root-owned, mtime 2024-01-01), ending in two zero blocks. */
export function makeTar(entries: readonly TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const entry of entries) {
    parts.push(tarHeader(entry.name, entry.content.length));
    parts.push(entry.content);
    const pad = (512 - (entry.content.length % 512)) % 512;
    if (pad > 0) parts.push(Buffer.alloc(pad));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

function tarHeader(path: string, size: number): Buffer {
  const header = Buffer.alloc(512);
  let name = path;
  let prefix = "";
  if (Buffer.byteLength(name) > 100) {
    const cut = path.lastIndexOf("/", 155);
    if (cut <= 0 || Buffer.byteLength(path.slice(cut + 1)) > 100) throw new Error(`tar path too long: ${path}`);
    prefix = path.slice(0, cut);
    name = path.slice(cut + 1);
  }
  const octal = (value: number, width: number): string => value.toString(8).padStart(width - 1, "0");
  header.write(name, 0, 100, "utf8");
  header.write(octal(0o644, 8), 100, 8, "ascii"); // mode
  header.write(octal(0, 8), 108, 8, "ascii"); // uid
  header.write(octal(0, 8), 116, 8, "ascii"); // gid
  header.write(octal(size, 12), 124, 12, "ascii"); // size
  header.write(octal(Date.UTC(2024, 0, 1) / 1000, 12), 136, 12, "ascii"); // mtime
  header.write("        ", 148, 8, "ascii"); // checksum placeholder: eight spaces
  header.write("0", 156, 1, "ascii"); // typeflag: regular file
  header.write("ustar\0", 257, 6, "binary"); // magic
  header.write("00", 263, 2, "ascii"); // version
  header.write("root", 265, 32, "ascii"); // uname
  header.write("root", 297, 32, "ascii"); // gname
  header.write(prefix, 345, 155, "utf8");
  let checksum = 0;
  for (const byte of header) checksum += byte;
  header.write(`${checksum.toString(8).padStart(6, "0")}\0 `, 148, 8, "ascii");
  return header;
}

// --- registry HTTP API -----------------------------------------------------------------------

class RegistryClient {
  private readonly base: string;
  private readonly authorization: string | undefined;

  constructor(registryHost: string, auth?: Credentials, authorization?: string) {
    this.base = `http://${registryHost}`;
    this.authorization = authorization ?? (auth ? `Basic ${Buffer.from(`${auth.user}:${auth.password}`).toString("base64")}` : undefined);
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return this.authorization ? { Authorization: this.authorization, ...extra } : extra;
  }

  /** POST /v2/<name>/blobs/uploads/ then a monolithic PUT <location>?digest=. */
  async uploadBlob(repository: string, digest: string, data: Buffer): Promise<void> {
    const start = await fetch(`${this.base}/v2/${repository}/blobs/uploads/`, { method: "POST", headers: this.headers() });
    await expectStatus(start, 202, `start upload to ${repository}`);
    const location = start.headers.get("location");
    if (!location) throw new Error(`registry gave no Location for the upload to ${repository}`);
    const url = new URL(location, this.base);
    url.searchParams.set("digest", digest);
    const put = await fetch(url, {
      method: "PUT",
      headers: this.headers({ "Content-Type": "application/octet-stream", "Content-Length": String(data.length) }),
      body: data,
    });
    await expectStatus(put, 201, `upload ${digest} to ${repository}`);
    const stored = put.headers.get("docker-content-digest");
    if (stored && stored !== digest) throw new Error(`registry stored ${stored}, expected ${digest}`);
  }

  async putManifest(repository: string, ref: string, mediaType: string, body: Buffer, digest: string): Promise<void> {
    const res = await fetch(`${this.base}/v2/${repository}/manifests/${ref}`, {
      method: "PUT",
      headers: this.headers({ "Content-Type": mediaType }),
      body,
    });
    await expectStatus(res, 201, `put manifest ${repository}:${ref}`);
    const stored = res.headers.get("docker-content-digest");
    if (stored && stored !== digest) throw new Error(`registry stored manifest ${stored}, expected ${digest}`);
  }
}

async function expectStatus(res: Response, status: number, what: string): Promise<void> {
  const text = await res.text();
  if (res.status !== status) throw new Error(`${what}: HTTP ${res.status} ${text.slice(0, 500)}`);
}
