// Registry-level coordination (issue 4) on the real stack: an isolated dockerd, a real registry and
// our fault proxy, driven through the built CLI. Every assertion is on what the user sees (exit
// code, log lines, the JSON/JUnit reports) and on what the registry saw (the proxy's request log:
// counts, overlap, and the spacing of the gate's probes).
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { after, before, describe, it } from "node:test";
import type { ChildProcess } from "node:child_process";
import { DEFAULT_GATE_OPTIONS } from "../../src/policy/gate.js";
import { formatLog, type ProxyLogEntry } from "../../stack/fault-proxy.js";
import { startStack, type Stack } from "../../stack/stack.js";
import { compileReportSchema, parseJUnit } from "../fixtures/validators.js";
import { baseEnv, runCli, tempDir, type CliResult } from "./run-cli.js";

/** Short waits so a retry takes a fraction of a second; the schedules themselves are unit-tested. */
const FAST = { PULL_BACKOFF_BASE: "0.2", PULL_BACKOFF_MAX: "1", PULL_POLICY: "always" };

/**
 * The gate's probe schedule as the CLI configures it (src/policy/gate.ts DEFAULT_GATE_OPTIONS; no
 * PULL_* variable changes it): the first probe 1 s after closing, then doubling after each failed
 * probe up to the cap, each scaled by the jitter factor.
 */
const PROBE = { firstMs: DEFAULT_GATE_OPTIONS.firstProbeMs, capMs: DEFAULT_GATE_OPTIONS.probeCapMs, jitter: DEFAULT_GATE_OPTIONS.probeJitter };

interface Attempt {
  number: number;
  durationMs: number;
  class: string;
  message?: string;
  absorbed?: boolean;
}
interface JsonImage {
  reference: string;
  registry: string;
  status: string;
  class: string;
  reason?: string;
  attempts: Attempt[];
}
interface JsonReport {
  exitCode: number;
  interrupted?: string;
  durationMs: number;
  settings: { retries: number; deadlineMs: number };
  images: JsonImage[];
  registries: Array<{ registry: string; attempts: number; failures: number; gateClosedMs: number }>;
}

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");

describe("registry coordination on a real engine and registry", () => {
  let stack: Stack;
  let env: Record<string, string>;
  let files: Awaited<ReturnType<typeof tempDir>>;

  before(async () => {
    stack = await startStack({ seed: 11 });
    env = baseEnv({ DOCKER_HOST: stack.engine.dockerHost, ...FAST });
    files = await tempDir();
  });
  after(async () => {
    stack?.proxy.closeStalled();
    await stack?.stop();
    await files?.remove();
  });

  /** Pushes `count` small images, each in its own repository; returns repositories and references. */
  async function seed(name: string, count: number, sizeBytes = 20_000): Promise<{ repos: string[]; refs: string[] }> {
    const repos = Array.from({ length: count }, (_, i) => stack.image(`${name}${i}`));
    for (const repo of repos) await stack.pushImage(repo, "1", { sizeBytes });
    return { repos, refs: repos.map((r) => stack.ref(r, "1")) };
  }

  async function readReport(path: string): Promise<JsonReport> {
    const report = JSON.parse(await readFile(path, "utf8")) as JsonReport;
    const validate = compileReportSchema();
    assert.ok(validate(report), JSON.stringify(validate.errors));
    return report;
  }

  /** HEAD requests on a tag's manifest: one per engine pull attempt (see stack/README.md). */
  const heads = (repos: readonly string[], since = 0): ProxyLogEntry[] =>
    stack.proxy.requests(
      (e) => e.kind === "manifest" && e.method === "HEAD" && e.repository !== undefined && repos.includes(e.repository) && e.startedAt >= since,
    );

  /** Everything a failed run printed, for assertion messages. */
  const show = (run: CliResult, entries: readonly ProxyLogEntry[] = []) =>
    `exit ${run.code}\nstdout:\n${run.stdout}\nstderr:\n${run.stderr}\nproxy:\n${formatLog(entries)}`;

  it("a registry-wide outage closes the gate: one probe at a time, spaced as designed, then every image is pulled", async () => {
    const { repos, refs } = await seed("outage", 6);
    const json = files.file("outage.json");
    const windowMs = 10_000;
    const mine = new RegExp(`^(${repos.map(escape).join("|")})$`);
    const faultAddedAt = stack.proxy.now();
    stack.proxy.addFault({ name: "outage", match: { kind: "manifest", repository: mine }, when: { untilMs: windowMs }, action: { status: 503 } });
    const windowEnd = faultAddedAt + windowMs;
    const run = await runCli([...refs, "--json", json], { env });
    const manifests = stack.proxy.requests((e) => e.kind === "manifest" && e.repository !== undefined && mine.test(e.repository));
    const why = show(run, manifests);
    assert.equal(run.code, 0, why);

    const report = await readReport(json);
    assert.deepEqual(
      report.images.map((i) => i.status),
      refs.map(() => "pulled"),
      why,
    );

    // The first wave: every image's first attempt (its HEAD, and the GET the engine sends to read
    // the error body). The gate closes during it; what starts after it is the gate's business.
    const firstWave = repos.flatMap((repo) => {
      const own = manifests.filter((e) => e.repository === repo);
      return [own.find((e) => e.method === "HEAD"), own.find((e) => e.method === "GET")].filter((e): e is ProxyLogEntry => e !== undefined);
    });
    assert.equal(firstWave.length, 12, why);
    const firstWaveEnd = Math.max(...firstWave.map((e) => e.endedAt ?? Infinity));
    const duringOutage = (e: ProxyLogEntry) =>
      e.kind === "manifest" && e.repository !== undefined && mine.test(e.repository) && e.startedAt > firstWaveEnd && e.startedAt < windowEnd;
    const probes = stack.proxy.requests((e) => duringOutage(e) && e.method === "HEAD");
    assert.ok(probes.length >= 2, `expected at least 2 probes during the outage, saw ${probes.length}\n${why}`);
    assert.ok(
      probes.every((e) => e.status === 503),
      why,
    );
    assert.equal(stack.proxy.maxConcurrent(duringOutage), 1, `more than one manifest request in flight behind the closed gate\n${why}`);

    // Probe spacing: probe k+1 starts at least the k-th delay (nominal first·2^k, minus the jitter)
    // after probe k started, so the gaps grow. 10 % margin for timer and scheduling slack.
    const allProbes = heads(repos, firstWaveEnd).filter((e, i, list) => i === 0 || list[i - 1]?.status === 503);
    const gaps = allProbes.slice(1).map((e, i) => e.startedAt - (allProbes[i] as ProxyLogEntry).startedAt);
    gaps.forEach((gap, k) => {
      const minimum = Math.min(PROBE.capMs, PROBE.firstMs * 2 ** (k + 1)) * (1 - PROBE.jitter) * 0.9;
      assert.ok(
        gap >= minimum,
        `gap ${k + 1} between probes is ${gap.toFixed(0)} ms, below ${minimum} ms: ${gaps.map((g) => g.toFixed(0)).join(", ")}\n${why}`,
      );
    });
    // ... and at most that delay plus its jitter, the failed probe's own duration and some slack.
    gaps.forEach((gap, k) => {
      const maximum = Math.min(PROBE.capMs, PROBE.firstMs * 2 ** (k + 1)) * (1 + PROBE.jitter) + 1000;
      assert.ok(
        gap <= maximum,
        `gap ${k + 1} between probes is ${gap.toFixed(0)} ms, above ${maximum} ms: ${gaps.map((g) => g.toFixed(0)).join(", ")}\n${why}`,
      );
    });
    // The probe that found the registry answering was the first request after the outage.
    assert.equal(allProbes.at(-1)?.status, 200, why);

    // What the log says: closed, each probe, open and how many pulls it released.
    const host = escape(stack.host);
    assert.match(run.stderr, new RegExp(`registry ${host} looks down \\(.*\\): gate closed`), why);
    const probeLines = run.stderr.match(new RegExp(`registry ${host}: probe \\d+ with `, "g")) ?? [];
    assert.equal(probeLines.length, allProbes.length, `one "probe" line per probe request\n${why}`);
    const opened = new RegExp(`registry ${host} answers again after [\\d.]+\\s*m?s: gate open, (\\d+) waiting pulls? released`).exec(run.stderr);
    assert.ok(opened, why);
    assert.equal(Number(opened[1]), refs.length - 1, `every image but the probe's waited behind the gate\n${why}`);

    // The report: the gate's closed time, and attempts absorbed by the gate spend nothing.
    const registry = report.registries.find((r) => r.registry === stack.host);
    assert.ok(registry && registry.gateClosedMs > 0, JSON.stringify(report.registries));
    assert.equal(registry.attempts, heads(repos).length, "every attempt counted once");
    for (const image of report.images) {
      const spent = image.attempts.filter((a) => !a.absorbed).length;
      assert.ok(spent < report.settings.retries, `${image.reference} spent ${spent} of ${report.settings.retries} attempts`);
    }
    // Absorbed: every failed probe, and the first-wave failure that closed the gate (the gate
    // closes once no attempt of the first wave can still answer, i.e. at the last one's failure).
    const failedProbes = allProbes.filter((e) => e.status === 503).length;
    assert.equal(report.images.flatMap((i) => i.attempts).filter((a) => a.absorbed).length, failedProbes + 1, why);
    assert.ok(report.images.every((i) => i.attempts.every((a) => a.absorbed || a.class === "pulled" || a.class === "transient")));
  });

  it("two images failing for a while do not close the gate: the rest are pulled at once, the two after their retries", async () => {
    const { repos, refs } = await seed("healthy", 6);
    const { repos: sick, refs: sickRefs } = await seed("sick", 2);
    const json = files.file("two-sick.json");
    const windowMs = 2500;
    for (const repo of sick)
      stack.proxy.addFault({ name: `sick-${repo}`, match: { kind: "manifest", repository: repo }, when: { untilMs: windowMs }, action: { status: 500 } });
    // PULL_RETRIES=8 with backoff 0.2 s doubling to 1 s: about 5 s of retries, twice the window.
    const run = await runCli([...sickRefs.slice(0, 1), ...refs, ...sickRefs.slice(1), "--json", json], { env: { ...env, PULL_RETRIES: "8" } });
    const why = show(
      run,
      stack.proxy.requests({ kind: "manifest" }).filter((e) => e.repository !== undefined && [...repos, ...sick].includes(e.repository)),
    );
    assert.equal(run.code, 0, why);
    const report = await readReport(json);
    const byRef = new Map(report.images.map((i) => [i.reference, i]));
    for (const ref of refs) {
      const image = byRef.get(ref);
      assert.equal(image?.status, "pulled", why);
      assert.deepEqual(
        image.attempts.map((a) => a.class),
        ["pulled"],
        `${ref} was held back\n${why}`,
      );
    }
    assert.deepEqual(
      repos.map((r) => heads([r]).length),
      repos.map(() => 1),
      why,
    );
    for (const ref of sickRefs) {
      const image = byRef.get(ref);
      assert.equal(image?.status, "pulled", why);
      assert.ok(image.attempts.length >= 2, why);
      assert.deepEqual(
        image.attempts.slice(0, -1).map((a) => [a.class, a.absorbed ?? false]),
        image.attempts.slice(0, -1).map(() => ["transient", false]),
        why,
      );
      assert.match(image.attempts[0]?.message ?? "", /received unexpected HTTP status: 500 Internal Server Error/);
    }
    assert.doesNotMatch(run.stderr, /gate closed/, why);
    assert.doesNotMatch(run.stderr, /gate probe|: probe \d/, why);
    assert.deepEqual(
      report.registries.map((r) => [r.registry, r.gateClosedMs]),
      [[stack.host, 0]],
    );
  });

  it('a layer that stalls is aborted after PULL_STALL_TIMEOUT as "stalled", naming the layer; the retry succeeds', async () => {
    const repo = stack.image("stall");
    const image = await stack.pushImage(repo, "1", { sizeBytes: 400_000 });
    const layer = image.layers[0]?.digest;
    assert.ok(layer);
    // The engine shows a layer by the first 12 hex digits of its digest.
    const layerId = layer.replace(/^sha256:/, "").slice(0, 12);
    const ref = stack.ref(repo, "1");
    stack.proxy.addFault({ name: "stall", match: { kind: "blob", digest: layer }, when: { times: 1 }, action: { stall: true, stallAfterBytes: 100_000 } });
    const json = files.file("stall.json");
    let stalledWhenReported: boolean | undefined;
    const stalledOpen = () => stack.proxy.count((e) => e.ref === layer && e.fault === "stall" && e.endedAt === undefined) === 1;
    const run = await runCli([ref, "--json", json], {
      env: { ...env, PULL_STALL_TIMEOUT: "3" },
      onSpawn: (child: ChildProcess) => {
        let text = "";
        child.stderr?.on("data", (d: string) => {
          text += d;
          if (stalledWhenReported === undefined && /\[stalled\]/.test(text)) stalledWhenReported = stalledOpen();
        });
      },
    });
    // Observed on dockerd 20.10: aborting the pull does not close the stalled registry connection
    // (it stays open until the registry side drops it), but the retry does not wait behind it
    // either: the engine opens a new download of the same layer, from byte 0.
    const stillStalledAtExit = stalledOpen();
    stack.proxy.closeStalled();
    const blobs = stack.proxy.requests({ kind: "blob", digest: layer });
    const why = show(run, stack.proxy.requests({ repository: repo }));
    assert.equal(run.code, 0, why);
    assert.equal(stalledWhenReported, true, `the stall was reported while the layer download was still stalled\n${why}`);
    const report = await readReport(json);
    const attempts = report.images[0]?.attempts ?? [];
    assert.deepEqual(
      attempts.map((a) => a.class),
      ["stalled", "pulled"],
      why,
    );
    assert.ok((attempts[0]?.durationMs ?? 0) >= 3000, "not aborted before the stall window");
    assert.match(attempts[0]?.message ?? "", new RegExp(`^no progress for 3(\\.\\d)?s waiting for layer ${layerId} \\(last status: Downloading\\)$`), why);
    // The log line names the image (with its registry), the class and the layer.
    assert.match(
      run.stderr,
      new RegExp(`attempt 1 of ${escape(ref)} failed after [\\d.]+s \\[stalled\\]: no progress for .* waiting for layer ${layerId}`),
      why,
    );
    assert.deepEqual([blobs[0]?.fault, blobs[0]?.bytes], ["stall", 100_000], why);
    assert.equal(stillStalledAtExit, true, `dockerd closed the stalled connection itself\n${why}`);
    assert.deepEqual(
      blobs.slice(1).map((b) => [b.status, b.range ?? "no range", b.fault ?? "no fault"]),
      [[200, "no range", "no fault"]],
      `the retry downloaded the layer anew\n${why}`,
    );
  });

  it("toomanyrequests is its own class, waits PULL_RATE_LIMIT_BACKOFF, and never closes the gate", async () => {
    const { repos, refs } = await seed("quota", 4);
    const json = files.file("quota.json");
    const body = {
      errors: [
        {
          code: "TOOMANYREQUESTS",
          message:
            "You have reached your pull rate limit. You may increase the limit by authenticating and upgrading: https://www.docker.com/increase-rate-limit",
        },
      ],
    };
    // times: 2 = the HEAD of one attempt and the GET the engine sends to read the error body.
    for (const repo of repos)
      stack.proxy.addFault({
        name: `quota-${repo}`,
        match: { kind: "manifest", repository: repo },
        when: { times: 2 },
        action: { status: 429, body, headers: { "Retry-After": "30" } },
      });
    const run = await runCli([...refs, "--json", json], { env: { ...env, PULL_RATE_LIMIT_BACKOFF: "0.5" } });
    const why = show(
      run,
      stack.proxy.requests((e) => e.kind === "manifest" && repos.includes(e.repository ?? "")),
    );
    assert.equal(run.code, 0, why);
    const report = await readReport(json);
    for (const image of report.images) {
      assert.deepEqual(
        image.attempts.map((a) => [a.class, a.absorbed ?? false]),
        [
          ["rate-limited", false],
          ["pulled", false],
        ],
        why,
      );
      assert.match(image.attempts[0]?.message ?? "", /toomanyrequests: You have reached your pull rate limit/, why);
      assert.match(run.stderr, new RegExp(`rate-limited: ${escape(image.reference)} waits [\\d.]+\\s*m?s before retrying`), why);
    }
    assert.deepEqual(
      repos.map((r) => heads([r]).length),
      repos.map(() => 2),
      why,
    );
    assert.doesNotMatch(run.stderr, /gate closed|: probe \d/, why);
    assert.deepEqual(
      report.registries.map((r) => r.gateClosedMs),
      [0],
    );
  });

  it("a rate limit that persists fails with its cause and the fixes, still without closing the gate", async () => {
    const { repos, refs } = await seed("hub", 2);
    const json = files.file("hub.json");
    for (const repo of repos)
      stack.proxy.addFault({ match: { kind: "manifest", repository: repo }, action: { status: 429, headers: { "Retry-After": "60" } } });
    const run = await runCli([...refs, "--json", json], { env: { ...env, PULL_RATE_LIMIT_BACKOFF: "0.2", PULL_RETRIES: "3" } });
    const why = show(
      run,
      stack.proxy.requests((e) => e.kind === "manifest" && repos.includes(e.repository ?? "")),
    );
    assert.equal(run.code, 1, why);
    const report = await readReport(json);
    for (const image of report.images) {
      assert.equal(image.class, "rate-limited", why);
      assert.deepEqual(
        image.attempts.map((a) => a.class),
        ["rate-limited", "rate-limited", "rate-limited"],
        why,
      );
      assert.match(image.reason ?? "", /toomanyrequests/);
      assert.match(image.reason ?? "", /rate-limiting.*Docker Hub.*log in.*mirror/);
      assert.match(run.stderr, new RegExp(`FAILED ${escape(image.reference)} after 3 attempts \\[rate-limited\\]: toomanyrequests`), why);
    }
    assert.match(run.stdout, /log in .*mirror/, "the summary tells the user what to do");
    assert.doesNotMatch(run.stderr, /gate closed|: probe \d/, why);
    assert.deepEqual(
      report.registries.map((r) => r.gateClosedMs),
      [0],
    );
  });

  it("PULL_DEADLINE ends a run against a registry that never recovers, and still writes both reports", async () => {
    const { repos, refs } = await seed("down", 3);
    const json = files.file("deadline.json");
    const junit = files.file("deadline.xml");
    const mine = new RegExp(`^(${repos.map(escape).join("|")})$`);
    stack.proxy.addFault({ name: "down", match: { kind: "manifest", repository: mine }, action: { status: 503 } });
    // PULL_RETRIES=8: behind the closed gate an image gets a probe every few seconds, so in 6 s
    // none can spend 8 attempts; the deadline, not the retries, ends every image.
    const run = await runCli([...refs, "--json", json, "--junit", junit], { env: { ...env, PULL_DEADLINE: "6", PULL_RETRIES: "8" } });
    const why = show(
      run,
      stack.proxy.requests((e) => e.kind === "manifest" && mine.test(e.repository ?? "")),
    );
    assert.deepEqual([run.code, run.signal], [1, null], why);
    const report = await readReport(json);
    assert.equal(report.interrupted, "deadline", why);
    assert.equal(report.exitCode, 1);
    assert.equal(report.settings.deadlineMs, 6000);
    assert.deepEqual(
      report.images.map((i) => [i.status, i.class]),
      refs.map(() => ["failed", "deadline"]),
      why,
    );
    for (const image of report.images) assert.match(image.reason ?? "", /PULL_DEADLINE/);
    assert.match(run.stderr, /gate closed/, why);
    const xml = parseJUnit(await readFile(junit, "utf8")) as {
      testsuites: { testsuite: { tests: string; failures: string; properties?: { property?: unknown } } };
    };
    assert.equal(xml.testsuites.testsuite.tests, "3");
    assert.equal(xml.testsuites.testsuite.failures, "3");
    assert.deepEqual(xml.testsuites.testsuite.properties?.property, [{ name: "interrupted", value: "deadline" }]);
    assert.match(run.stdout, /3 failed in .*\(deadline reached\)/, why);
    // Nothing reached the registry after the CLI exited: its pulls were really stopped.
    const before = stack.proxy.count({ kind: "manifest", repository: mine });
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.equal(stack.proxy.count({ kind: "manifest", repository: mine }), before, "the engine kept pulling after the CLI exited");
  });
});
