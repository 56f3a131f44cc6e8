// `npm run demo`: prepull for real, on this machine, in about half a minute. It starts an isolated
// dockerd and a registry on loopback (the test bench), pushes a batch of small images, makes the
// registry answer 500 to two of them for a few seconds, and runs the prepull CLI on the batch so
// you can watch the retries and the summary. Everything it starts, it stops.
import { spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { startStack } from "../stack/stack.js";

const CLI = fileURLToPath(new URL("../dist/cli/main.js", import.meta.url));
const FAULT_SECONDS = 6;

const bold = (text: string) => (process.stderr.isTTY && !process.env.NO_COLOR ? `\x1b[1m${text}\x1b[0m` : text);
const say = (text: string) => process.stderr.write(`\n${bold("demo:")} ${text}\n`);

say("starting an isolated dockerd, a registry and a fault proxy on 127.0.0.1 ...");
const stack = await startStack();
try {
  const names = ["api", "worker", "postgres", "redis", "kafka", "minio"].map((n) => stack.image(n));
  for (const name of names) await stack.pushImage(name, "1.0", { sizeBytes: 1_500_000 });
  const armOnly = stack.image("arm64-only-tool");
  await stack.pushPlatformList(armOnly, "1.0", ["arm64"]);
  const flaky = names.slice(0, 2);
  for (const name of flaky) {
    stack.proxy.addFault({ match: { kind: "manifest", repository: name }, when: { untilMs: FAULT_SECONDS * 1000 }, action: { status: 500 } });
  }
  const refs = [...names, armOnly].map((n) => stack.ref(n, "1.0"));
  say(
    `pulling ${refs.length} images; the registry answers HTTP 500 for ${flaky.join(" and ")} during the first ${FAULT_SECONDS}s,\n      and ${armOnly} exists only for arm64.`,
  );
  const report = join(tmpdir(), `prepull-demo-${process.pid}.json`);
  const args = [CLI, "--json", report, ...refs];
  say(`$ DOCKER_HOST=${stack.engine.dockerHost} prepull --json ${report} ${refs.length} images...\n`);
  const code = await new Promise<number | null>((resolve) => {
    const child = spawn(process.execPath, args, { stdio: "inherit", env: { ...process.env, DOCKER_HOST: stack.engine.dockerHost, PULL_POLICY: "always" } });
    child.on("close", resolve);
  });
  const heads = refs.map((r, i) => `${r.split("/").pop()}: ${stack.proxy.count({ repository: [...names, armOnly][i], kind: "manifest", method: "HEAD" })}`);
  say(`prepull exited ${code}. Manifest requests the registry saw per image (= attempts): ${heads.join(", ")}`);
  const json = JSON.parse(await readFile(report, "utf8")) as { images: Array<{ reference: string; status: string; attempts: unknown[] }> };
  say(`the JSON report (${report}) has ${json.images.length} images: ${json.images.map((i) => `${i.status}/${i.attempts.length}`).join(", ")}`);
} finally {
  say("stopping the engine, registry and proxy.");
  await stack.stop();
}
