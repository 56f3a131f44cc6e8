// Docker Hub's pull quota, as its HEAD answers report it (docs: docker-hub/usage/pulls.md):
//   ratelimit-limit: 100;w=21600   ratelimit-remaining: 20;w=21600   docker-ratelimit-source: <ip|account>
// No headers means the caller or the image is not limited.
import type { IncomingHttpHeaders } from "node:http";

export interface Quota {
  /** Pulls allowed per window. */
  readonly limit: number;
  /** Pulls left in the current window, when the registry said. */
  readonly remaining?: number;
  /** Window length in seconds, when the registry said. */
  readonly windowSeconds?: number;
  /** Whose quota it is: an IP address or an account id. */
  readonly source?: string;
}

/** "100;w=21600" → {count: 100, windowSeconds: 21600}; the first list member when there are several. */
export function parseRateLimitValue(value: string | undefined): { count: number; windowSeconds?: number } | undefined {
  if (value === undefined) return undefined;
  const first = value.split(",")[0] ?? "";
  const [countPart = "", ...params] = first.split(";").map((p) => p.trim());
  if (!/^\d+$/.test(countPart)) return undefined;
  const count = Number(countPart);
  let windowSeconds: number | undefined;
  for (const param of params) {
    const match = /^w\s*=\s*(\d+)$/i.exec(param);
    if (match) windowSeconds = Number(match[1]);
  }
  return windowSeconds === undefined ? { count } : { count, windowSeconds };
}

/** The quota in a response's headers, or undefined when it carries none (or only garbage). */
export function parseQuota(headers: IncomingHttpHeaders): Quota | undefined {
  const limit = parseRateLimitValue(single(headers["ratelimit-limit"]));
  if (!limit) return undefined;
  const remaining = parseRateLimitValue(single(headers["ratelimit-remaining"]));
  const source = single(headers["docker-ratelimit-source"])?.trim();
  const windowSeconds = limit.windowSeconds ?? remaining?.windowSeconds;
  return {
    limit: limit.count,
    ...(remaining ? { remaining: remaining.count } : {}),
    ...(windowSeconds !== undefined ? { windowSeconds } : {}),
    ...(source ? { source } : {}),
  };
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
