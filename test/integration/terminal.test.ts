// The live view, under a real pseudo-terminal: the built CLI runs inside a tmux pane (its own tmux
// server, so nothing else is touched) while the test drives the registry's faults and reads the
// screen with `tmux capture-pane`. What is asserted is what a person at the terminal sees.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { chmod, readFile, writeFile } from "node:fs/promises";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { startStack, type Stack } from "../../stack/stack.js";
import { baseEnv, CLI, runCli, tempDir } from "./run-cli.js";

const exec = promisify(execFile);

const COLUMNS = 160;
const ROWS = 40;
const EXITED = /^prepull exited with (\d+)$/m;
// eslint-disable-next-line no-control-regex
const ESCAPE = /\x1b/;
/** "512 B", "2.4 kB", "1.2 MB" as the view prints sizes. */
const BYTES = "\\d+(?:\\.\\d)? [kMGTP]?B";
/** The gate's probe timing, on the registry's line and on each image waiting behind it. */
const PROBE = "(?:probe in \\S+|probe \\d+ in flight|probe due)";

interface JsonReport {
  images: Array<{ reference: string; status: string; attempts: unknown[] }>;
}

const quote = (text: string) => `'${text.replace(/'/g, `'\\''`)}'`;
const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("the live view on a terminal", () => {
  let stack: Stack;
  let files: Awaited<ReturnType<typeof tempDir>>;
  // A tmux server of our own, on a socket in our temp dir: the test never sees or kills anyone
  // else's sessions, and no socket file outlives it.
  let socket: string;
  let sessions = 0;

  const tmux = (...args: string[]) => exec("tmux", ["-S", socket, "-f", "/dev/null", ...args]);

  before(async () => {
    stack = await startStack({ seed: 5 });
    files = await tempDir();
    socket = files.file("tmux.sock");
  });
  after(async () => {
    if (socket) await tmux("kill-server").catch(() => undefined);
    await stack?.stop();
    await files?.remove();
  });

  /**
   * Starts `prepull ARGS` in a new 160x40 pane with exactly the environment given (plus the TERM
   * tmux sets), through a script that then prints the exit code and keeps the pane open.
   */
  async function startInTerminal(args: readonly string[], env: Record<string, string>, options: { redirect?: string; columns?: number } = {}): Promise<string> {
    const session = `s${++sessions}`;
    const script = files.file(`${session}.sh`);
    const vars = Object.entries({ PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/root", PULL_SEED: "1", PULL_PREFLIGHT: "off", ...env })
      .map(([key, value]) => `${key}=${quote(value)}`)
      .join(" ");
    const command = [process.execPath, CLI, ...args].map(quote).join(" ");
    await writeFile(script, `#!/bin/sh\nenv -i TERM="$TERM" ${vars} ${command}${options.redirect ?? ""}\necho "prepull exited with $?"\nexec sleep 600\n`);
    await chmod(script, 0o755);
    await tmux("new-session", "-d", "-x", String(options.columns ?? COLUMNS), "-y", String(ROWS), "-s", session, script);
    return session;
  }

  async function screen(session: string, options: { escapes?: boolean } = {}): Promise<string[]> {
    const { stdout } = await tmux("capture-pane", "-p", ...(options.escapes ? ["-e"] : []), "-t", `${session}:0.0`);
    const rows = stdout.split("\n");
    while (rows.length > 0 && rows.at(-1)?.trim() === "") rows.pop();
    return rows;
  }

  /** Polls the pane until `ready` holds for what is on it; fails with the last screen after timeoutMs. */
  async function waitForScreen(session: string, what: string, ready: (rows: string[]) => boolean, timeoutMs = 60_000): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    let rows: string[] = [];
    while (Date.now() < deadline) {
      rows = await screen(session);
      if (ready(rows)) return rows;
      if (EXITED.test(rows.join("\n")) && !what.includes("exit")) break;
      await sleep(100);
    }
    throw new Error(`the terminal never showed ${what}; last screen:\n${rows.join("\n")}`);
  }

  const finished = (session: string) => waitForScreen(session, "prepull's exit", (rows) => EXITED.test(rows.join("\n")));
  const exitCode = (rows: string[]) => Number(EXITED.exec(rows.join("\n"))?.[1]);
  /** The rows that mention this image (as a whole word: followed by a space or the end of the row). */
  const rowsOf = (rows: string[], ref: string) => rows.filter((row) => new RegExp(`${escapeRegExp(ref)}(?: |$)`).test(row));

  it("shows the batch's line, one line per image with its state, attempt and countdown, redrawn in place, and ends with the CI summary", async () => {
    const [first, second] = [stack.image("outage-a"), stack.image("outage-b")];
    await stack.pushImage(first, "1");
    await stack.pushImage(second, "1");
    const refs = [stack.ref(first, "1"), stack.ref(second, "1")] as const;
    const [firstRef, secondRef] = refs;
    // The registry answers 500 for both until the test says otherwise; once it recovers, the second
    // image's layers hang until released, so the view is still live after the gate has opened.
    const removeOutage = stack.proxy.addFault({
      name: "outage",
      match: { kind: "manifest", repository: new RegExp(`^(${first}|${second})$`) },
      action: { status: 500 },
    });
    const removeStall = stack.proxy.addFault({ name: "hang", match: { kind: "blob", repository: second }, action: { stall: true } });
    const json = files.file("live.json");
    const imageRows = (rows: string[]) => refs.map((ref) => rowsOf(rows, ref));
    try {
      const session = await startInTerminal([firstRef, secondRef, "--json", json], {
        DOCKER_HOST: stack.engine.dockerHost,
        PULL_BACKOFF_BASE: "1.5",
        PULL_BACKOFF_MAX: "3",
      });

      // 1. A backoff: the state with its countdown, the attempt number, and why.
      const backoff = await waitForScreen(session, 'a "retry in" line', (rows) => rows.some((row) => row.startsWith("retry in ")));
      const waiting = backoff.find((row) => row.startsWith("retry in ")) ?? "";
      assert.match(
        waiting,
        new RegExp(
          `^retry in \\d+(?:ms|\\.\\ds) +(?:${refs.map(escapeRegExp).join("|")})  attempt 1/5  transient: received unexpected HTTP status: 500 Internal Server Error$`,
        ),
      );
      for (const rows of imageRows(backoff)) assert.equal(rows.length, 1, backoff.join("\n"));

      // 2. Both images failing closes the registry's gate: a line of its own under the images, and
      //    both images wait for it with the probe's countdown (once its backoff is over, the first
      //    one too: no "retry in 0ms"). The batch's line cannot promise a time while it is closed.
      const gate = await waitForScreen(
        session,
        "the closed gate, both images behind it",
        (rows) => rows.some((row) => row.startsWith("registry ")) && imageRows(rows).every((r) => r.length === 1 && r[0]?.startsWith("gate closed ")),
      );
      assert.equal(gate.length, 4, gate.join("\n"));
      assert.match(gate[0] ?? "", /^\[\+\] 0\/2 images done {2}\S+ elapsed {2}time left unknown: a registry is down$/);
      assert.match(gate[3] ?? "", new RegExp(`^registry ${escapeRegExp(stack.host)} is down: gate closed for \\S+, ${PROBE}$`));
      for (const [i, ref] of refs.entries()) {
        assert.match(
          gate[i + 1] ?? "",
          new RegExp(`^gate closed {7}${escapeRegExp(ref)}  ${PROBE}  attempt [12]/5  transient: received unexpected HTTP status: 500 Internal Server Error$`),
        );
      }

      // 3. The registry recovers: the probe gets through, the gate opens, its line goes away.
      removeOutage();
      // The first image is pulled; the second (released by the opening gate) hangs on its layers.
      const recovered = await waitForScreen(session, `${firstRef} pulled and ${secondRef} downloading`, (rows) => {
        const [a, b] = imageRows(rows);
        return a?.[0]?.startsWith("pulled ") === true && b?.[0]?.startsWith("downloading ") === true;
      });
      assert.deepEqual(
        recovered.filter((row) => row.includes(" is down")),
        [],
        `the gate line must not stay behind once the gate has opened:\n${recovered.join("\n")}`,
      );
      assert.equal(recovered.length, 3, recovered.join("\n"));
      assert.match(recovered[0] ?? "", /^\[\+\] 1\/2 images done {2}/);
      assert.match(recovered[2] ?? "", new RegExp(`^downloading +${escapeRegExp(secondRef)} `));

      // 4. The second image's layers are let go; the run ends.
      removeStall();
      stack.proxy.closeStalled();
      const final = await finished(session);
      assert.equal(exitCode(final), 0, final.join("\n"));

      // Redrawn in place: the screen starts with the three view lines, then the summary; nothing
      // was appended on each redraw, nothing stale is left between them.
      const header = final.findIndex((row) => /^STATUS +IMAGE +ATTEMPTS +TIME +REASON$/.test(row));
      assert.equal(header, 3, final.join("\n"));
      const view = final.slice(0, header);
      const summary = final.slice(header);
      for (const ref of refs) {
        assert.equal(rowsOf(view, ref).length, 1, `${ref} on exactly one view line:\n${final.join("\n")}`);
        assert.equal(rowsOf(summary, ref).length, 1, `${ref} on exactly one summary line:\n${final.join("\n")}`);
        assert.match(rowsOf(view, ref)[0] ?? "", new RegExp(`^pulled +${escapeRegExp(ref)} +(?:${BYTES}/${BYTES}  )?attempt \\d/5  in \\S+$`));
      }
      // The first image downloaded its layers in one go: the view counted the bytes against the total.
      assert.match(view[1] ?? "", new RegExp(`^pulled +${escapeRegExp(firstRef)}  (${BYTES})/\\1  attempt \\d/5  in \\S+$`));
      // The batch's line: everything done, every byte counted, no time left.
      assert.match(view[0] ?? "", new RegExp(`^\\[\\+\\] 2/2 images done  (${BYTES})/\\1  \\S+ elapsed$`));

      // The same summary as in CI: the table rows agree with the JSON report, then the registry table and the verdict.
      const report = JSON.parse(await readFile(json, "utf8")) as JsonReport;
      assert.deepEqual(
        report.images.map((i) => [i.reference, i.status]),
        refs.map((ref) => [ref, "pulled"]),
      );
      for (const [i, image] of report.images.entries()) {
        assert.ok(image.attempts.length >= 2, "every image failed at least once before it was pulled");
        assert.match(summary[i + 1] ?? "", new RegExp(`^pulled  ${escapeRegExp(image.reference)} +${image.attempts.length}  +\\S+$`));
      }
      assert.equal(summary[3], "");
      assert.match(summary[4] ?? "", /^REGISTRY +ATTEMPTS +FAILURES +GATE CLOSED$/);
      assert.match(summary[5] ?? "", new RegExp(`^${escapeRegExp(stack.host)} +\\d+ +\\d+ +\\d+(?:\\.\\d)?m?s$`));
      assert.deepEqual(summary.slice(6), ["", summary[7] ?? "", "prepull exited with 0"]);
      assert.match(summary[7] ?? "", /^prepull: 2 pulled in \S+$/);
    } finally {
      removeOutage();
      removeStall();
      stack.proxy.closeStalled();
    }
  });

  it("an image that has no slot yet says so, while the one holding the slot downloads", async () => {
    const [first, second] = [stack.image("slot-a"), stack.image("slot-b")];
    await stack.pushImage(first, "1");
    await stack.pushImage(second, "1");
    const refs = [stack.ref(first, "1"), stack.ref(second, "1")] as const;
    // Every blob of both hangs until released: the one pull in flight holds the only slot.
    const removeStall = stack.proxy.addFault({
      name: "hang",
      match: { kind: "blob", repository: new RegExp(`^(${first}|${second})$`) },
      action: { stall: true },
    });
    try {
      const session = await startInTerminal([...refs, "--parallel", "1"], { DOCKER_HOST: stack.engine.dockerHost, NO_COLOR: "1" });
      const rows = await waitForScreen(session, "one image downloading, one waiting for a slot", (screen) => {
        const states = refs.map((ref) => rowsOf(screen, ref)[0]?.split(/ {2,}/)[0]).sort();
        return states[0] === "downloading" && states[1] === "waiting for slot";
      });
      assert.match(rows[0] ?? "", /^\[\+\] 0\/2 images done {2}\S+ elapsed$/);
      const waiting = rows.find((row) => row.startsWith("waiting for slot")) ?? "";
      // No attempt yet, so nothing else to say about it.
      assert.match(waiting, new RegExp(`^waiting for slot  (?:${refs.map(escapeRegExp).join("|")})$`));
      removeStall();
      stack.proxy.closeStalled();
      const final = await finished(session);
      assert.equal(exitCode(final), 0, final.join("\n"));
    } finally {
      removeStall();
      stack.proxy.closeStalled();
    }
  });

  it("escape sequences in a registry's error text never reach the terminal", async () => {
    const repo = stack.image("hostile");
    await stack.pushImage(repo, "1");
    const ref = stack.ref(repo, "1");
    // Red text, then "clear screen" and "cursor home": a view that passed them on would wipe itself.
    const remove = stack.proxy.addFault({
      match: { kind: "manifest", repository: repo },
      action: { status: 403, body: { errors: [{ code: "DENIED", message: "\u001b[31mdenied\u001b[0m by policy\r\n\u001b[2J\u001b[Hsecond line" }] } },
    });
    try {
      // Wide enough for the whole engine message to be on the view's line.
      const session = await startInTerminal([ref], { DOCKER_HOST: stack.engine.dockerHost, NO_COLOR: "1" }, { columns: 400 });
      const rows = await finished(session);
      assert.equal(exitCode(rows), 1, rows.join("\n"));
      assert.match(rows[0] ?? "", /^\[\+\] 1\/1 images done \(1 failed\) {2}\S+ elapsed$/);
      assert.equal(
        rows[1],
        `FAILED            ${ref}  attempt 1/5  permanent: pull access denied for ${ref.replace(/:1$/, "")}, repository does not exist or may require 'docker login': denied: denied by policy second line`,
      );
      assert.match(rows[2] ?? "", /^STATUS +IMAGE/);
      assert.match(rows[3] ?? "", /denied: denied by policy second line \(check the image name/);
      const painted = await screen(session, { escapes: true });
      assert.equal(ESCAPE.test(painted.join("\n")), false, JSON.stringify(painted));
    } finally {
      remove();
    }
  });

  describe("colors", () => {
    let ref: string;

    before(async () => {
      const repo = stack.image("colors");
      await stack.pushImage(repo, "1");
      ref = stack.ref(repo, "1");
      // Pulled once (through pipes) so that every run below finds it present and is quick.
      const warmUp = await runCli([ref], { env: baseEnv({ DOCKER_HOST: stack.engine.dockerHost }) });
      assert.equal(warmUp.code, 0, warmUp.stderr);
    });

    /** The summary's row for the image: the one under the STATUS header. */
    const summaryRow = (rows: string[]) => rows[rows.findIndex((row) => /^STATUS +IMAGE/.test(row)) + 1] ?? "";

    it("the summary is colored on a terminal", async () => {
      const session = await startInTerminal([ref], { DOCKER_HOST: stack.engine.dockerHost });
      await finished(session);
      const rows = await screen(session, { escapes: true });
      assert.ok(summaryRow(rows).startsWith(`\u001b[32mpresent\u001b[39m  ${ref} `), JSON.stringify(rows));
    });

    for (const [name, args, env] of [
      ["NO_COLOR", [], { NO_COLOR: "1" }],
      ["--no-color", ["--no-color"], {}],
    ] as const) {
      it(`${name} keeps the terminal free of colors`, async () => {
        const session = await startInTerminal([ref, ...args], { DOCKER_HOST: stack.engine.dockerHost, ...env });
        await finished(session);
        const rows = await screen(session, { escapes: true });
        assert.ok(summaryRow(rows).startsWith(`present  ${ref} `), rows.join("\n"));
        assert.equal(ESCAPE.test(rows.join("\n")), false, JSON.stringify(rows));
      });
    }

    it("stdout redirected to a file gets no escape codes, though stderr is a terminal", async () => {
      const out = files.file("summary.txt");
      const session = await startInTerminal([ref], { DOCKER_HOST: stack.engine.dockerHost }, { redirect: ` > ${quote(out)}` });
      const rows = await finished(session);
      assert.equal(exitCode(rows), 0, rows.join("\n"));
      // The live view is still on the terminal (stderr) ...
      assert.match(rows[1] ?? "", new RegExp(`^present +${escapeRegExp(ref)}  already on the engine$`));
      // ... and the file holds the plain summary.
      const summary = await readFile(out, "utf8");
      assert.equal(ESCAPE.test(summary), false, JSON.stringify(summary));
      assert.match(summary, new RegExp(`^STATUS   IMAGE +ATTEMPTS +TIME +REASON\npresent  ${escapeRegExp(ref)} `));
    });
  });
});
