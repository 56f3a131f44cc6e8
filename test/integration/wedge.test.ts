// A wedged engine: a layer request the registry never answers holds the engine's only download
// slot (dockerd has no read timeout), so every other pull sits at "Waiting". prepull must say the
// engine is wedged, once, rather than only blaming each image in turn.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { startStack, type Stack } from "../../stack/stack.js";
import { baseEnv, runCli } from "./run-cli.js";

describe("a wedged engine", () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ dockerd: { maxConcurrentDownloads: 1 } });
  });
  after(async () => {
    stack?.proxy.closeStalled();
    await stack?.stop();
  });

  it("is reported once, naming the cause, when every pull in flight waits for a download slot", async () => {
    const stuck = stack.image("stuck");
    const others = [stack.image("other"), stack.image("another")];
    const image = await stack.pushImage(stuck, "1", { sizeBytes: 300_000 });
    for (const other of others) await stack.pushImage(other, "1", { sizeBytes: 300_000 });
    const layer = image.layers[0]?.digest;
    assert.ok(layer);
    // The layer's request is never answered (until closeStalled), and the other images start a
    // moment later, so the stuck download holds the engine's only slot and they queue behind it.
    stack.proxy.addFault({ match: { kind: "blob", digest: layer }, action: { stall: true } });
    for (const other of others) stack.proxy.addFault({ match: { kind: "manifest", repository: other }, when: { times: 1 }, action: { delayMs: 500 } });
    const run = await runCli([stack.ref(stuck, "1"), ...others.map((o) => stack.ref(o, "1"))], {
      env: baseEnv({
        DOCKER_HOST: stack.engine.dockerHost,
        PULL_POLICY: "always",
        PULL_STALL_TIMEOUT: "2",
        PULL_RETRIES: "3",
        PULL_BACKOFF_BASE: "0.2",
        PULL_BACKOFF_MAX: "0.5",
        PULL_DEADLINE: "20",
      }),
      timeoutMs: 60_000,
    });
    assert.notEqual(run.code, 0, "with the only download slot held, the batch cannot succeed");
    const wedged = run.stderr.split("\n").filter((line) => line.includes("engine wedged"));
    assert.equal(wedged.length, 1, run.stderr);
    assert.match(wedged[0] ?? "", /waited \d+s for a download slot; stalled registry connections hold the engine's download slots/);
    assert.match(run.stderr, /\[stalled\]: no progress for 2s waiting for layer /);
  });
});
