// Secrets on a real stack: dockerd 20.10 pulling from an htpasswd registry through the fault proxy,
// with credentials from DOCKER_CONFIG. The proxy answers one repository with a registry error that
// quotes the password, the Basic authorization and the X-Registry-Auth value (a registry that
// echoes what it was sent); dockerd passes that text on to prepull, which must mask it on every
// output while the same credentials still pull a private image.
import assert from "node:assert/strict";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { startStack, type Stack } from "../../stack/stack.js";
import { baseEnv, runCli, tempDir } from "./run-cli.js";

describe("secrets on a real engine and htpasswd registry", () => {
  let stack: Stack;
  let files: Awaited<ReturnType<typeof tempDir>>;

  before(async () => {
    stack = await startStack({ auth: true, seed: 3 });
    files = await tempDir();
  });
  after(async () => {
    await stack?.stop();
    await files?.remove();
  });

  it("a registry error quoting the credentials reaches no log, annotation, summary or report unmasked", async () => {
    const auth = stack.auth!;
    const basic = Buffer.from(`${auth.user}:${auth.password}`).toString("base64");
    const header = auth.registryAuthHeader;
    const unpadded = header.replace(/=+$/, "");
    const forms = [auth.password, basic, basic.replace(/=+$/, ""), header, unpadded, unpadded.replace(/-/g, "+").replace(/_/g, "/")];
    const good = await auth.pushImage(stack.image("private"), "v1");
    const leakyRepo = stack.image("leaky");
    const leaky = await auth.pushImage(leakyRepo, "v1");
    const remove = auth.proxy.addFault({
      name: "echo-credentials",
      match: { kind: "manifest", repository: leakyRepo },
      action: {
        status: 403,
        body: {
          errors: [
            { code: "DENIED", message: `requested access denied for ${auth.user}:${auth.password} (Basic ${basic}; X-Registry-Auth ${header} / ${unpadded})` },
          ],
        },
      },
    });
    try {
      const config = join(files.path, "docker");
      await mkdir(config, { recursive: true });
      await writeFile(join(config, "config.json"), JSON.stringify({ auths: { [auth.host]: { auth: basic } } }));
      const out = { json: files.file("r.json"), junit: files.file("r.xml"), pulled: files.file("p.txt"), summary: files.file("s.md") };
      const result = await runCli(["-v", "--json", out.json, "--junit", out.junit, "--pulled", out.pulled, good.reference, leaky.reference], {
        env: baseEnv({
          DOCKER_HOST: stack.engine.dockerHost,
          DOCKER_CONFIG: config,
          PULL_RETRIES: "1",
          GITHUB_ACTIONS: "true",
          GITHUB_STEP_SUMMARY: out.summary,
        }),
      });
      assert.equal(result.code, 1, `${result.stdout}\n${result.stderr}`);
      const outputs = {
        stdout: result.stdout,
        stderr: result.stderr,
        json: await readFile(out.json, "utf8"),
        junit: await readFile(out.junit, "utf8"),
        pulled: await readFile(out.pulled, "utf8"),
        summary: await readFile(out.summary, "utf8"),
      };
      for (const [name, text] of Object.entries(outputs)) {
        for (const form of forms) assert.ok(!text.includes(form), `${name} leaks ${form}`);
      }
      // The credentials did work for the private image, and the engine's quote did reach prepull, masked.
      assert.equal(outputs.pulled, `${good.reference}\n`);
      assert.match(outputs.json, /requested access denied for prepull:\*\*\*/);
      assert.match(outputs.stdout, /::error title=prepull%3A .*leaky.*denied/);
    } finally {
      remove();
    }
  });
});
