import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FakeClock } from "../../src/clock/fake.js";
import { authSchemeOf, parseChallenges } from "../../src/registry/challenge.js";
import { redactText, redactUrl } from "../../src/registry/redact.js";
import { CLIENT_ID, TokenCache, identityOf, parseTokenResponse, tokenRequest } from "../../src/registry/token.js";

describe("WWW-Authenticate parsing", () => {
  it("reads a Bearer challenge with quoted parameters, commas inside quotes and escapes", () => {
    const [challenge] = parseChallenges('Bearer realm="https://auth.example/token",service="reg,istry",scope="repository:a/b:pull,push",error="x\\"y"');
    assert.deepEqual(challenge, {
      scheme: "bearer",
      params: { realm: "https://auth.example/token", service: "reg,istry", scope: "repository:a/b:pull,push", error: 'x"y' },
    });
  });

  it("splits several challenges in one header (as Node joins repeated headers) and prefers Bearer", () => {
    const challenges = parseChallenges('Basic realm="basic-realm", Bearer realm="https://t.example/token", service=svc');
    assert.deepEqual(
      challenges.map((c) => c.scheme),
      ["basic", "bearer"],
    );
    assert.deepEqual(authSchemeOf(challenges), { kind: "bearer", realm: "https://t.example/token", service: "svc" });
  });

  it("treats scheme names case-insensitively and unquoted values up to the next comma", () => {
    assert.deepEqual(parseChallenges("BASIC realm=prepull"), [{ scheme: "basic", params: { realm: "prepull" } }]);
    assert.deepEqual(authSchemeOf(parseChallenges('basic realm="x"')), { kind: "basic" });
  });

  it("gives nothing usable for an empty header, a Bearer without realm, or garbage", () => {
    assert.deepEqual(parseChallenges(undefined), []);
    assert.deepEqual(parseChallenges(""), []);
    assert.equal(authSchemeOf(parseChallenges('Bearer service="x"')), undefined);
    assert.equal(authSchemeOf(parseChallenges("=== ,,, ===")), undefined);
  });
});

describe("token requests", () => {
  const challenge = { realm: "https://auth.example/token?x=1", service: "registry.example" };

  it("asks anonymously with one scope parameter per scope and the service", () => {
    const request = tokenRequest(challenge, ["repository:a:pull", "repository:b:pull"], undefined);
    assert.equal(request.method, "GET");
    assert.deepEqual(request.headers, {});
    assert.equal(request.url.searchParams.get("service"), "registry.example");
    assert.deepEqual(request.url.searchParams.getAll("scope"), ["repository:a:pull", "repository:b:pull"]);
    assert.equal(request.url.searchParams.get("x"), "1", "the realm's own query is kept");
  });

  it("sends Basic credentials and the account with a username and password", () => {
    const request = tokenRequest(challenge, ["repository:a:pull"], { kind: "basic", username: "ci", password: "s3cret", serverAddress: "r" });
    assert.equal(request.headers.Authorization, `Basic ${Buffer.from("ci:s3cret").toString("base64")}`);
    assert.equal(request.url.searchParams.get("account"), "ci");
  });

  it("exchanges an identity token with the OAuth2 refresh-token POST, scopes space-separated", () => {
    const request = tokenRequest(challenge, ["repository:a:pull", "repository:b:pull"], { kind: "token", identityToken: "idt", serverAddress: "r" });
    assert.equal(request.method, "POST");
    const form = new URLSearchParams(request.body);
    assert.deepEqual(Object.fromEntries(form), {
      grant_type: "refresh_token",
      refresh_token: "idt",
      client_id: CLIENT_ID,
      service: "registry.example",
      scope: "repository:a:pull repository:b:pull",
    });
    assert.equal(request.url.searchParams.has("scope"), false, "nothing secret or scoped goes into the URL");
  });
});

describe("token answers and the cache", () => {
  it("takes token or access_token, and at least 60 s of life from receipt", () => {
    assert.deepEqual(parseTokenResponse('{"token":"t","expires_in":300}', 1000), { ok: true, value: { token: "t", expiresAt: 301_000 } });
    assert.deepEqual(parseTokenResponse('{"access_token":"a","expires_in":10}', 0), { ok: true, value: { token: "a", expiresAt: 60_000 } });
    assert.deepEqual(parseTokenResponse('{"token":"t"}', 0), { ok: true, value: { token: "t", expiresAt: 60_000 } });
  });

  it("fails without quoting the answer when there is no token or no JSON", () => {
    const noToken = parseTokenResponse('{"details":"secret-ish"}', 0);
    assert.equal(noToken.ok, false);
    assert.ok(!noToken.ok && !noToken.error.includes("secret-ish"));
    assert.equal(parseTokenResponse("<html>", 0).ok, false);
  });

  it("serves a token until its expiry on the injected clock, then forgets it", async () => {
    const clock = new FakeClock(0);
    const cache = new TokenCache();
    const key = TokenCache.key({ realm: "r", service: "s" }, ["repository:a:pull"], "anonymous");
    cache.set(key, { token: "t", expiresAt: 60_000 });
    assert.equal(cache.get(key, clock.now()), "t");
    await clock.advance(59_999);
    assert.equal(cache.get(key, clock.now()), "t");
    await clock.advance(1);
    assert.equal(cache.get(key, clock.now()), undefined);
    assert.equal(cache.size, 0);
  });

  it("keys tokens by scope set and by who asked, never by the secret", () => {
    const challenge = { realm: "r", service: "s" };
    assert.equal(TokenCache.key(challenge, ["b", "a"], "x"), TokenCache.key(challenge, ["a", "b"], "x"));
    assert.notEqual(TokenCache.key(challenge, ["a"], "anonymous"), TokenCache.key(challenge, ["a"], "basic:ci"));
    const id = identityOf({ kind: "basic", username: "ci", password: "pw-never", serverAddress: "r" });
    assert.equal(id, "basic:ci");
    assert.equal(identityOf({ kind: "token", identityToken: "idt-never", serverAddress: "r" }), "identity-token");
  });
});

describe("redaction", () => {
  it("drops queries and userinfo from URLs, and credentials from text", () => {
    assert.equal(redactUrl("https://u:p@auth.example/token?scope=x&refresh_token=y"), "https://auth.example/token?…");
    assert.equal(
      redactText("got Bearer abc.def-ghi from http://user:pw@proxy:3128 ?access_token=zzz"),
      "got Bearer <redacted> from http://proxy:3128 ?access_token=<redacted>",
    );
    assert.equal(redactText("the secret is hunter22", ["hunter22"]), "the secret is <redacted>");
  });
});
