// A small token issuer for the distribution token-auth flow (docs/spec/auth/token.md, oauth.md):
// the registry started with `auth: token` sends clients here, and verifies the JWTs signed here
// against the certificate in its rootcertbundle, so the Bearer flow is checked by the real registry.
// Policy: the one user (Basic) or the identity token (OAuth2 refresh_token POST) get every action
// they ask for; anonymous callers get `pull` on repositories matching `publicRepositories`.
import { execFile } from "node:child_process";
import { X509Certificate, createPrivateKey, randomBytes, sign } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer } from "node:http";
import type { IncomingMessage, ServerResponse } from "node:http";
import { join } from "node:path";
import { findBinary } from "./util.js";
import type { Credentials } from "./registry.js";

export interface Access {
  readonly type: string;
  readonly name: string;
  readonly actions: readonly string[];
}

export interface TokenLogEntry {
  readonly method: string;
  /** "basic", "refresh_token", "anonymous", or "bad-credentials". */
  readonly grant: string;
  readonly scopes: readonly string[];
  readonly service?: string;
  readonly status: number;
}

export interface TokenIssuer {
  /** "http://127.0.0.1:PORT/token": the realm for the registry's config. */
  readonly realm: string;
  readonly service: string;
  readonly issuer: string;
  /** PEM file of the signing certificate: the registry's rootcertbundle. */
  readonly rootCertBundle: string;
  readonly credentials: Credentials;
  readonly identityToken: string;
  /** Every token request, in order. */
  readonly log: TokenLogEntry[];
  /** A token for `access`, as the realm would issue it (used to seed the registry). */
  mint(access: readonly Access[]): string;
  stop(): Promise<void>;
}

export interface StartTokenIssuerOptions {
  readonly credentials: Credentials;
  /** Default: names starting with "public-". */
  readonly publicRepositories?: RegExp;
  /** expires_in of issued tokens, seconds. Default 300. */
  readonly expiresIn?: number;
}

const OPENSSL_HINT = "apt-get install -y openssl";

export async function startTokenIssuer(options: StartTokenIssuerOptions): Promise<TokenIssuer> {
  const openssl = findBinary("openssl", ["/usr/bin/openssl"], OPENSSL_HINT);
  const dir = await mkdtemp("/tmp/pp-tok-");
  const keyFile = join(dir, "key.pem");
  const certFile = join(dir, "cert.pem");
  try {
    await run(openssl, [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      keyFile,
      "-out",
      certFile,
      "-subj",
      "/CN=prepull-test-token-issuer",
      "-days",
      "2",
    ]);
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  const key = createPrivateKey(await readFile(keyFile, "utf8"));
  const x5c = new X509Certificate(await readFile(certFile, "utf8")).raw.toString("base64");
  const service = "prepull-test-registry";
  const issuer = "prepull-test-issuer";
  const identityToken = `refresh-${randomBytes(12).toString("hex")}`;
  const publicRepositories = options.publicRepositories ?? /^public-/;
  const expiresIn = options.expiresIn ?? 300;
  const log: TokenLogEntry[] = [];

  const mint = (access: readonly Access[]): string => {
    const now = Math.floor(Date.now() / 1000);
    const header = { typ: "JWT", alg: "RS256", x5c: [x5c] };
    const claims = {
      iss: issuer,
      sub: options.credentials.user,
      aud: service,
      exp: now + expiresIn,
      nbf: now - 10,
      iat: now,
      jti: randomBytes(8).toString("hex"),
      access,
    };
    const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString("base64url");
    const signingInput = `${encode(header)}.${encode(claims)}`;
    return `${signingInput}.${sign("sha256", Buffer.from(signingInput), key).toString("base64url")}`;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? "/", "http://issuer");
    if (url.pathname !== "/token") return answer(res, 404, { errors: [{ code: "NOT_FOUND", message: "only /token here" }] });
    let params = url.searchParams;
    let scopes = params.getAll("scope");
    let grant: string;
    if (req.method === "POST") {
      params = new URLSearchParams(await readBody(req));
      scopes = (params.get("scope") ?? "").split(" ").filter((s) => s !== "");
      grant = params.get("grant_type") === "refresh_token" && params.get("refresh_token") === identityToken ? "refresh_token" : "bad-credentials";
    } else {
      const basic = parseBasic(req.headers.authorization);
      grant = !basic ? "anonymous" : basic.user === options.credentials.user && basic.password === options.credentials.password ? "basic" : "bad-credentials";
    }
    const status = grant === "bad-credentials" ? 401 : 200;
    const service = params.get("service") ?? undefined;
    log.push({ method: req.method ?? "GET", grant, scopes, ...(service ? { service } : {}), status });
    if (status === 401) return answer(res, 401, { errors: [{ code: "UNAUTHORIZED", message: "incorrect username or password" }] });
    const access = scopes.flatMap((scope) => grantFor(scope, grant === "anonymous", publicRepositories));
    const token = mint(access);
    answer(res, 200, { token, access_token: token, expires_in: expiresIn, issued_at: new Date().toISOString() });
  };

  const server = createServer((req, res) => {
    handle(req, res).catch(() => answer(res, 500, { errors: [{ code: "UNKNOWN", message: "issuer failed" }] }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  let stopping: Promise<void> | undefined;
  return {
    realm: `http://127.0.0.1:${port}/token`,
    service,
    issuer,
    rootCertBundle: certFile,
    credentials: options.credentials,
    identityToken,
    log,
    mint,
    stop() {
      stopping ??= (async () => {
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
        await rm(dir, { recursive: true, force: true });
      })();
      return stopping;
    },
  };
}

/** "repository:name:pull,push" → the granted access (fewer rights than asked is not an error). */
function grantFor(scope: string, anonymous: boolean, publicRepositories: RegExp): Access[] {
  const parts = scope.split(":");
  if (parts.length < 3) return [];
  const type = parts[0] ?? "";
  const actions = (parts[parts.length - 1] ?? "").split(",");
  const name = parts.slice(1, -1).join(":");
  if (!anonymous) return [{ type, name, actions }];
  return publicRepositories.test(name) && actions.includes("pull") ? [{ type, name, actions: ["pull"] }] : [];
}

function parseBasic(header: string | undefined): Credentials | undefined {
  const match = /^Basic\s+(.+)$/i.exec(header ?? "");
  if (!match?.[1]) return undefined;
  const decoded = Buffer.from(match[1], "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  return colon < 0 ? undefined : { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (chunk: string) => {
      body += chunk;
      if (body.length > 64 * 1024) req.destroy(new Error("token request body too large"));
    });
    req.on("end", () => resolve(body));
    req.on("error", reject);
  });
}

function answer(res: ServerResponse, status: number, body: object): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(payload) });
  res.end(payload);
}

function run(binary: string, args: readonly string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(binary, [...args], { timeout: 30_000 }, (error, _stdout, stderr) => {
      if (error) reject(new Error(`${binary} ${args[0]} failed: ${error.message} ${stderr}`));
      else resolve();
    });
  });
}
