// The one masker. Credentials are registered the moment prepull reads them (config.json, a
// credential helper, the X-Registry-Auth header it builds, a password in DOCKER_HOST), together
// with every encoding in which an engine or a registry could quote them back. Engine and registry
// text is masked where it enters prepull (the pull stream, error bodies), and every writer masks
// again before anything reaches a log, an annotation or a report file.
//
// Process-wide on purpose: a secret read by one run must never appear in any output of the
// process, whichever report writer or library caller ends up printing it.

/** What a masked secret is replaced with, as GitHub Actions does. */
export const MASK = "***";

export class SecretMasker {
  readonly #secrets = new Set<string>();
  #pattern: RegExp | undefined;

  /** Registers a secret and its derived encodings (JSON-escaped, URL-encoded, base64 and base64url, padded or not). */
  add(secret: string): void {
    for (const form of encodings(secret)) this.#addExact(form);
  }

  /** Registers exactly this text (e.g. a header value), plus its base64 / base64url twin spellings. */
  addEncoded(value: string): void {
    for (const form of base64Twins(value)) this.#addExact(form);
  }

  get size(): number {
    return this.#secrets.size;
  }

  mask(text: string): string {
    if (this.#pattern === undefined || text === "") return text;
    return text.replace(this.#pattern, MASK);
  }

  #addExact(form: string): void {
    if (form === "" || this.#secrets.has(form)) return;
    this.#secrets.add(form);
    // Longest first, so a secret containing another is masked whole.
    const sorted = [...this.#secrets].sort((a, b) => b.length - a.length);
    this.#pattern = new RegExp(sorted.map(escapeRegExp).join("|"), "g");
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&");
}

/** The secret as written, and as JSON, a URL or a base64 header would carry it. */
function encodings(secret: string): string[] {
  if (secret === "") return [];
  const forms = new Set<string>([secret, JSON.stringify(secret).slice(1, -1), encodeURIComponent(secret)]);
  for (const twin of base64Twins(Buffer.from(secret, "utf8").toString("base64"))) forms.add(twin);
  return [...forms];
}

/** A base64 value in its four spellings: standard or URL alphabet, with or without padding. */
function base64Twins(value: string): string[] {
  const bare = value.replace(/=+$/, "");
  const standard = bare.replace(/-/g, "+").replace(/_/g, "/");
  const url = bare.replace(/\+/g, "-").replace(/\//g, "_");
  const pad = (s: string) => s + "=".repeat((4 - (s.length % 4)) % 4);
  return [...new Set([value, bare, standard, pad(standard), url, pad(url)])];
}

/** The process's masker: credential readers register, every output masks. */
export const secrets = new SecretMasker();

export function registerSecret(secret: string): void {
  secrets.add(secret);
}

export function maskSecrets(text: string): string {
  return secrets.mask(text);
}
