// Mirrors and pull-through caches (issue 11): which mirrors serve which registry, how an image's
// name reads on a mirror, and which source an attempt goes to. Pure: no I/O, no clock.
import { DOCKER_HUB, parseReference } from "../reference/index.js";
import type { MirrorRule, Reference, Result } from "../types.js";

/** Docker Hub's other spellings, as users copy them from docs and daemon.json. */
const HUB_ALIASES = new Set(["docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"]);
const HOST = /^(?:localhost|\[[0-9a-fA-F:]+\]|[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*)(?::[0-9]{1,5})?$/;
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*$/;

/**
 * One `REGISTRY=MIRROR` entry. MIRROR is host[:port][/prefix]: a Harbor proxy project
 * (`harbor.example/proxy-hub`) or an ECR pull-through prefix (`acct.dkr.ecr.region.amazonaws.com/hub`).
 * Errors quote the entry as written.
 */
export function parseMirrorRule(entry: string): Result<MirrorRule, string> {
  const text = entry.trim();
  const bad = (why: string): Result<MirrorRule, string> => ({ ok: false, error: `mirror ${JSON.stringify(entry)}: ${why}` });
  const eq = text.indexOf("=");
  if (eq < 0) return bad("expected REGISTRY=MIRROR, e.g. docker.io=mirror.example:5000 or ghcr.io=harbor.example/proxy-ghcr");
  const registryText = text.slice(0, eq).trim().toLowerCase();
  let mirrorText = text.slice(eq + 1).trim();
  if (/^[a-z]+:\/\//i.test(mirrorText))
    return bad(
      "MIRROR is host[:port][/prefix] without a scheme (whether it speaks HTTP or HTTPS follows the engine's insecure-registries, as for any registry)",
    );
  mirrorText = mirrorText.replace(/\/+$/, "");
  if (registryText === "" || !HOST.test(registryText) || registryText.includes("/"))
    return bad(`${JSON.stringify(registryText)} is not a registry host[:port]`);
  const registry = HUB_ALIASES.has(registryText) ? DOCKER_HUB : registryText;
  const [host = "", ...path] = mirrorText.split("/");
  if (host === "" || !HOST.test(host)) return bad(`${JSON.stringify(host)} is not a mirror host[:port]`);
  if (!host.includes(".") && !host.includes(":") && host !== "localhost")
    return bad(`the mirror host ${JSON.stringify(host)} needs a dot or a port (or be localhost), else it reads as a Docker Hub repository`);
  const badComponent = path.find((c) => !PATH_COMPONENT.test(c));
  if (badComponent !== undefined) return bad(`the path prefix component ${JSON.stringify(badComponent)} must be lowercase letters, digits and separators`);
  const prefix = path.join("/");
  const mirrorHost = HUB_ALIASES.has(host.toLowerCase()) ? DOCKER_HUB : host.toLowerCase();
  if (mirrorHost === registry && prefix === "") return bad("the mirror is the registry itself");
  return { ok: true, value: { registry, host: mirrorHost, ...(prefix ? { prefix } : {}), key: prefix ? `${mirrorHost}/${prefix}` : mirrorHost } };
}

/**
 * PULL_MIRRORS: entries separated by commas, spaces or newlines; one registry may appear several
 * times (its mirrors are tried in the order written). Every bad entry is named.
 */
export function parseMirrorList(entries: readonly string[]): Result<MirrorRule[], string> {
  const rules: MirrorRule[] = [];
  const errors: string[] = [];
  for (const entry of entries.flatMap((e) => e.split(/[\s,]+/)).filter((e) => e !== "")) {
    const parsed = parseMirrorRule(entry);
    if (!parsed.ok) errors.push(parsed.error);
    else if (!rules.some((r) => r.registry === parsed.value.registry && r.key === parsed.value.key)) rules.push(parsed.value);
  }
  return errors.length > 0 ? { ok: false, error: errors.join("; ") } : { ok: true, value: rules };
}

/** The mirrors of a registry, in order. */
export function mirrorsOf(registry: string, rules: readonly MirrorRule[] | undefined): MirrorRule[] {
  return (rules ?? []).filter((r) => r.registry === registry);
}

/**
 * The image's name on the mirror: the prefix, then the repository as the registry names it.
 * Docker Hub's official images keep their `library/` (docker.io/nginx → MIRROR/library/nginx),
 * which is what distribution proxies, Harbor proxy projects and ECR pull-through caches expect.
 * `digest`, when given, replaces the reference's tag: mirrors are pulled by digest when it is known.
 */
export function onMirror(reference: Reference, rule: MirrorRule, digest?: string): Reference {
  const repository = rule.prefix ? `${rule.prefix}/${reference.repository}` : reference.repository;
  const pin = digest ?? reference.digest;
  const text = `${rule.host}/${repository}${pin ? `@${pin}` : `:${reference.tag ?? "latest"}`}`;
  const parsed = parseReference(text);
  // A rule and a reference that each parsed make a valid name, except past the 255-character limit.
  if (!parsed.ok) throw new Error(`cannot name ${reference.canonical} on mirror ${rule.key}: ${parsed.error.reason}`);
  // The platform asked for (--platform, compose's platform:) goes with the image to its mirror.
  return { ...parsed.value, input: reference.input, ...(reference.platform !== undefined ? { platform: reference.platform } : {}) };
}

/** What the run knows of one mirror when an attempt picks its source. */
export interface SourceView {
  readonly key: string;
  /** The mirror's gate is open. */
  readonly open: boolean;
  /** This image may not use it: it lacks the image, serves another digest, or already failed this round. */
  readonly passed: boolean;
}

/** The first mirror whose gate is open and that this image has not passed over; undefined: upstream. */
export function chooseSource(mirrors: readonly SourceView[]): string | undefined {
  return mirrors.find((m) => m.open && !m.passed)?.key;
}
