// WWW-Authenticate parsing (RFC 7235): one header may hold several challenges, and registries
// quote inconsistently, so this reads the grammar rather than splitting on commas.

export interface Challenge {
  /** Lower-cased scheme: "basic", "bearer", or whatever the registry sent. */
  readonly scheme: string;
  /** Parameter names lower-cased; values unquoted. */
  readonly params: Readonly<Record<string, string>>;
}

const TOKEN = /[!#$%&'*+.^_`|~0-9A-Za-z-]/;

/** Every challenge in the header, in order; unparseable fragments are skipped, never thrown. */
export function parseChallenges(header: string | undefined): Challenge[] {
  if (header === undefined) return [];
  const challenges: Array<{ scheme: string; params: Record<string, string> }> = [];
  let i = 0;
  const skip = (chars: RegExp) => {
    while (i < header.length && chars.test(header[i] ?? "")) i++;
  };
  const token = (): string => {
    const start = i;
    while (i < header.length && TOKEN.test(header[i] ?? "")) i++;
    return header.slice(start, i);
  };
  while (i < header.length) {
    skip(/[\s,]/);
    const word = token();
    if (word === "") {
      i++; // a stray character: step over it
      continue;
    }
    const afterWord = i;
    skip(/\s/);
    const current = challenges[challenges.length - 1];
    if (header[i] === "=" && current) {
      i++;
      skip(/\s/);
      current.params[word.toLowerCase()] = header[i] === '"' ? quoted() : bare();
    } else {
      i = afterWord;
      challenges.push({ scheme: word.toLowerCase(), params: {} });
    }
  }
  return challenges;

  function quoted(): string {
    let value = "";
    i++; // opening quote
    while (i < header!.length && header![i] !== '"') {
      if (header![i] === "\\" && i + 1 < header!.length) i++;
      value += header![i];
      i++;
    }
    i++; // closing quote
    return value;
  }
  function bare(): string {
    const start = i;
    while (i < header!.length && !/[\s,]/.test(header![i] ?? "")) i++;
    return header!.slice(start, i);
  }
}

/** A Bearer challenge usable for a token request (it must name a realm). */
export interface BearerChallenge {
  readonly realm: string;
  readonly service?: string;
  readonly scope?: string;
  /** "insufficient_scope" when a token was sent but did not grant enough. */
  readonly error?: string;
}

/** How a registry wants to be authenticated, from its challenges: Bearer wins over Basic. */
export type AuthScheme = { readonly kind: "none" } | { readonly kind: "basic" } | ({ readonly kind: "bearer" } & BearerChallenge);

export function authSchemeOf(challenges: readonly Challenge[]): AuthScheme | undefined {
  const bearer = challenges.find((c) => c.scheme === "bearer" && typeof c.params.realm === "string" && c.params.realm !== "");
  if (bearer) {
    const { realm = "", service, scope, error } = bearer.params;
    return { kind: "bearer", realm, ...(service ? { service } : {}), ...(scope ? { scope } : {}), ...(error ? { error } : {}) };
  }
  if (challenges.some((c) => c.scheme === "basic")) return { kind: "basic" };
  return undefined;
}
