// Image platforms ("os/arch[/variant]"), spelled and compared the way containerd's platforms
// package does, so "linux/aarch64" asks for what the engine files as linux/arm64 and an arm64
// image whose config says variant "v8" matches a request for plain linux/arm64.
import type { Result } from "../types.js";

export interface Platform {
  readonly os: string;
  readonly architecture: string;
  readonly variant?: string;
}

/** What an engine reports about an image or itself; any field may be missing. */
export interface PlatformFields {
  readonly os?: string;
  readonly architecture?: string;
  readonly variant?: string;
}

const PART = /^[a-z0-9_.-]+$/;

// containerd platforms.NormalizeArch: the aliases people type, mapped to the Go names engines use.
const ARCH_ALIASES: Readonly<Record<string, { architecture: string; variant?: string }>> = {
  i386: { architecture: "386" },
  x86_64: { architecture: "amd64" },
  "x86-64": { architecture: "amd64" },
  aarch64: { architecture: "arm64" },
  armhf: { architecture: "arm", variant: "v7" },
  armel: { architecture: "arm", variant: "v6" },
};

/** Parses "os/arch[/variant]"; the error names the text and the accepted form. */
export function parsePlatform(text: string, source = "--platform"): Result<Platform, string> {
  const parts = text.trim().toLowerCase().split("/");
  const bad = (why: string): Result<Platform, string> => ({
    ok: false,
    error: `${source}=${JSON.stringify(text)} is not a platform: ${why}; use os/arch[/variant], e.g. linux/amd64 or linux/arm/v7.`,
  });
  if (parts.length < 2 || parts.length > 3) return bad("it needs an OS and an architecture separated by '/'");
  if (parts.some((part) => !PART.test(part))) return bad("each part must be a non-empty word of a-z, 0-9, '_', '.', '-'");
  const [os, arch, variant] = parts as [string, string, string | undefined];
  const alias = Object.hasOwn(ARCH_ALIASES, arch) ? ARCH_ALIASES[arch] : undefined;
  const architecture = alias?.architecture ?? arch;
  return { ok: true, value: normalize({ os, architecture, ...((variant ?? alias?.variant) ? { variant: variant ?? alias?.variant } : {}) }) };
}

/** "linux/arm64", "linux/arm/v7": the form the Engine API's `platform` parameter takes. */
export function formatPlatform(platform: Platform): string {
  return [platform.os, platform.architecture, ...(platform.variant ? [platform.variant] : [])].join("/");
}

/** Like containerd: arm64's default variant v8 is no variant at all, and arm's default is v7. */
function normalize(platform: Platform): Platform {
  const { os, architecture, variant } = platform;
  if (architecture === "arm64" && variant === "v8") return { os, architecture };
  return variant ? { os, architecture, variant } : { os, architecture };
}

function variantOf(architecture: string, variant: string | undefined): string | undefined {
  if (architecture === "arm64" && (variant === undefined || variant === "v8")) return undefined;
  if (architecture === "arm" && variant === undefined) return "v7";
  return variant;
}

/**
 * True when what the engine reports is the wanted platform. OS and architecture must be reported
 * and equal; the variant only counts when the wanted platform names one (or is arm, whose
 * unspecified variant means v7), since engines often leave it out of an image's config.
 * checkVariant false: OS and architecture only, for the engine's own platform (/version has no
 * variant, and an arm/v7 engine runs v6 images).
 */
export function platformMatches(have: PlatformFields, want: Platform, checkVariant = true): boolean {
  if (have.os?.toLowerCase() !== want.os || have.architecture?.toLowerCase() !== want.architecture) return false;
  if (!checkVariant) return true;
  const wanted = variantOf(want.architecture, want.variant);
  if (wanted === undefined) return true;
  return (variantOf(want.architecture, have.variant?.toLowerCase()) ?? "") === wanted;
}

/** The engine's own platform from GET /version, when it told both parts. */
export function enginePlatform(info: { readonly os?: string; readonly arch?: string }): Platform | undefined {
  if (!info.os || !info.arch) return undefined;
  const parsed = parsePlatform(`${info.os}/${info.arch}`, "engine platform");
  return parsed.ok ? parsed.value : undefined;
}

/** "linux/arm64" from an image's reported fields, or undefined when the engine left them out. */
export function describeFields(have: PlatformFields): string | undefined {
  if (!have.os || !have.architecture) return undefined;
  return [have.os, have.architecture, ...(have.variant ? [have.variant] : [])].join("/");
}
