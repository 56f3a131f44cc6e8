// URLs and text on their way into a message: query strings (tokens, refresh tokens), userinfo
// (proxy passwords) and Authorization values never leave this module intact.

/** "https://user:pw@host/path?scope=…" → "https://host/path?…". */
export function redactUrl(url: URL | string): string {
  let parsed: URL;
  try {
    parsed = typeof url === "string" ? new URL(url) : url;
  } catch {
    return "<unparseable URL>";
  }
  return `${parsed.protocol}//${parsed.host}${parsed.pathname}${parsed.search ? "?…" : ""}`;
}

/** Removes anything that looks like a credential from free text (e.g. an error from a library). */
export function redactText(text: string, secrets: readonly string[] = []): string {
  let out = text
    .replace(/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/gi, "$1 <redacted>")
    .replace(/([a-z][a-z0-9+.-]*:\/\/)[^/\s@]+@/gi, "$1")
    .replace(/([?&](?:access_token|token|refresh_token|password|secret)=)[^&\s]*/gi, "$1<redacted>");
  for (const secret of secrets) if (secret.length >= 4) out = out.split(secret).join("<redacted>");
  return out;
}
