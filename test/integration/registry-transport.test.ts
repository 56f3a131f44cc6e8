// The registry client's transport against real sockets on loopback: TLS trust from a certs.d
// directory, a CONNECT tunnel through a proxy, bounded bodies and redirects that must not carry
// credentials to another origin.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer as createHttpServer, type IncomingHttpHeaders, type Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { connect, type AddressInfo, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { createTransport, type TransportOptions } from "../../src/registry/transport.js";
import { tlsMaterialFor } from "../../src/registry/trust.js";

const port = (server: Server) => (server.address() as AddressInfo).port;
const listen = async <T extends Server>(server: T): Promise<T> => {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return server;
};
const close = (server: Server | undefined) =>
  new Promise<void>((resolve) => {
    if (!server) return resolve();
    server.closeAllConnections();
    server.close(() => resolve());
  });

describe("registry transport on loopback sockets", () => {
  let dir: string;
  let certsDir: string;
  let tlsServer: Server;
  let plain: Server;
  let other: Server;
  let connectProxy: Server;
  const tunnels: string[] = [];
  // CONNECT sockets leave the HTTP server's bookkeeping: closeAllConnections does not see them.
  const tunnelSockets: Socket[] = [];
  const seenByOther: IncomingHttpHeaders[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "prepull-transport-"));
    const key = join(dir, "key.pem");
    const cert = join(dir, "cert.pem");
    await new Promise<void>((resolve, reject) =>
      execFile(
        "openssl",
        [
          "req",
          "-x509",
          "-newkey",
          "rsa:2048",
          "-nodes",
          "-keyout",
          key,
          "-out",
          cert,
          "-subj",
          "/CN=127.0.0.1",
          "-addext",
          "subjectAltName=IP:127.0.0.1",
          "-days",
          "2",
        ],
        (error) => (error ? reject(error) : resolve()),
      ),
    );
    tlsServer = await listen(
      createHttpsServer({ key: await readFile(key), cert: await readFile(cert) }, (_req, res) => {
        res.writeHead(200, { "Content-Type": "application/json" });
        res.end("{}");
      }),
    );
    certsDir = join(dir, "certs.d");
    await mkdir(join(certsDir, `127.0.0.1:${port(tlsServer)}`), { recursive: true });
    await new Promise<void>((resolve, reject) =>
      execFile("cp", [cert, join(certsDir, `127.0.0.1:${port(tlsServer)}`, "ca.crt")], (error) => (error ? reject(error) : resolve())),
    );

    other = await listen(
      createHttpServer((req, res) => {
        seenByOther.push(req.headers);
        res.end("other");
      }),
    );
    plain = await listen(
      createHttpServer((req, res) => {
        if (req.url === "/big") {
          res.writeHead(200);
          res.end(Buffer.alloc(1024 * 1024, 120));
        } else if (req.url === "/away") {
          res.writeHead(307, { Location: `http://127.0.0.1:${port(other)}/landed` });
          res.end();
        } else if (req.url === "/here") {
          res.writeHead(302, { Location: "/echo" });
          res.end();
        } else {
          res.end(JSON.stringify({ authorization: req.headers.authorization ?? null }));
        }
      }),
    );
    connectProxy = await listen(createHttpServer((_req, res) => res.writeHead(405).end()));
    connectProxy.on("connect", (req, client: Socket, head: Buffer) => {
      tunnels.push(req.url ?? "");
      tunnelSockets.push(client);
      const [host = "", targetPort = ""] = (req.url ?? "").split(":");
      const upstream = connect(Number(targetPort), host, () => {
        client.write("HTTP/1.1 200 Connection Established\r\n\r\n");
        upstream.write(head);
        upstream.pipe(client);
        client.pipe(upstream);
      });
      upstream.on("error", () => client.destroy());
      client.on("error", () => upstream.destroy());
    });
  });
  after(async () => {
    for (const socket of tunnelSockets) socket.destroy();
    await Promise.all([close(tlsServer), close(plain), close(other), close(connectProxy)]);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const transport = (over: Partial<TransportOptions> = {}) =>
    createTransport({ timeoutMs: 5_000, proxyFor: () => undefined, tlsFor: () => Promise.resolve({}), userAgent: "prepull-test", ...over });

  it("refuses a registry certificate nobody trusts, and trusts it with the CA from certs.d/<host:port>/", async () => {
    const url = new URL(`https://127.0.0.1:${port(tlsServer)}/v2/`);
    const untrusted = transport();
    const refused = await untrusted.send({ method: "GET", url, maxBodyBytes: 1024 });
    untrusted.close();
    assert.equal(refused.ok, false);
    assert.match(refused.ok ? "" : refused.cause, /self[- ]signed|certificate/i);

    const trusting = transport({ tlsFor: (host) => tlsMaterialFor(certsDir, host) });
    const answered = await trusting.send({ method: "GET", url, maxBodyBytes: 1024 });
    trusting.close();
    assert.equal(answered.ok && answered.response.status, 200, JSON.stringify(answered));
  });

  it("tunnels https through an http:// proxy with CONNECT", async () => {
    const proxyUrl = new URL(`http://127.0.0.1:${port(connectProxy)}`);
    const viaProxy = transport({ proxyFor: () => proxyUrl, tlsFor: (host) => tlsMaterialFor(certsDir, host) });
    const answered = await viaProxy.send({ method: "GET", url: new URL(`https://127.0.0.1:${port(tlsServer)}/v2/`), maxBodyBytes: 1024 });
    viaProxy.close();
    assert.equal(answered.ok && answered.response.status, 200, JSON.stringify(answered));
    assert.deepEqual(tunnels, [`127.0.0.1:${port(tlsServer)}`]);
  });

  it("keeps at most maxBodyBytes of a body and says it cut it", async () => {
    const t = transport();
    const answered = await t.send({ method: "GET", url: new URL(`http://127.0.0.1:${port(plain)}/big`), maxBodyBytes: 1024 });
    t.close();
    assert.ok(answered.ok);
    assert.equal(answered.ok && answered.response.body.length, 1024);
    assert.equal(answered.ok && answered.response.truncated, true);
  });

  it("follows a redirect with credentials on the same origin and without them to another", async () => {
    const t = transport();
    const headers = { Authorization: "Bearer secret-token" };
    const same = await t.send({ method: "GET", url: new URL(`http://127.0.0.1:${port(plain)}/here`), headers, maxBodyBytes: 1024 });
    assert.deepEqual(same.ok && JSON.parse(same.response.body.toString()), { authorization: "Bearer secret-token" });
    const away = await t.send({ method: "GET", url: new URL(`http://127.0.0.1:${port(plain)}/away`), headers, maxBodyBytes: 1024 });
    t.close();
    assert.equal(away.ok && away.response.body.toString(), "other");
    assert.equal(seenByOther.length, 1);
    assert.equal(seenByOther[0]?.authorization, undefined, "the token never reaches another origin");
  });

  it("gives a HEAD's socket back to the pool: 4 HEADs after 16 reuse the 16 connections", async () => {
    // A registry's HEAD names the manifest's length but sends no body; an unread answer kept its
    // socket busy, so HEADs beyond the pool's 16 sockets waited for the server to drop idle ones.
    let connections = 0;
    const registry = await listen(
      createHttpServer((_req, res) => {
        res.writeHead(200, { "Content-Length": "591", "Docker-Content-Digest": `sha256:${"0".repeat(64)}` });
        res.end();
      }),
    );
    registry.on("connection", () => connections++);
    const t = transport();
    const head = async (label: string) => {
      const answered = await t.send({ method: "HEAD", url: new URL(`http://127.0.0.1:${port(registry)}/v2/r/manifests/v1`), maxBodyBytes: 0 });
      assert.equal(answered.ok && answered.response.status, 200, `${label}: ${JSON.stringify(answered)}`);
    };
    try {
      await Promise.all(Array.from({ length: 16 }, (_x, i) => head(`HEAD ${i + 1}`)));
      await Promise.all(Array.from({ length: 4 }, (_x, i) => head(`HEAD ${i + 17}`)));
    } finally {
      t.close();
      await close(registry);
    }
    assert.equal(connections, 16);
  });

  it("rejects with the caller's reason when the caller aborts, and never leaks the URL's query", async () => {
    const t = transport();
    const controller = new AbortController();
    controller.abort(new Error("caller gave up"));
    await assert.rejects(t.send({ method: "GET", url: new URL(`http://127.0.0.1:${port(plain)}/`), maxBodyBytes: 10 }, controller.signal), /caller gave up/);
    const refused = await t.send({ method: "GET", url: new URL("http://127.0.0.1:1/token?refresh_token=never-shown"), maxBodyBytes: 10 });
    t.close();
    assert.equal(refused.ok, false);
    assert.ok(!JSON.stringify(refused).includes("never-shown"), JSON.stringify(refused));
  });
});
