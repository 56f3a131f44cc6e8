// The command line, flag by flag: what parseCliArgs makes of argv (pure, nothing is read), and how
// an image list file is split into references.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseCliArgs, type CliArgs } from "../../src/cli/args.js";
import { parseImageList } from "../../src/sources/image-list.js";

/** Parses and insists on success, with the error in the message otherwise. */
function parsed(argv: readonly string[]): CliArgs {
  const result = parseCliArgs(argv);
  assert.ok(result.ok, `${argv.join(" ")}: ${result.ok ? "" : result.error}`);
  return result.value;
}

/** Parses and insists on failure; returns the error text. */
function rejected(argv: readonly string[]): string {
  const result = parseCliArgs(argv);
  assert.equal(result.ok, false, `${argv.join(" ")} should be rejected`);
  return result.ok ? "" : result.error;
}

describe("parseCliArgs: defaults", () => {
  it("an empty command line asks for nothing", () => {
    assert.deepEqual(parsed([]), {
      help: false,
      version: false,
      images: [],
      readStdin: false,
      files: [],
      compose: [],
      envFiles: [],
      profiles: [],
      print: false,
      settings: {},
      quiet: false,
      verbose: false,
    });
  });
});

describe("parseCliArgs: every policy flag lands on its settings key, as the string given", () => {
  const table: ReadonlyArray<[flag: string, key: string, value: string]> = [
    ["--retries", "attempts", "7"],
    ["--backoff-base", "backoffBaseMs", "0.5"],
    ["--backoff-max", "backoffMaxMs", "12"],
    ["--timeout", "timeoutMs", "90"],
    ["--parallel", "parallel", "3"],
    ["-p", "parallel", "4"],
    ["--seed", "seed", "42"],
    ["--rate-limit-backoff", "rateLimitBackoffMs", "60"],
    ["--stall-timeout", "stallTimeoutMs", "20"],
    ["--deadline", "deadlineMs", "600"],
    ["--pull", "pullPolicy", "always"],
  ];
  for (const [flag, key, value] of table) {
    it(`${flag} ${value} → settings.${key}`, () => {
      assert.deepEqual(parsed([flag, value]).settings, { [key]: value });
      // The --flag=value spelling is the same thing (short flags only take the separate form).
      if (flag.startsWith("--")) assert.deepEqual(parsed([`${flag}=${value}`]).settings, { [key]: value });
    });
  }

  it("all of them together, each on its own key; values are not validated here", () => {
    const args = parsed(table.filter(([flag]) => flag !== "-p").flatMap(([flag, , value]) => [flag, value]));
    assert.deepEqual(args.settings, Object.fromEntries(table.filter(([flag]) => flag !== "-p").map(([, key, value]) => [key, value])));
    // resolveSettings judges the values, so that the message can name the flag or the variable.
    assert.deepEqual(parsed(["--retries", "lots"]).settings, { attempts: "lots" });
    assert.deepEqual(parsed(["--pull", "sometimes"]).settings, { pullPolicy: "sometimes" });
  });

  it("a flag given twice: the last one wins", () => {
    assert.deepEqual(parsed(["--retries", "2", "--retries", "9"]).settings, { attempts: "9" });
  });
});

describe("parseCliArgs: outputs and modes", () => {
  const table: ReadonlyArray<[argv: string[], expected: Partial<CliArgs>]> = [
    [["--json", "r.json"], { json: "r.json" }],
    [["--junit", "r.xml"], { junit: "r.xml" }],
    [["--pulled", "p.txt"], { pulled: "p.txt" }],
    [["--json=r.json", "--junit=r.xml", "--pulled=p.txt"], { json: "r.json", junit: "r.xml", pulled: "p.txt" }],
    [["--print"], { print: true }],
    [["--quiet"], { quiet: true }],
    [["-q"], { quiet: true }],
    [["--verbose"], { verbose: true }],
    [["-v"], { verbose: true }],
    [["--help"], { help: true }],
    [["-h"], { help: true }],
    [["--version"], { version: true }],
    [["-V"], { version: true }],
    [["--color"], { color: true }],
    [["--no-color"], { color: false }],
    // Asking for no color is never overridden: a log full of escape codes is worse than a plain summary.
    [["--color", "--no-color"], { color: false }],
    [["--no-color", "--color"], { color: false }],
  ];
  for (const [argv, expected] of table) {
    it(`${argv.join(" ")} → ${JSON.stringify(expected)}`, () => {
      const args = parsed(argv);
      for (const [key, value] of Object.entries(expected)) assert.deepEqual(args[key as keyof CliArgs], value, key);
    });
  }

  it("without --color or --no-color, color is left to the environment (NO_COLOR, TTY)", () => {
    assert.equal("color" in parsed(["nginx"]), false);
  });
});

describe("parseCliArgs: where the images come from", () => {
  it("positionals are images, in order", () => {
    const args = parsed(["nginx", "ghcr.io/org/app:1.2", "redis@sha256:" + "a".repeat(64)]);
    assert.deepEqual(args.images, ["nginx", "ghcr.io/org/app:1.2", "redis@sha256:" + "a".repeat(64)]);
    assert.equal(args.readStdin, false);
  });

  it('"-" means standard input and is not an image', () => {
    const args = parsed(["nginx", "-", "redis"]);
    assert.deepEqual(args.images, ["nginx", "redis"]);
    assert.equal(args.readStdin, true);
    assert.deepEqual(parsed(["-"]), { ...parsed([]), readStdin: true });
  });

  it("--file, --compose and --env-file are repeatable and keep their order", () => {
    const args = parsed([
      "-f",
      "a.txt",
      "--compose",
      "ci/",
      "--file",
      "b.txt",
      "-c",
      "compose.yml",
      "--env-file",
      "ci.env",
      "--env-file=override.env",
      "--file=c.txt",
    ]);
    assert.deepEqual(args.files, ["a.txt", "b.txt", "c.txt"]);
    assert.deepEqual(args.compose, ["ci/", "compose.yml"]);
    assert.deepEqual(args.envFiles, ["ci.env", "override.env"]);
    assert.deepEqual(args.images, []);
  });

  it("--profile is repeatable and keeps its order", () => {
    assert.deepEqual(parsed(["--profile", "debug", "-c", "ci/", "--profile=kafka"]).profiles, ["debug", "kafka"]);
  });

  it("flags and images mix in any order", () => {
    const args = parsed(["nginx", "--json", "r.json", "redis", "--quiet", "alpine"]);
    assert.deepEqual(args.images, ["nginx", "redis", "alpine"]);
    assert.equal(args.json, "r.json");
    assert.equal(args.quiet, true);
  });

  it('after "--" everything is an image, even "-rf" and "--help" (reference validation rejects them later)', () => {
    const args = parsed(["nginx", "--", "-rf", "--help"]);
    assert.deepEqual(args.images, ["nginx", "-rf", "--help"]);
    assert.equal(args.help, false);
  });
});

describe("parseCliArgs: errors name what was wrong", () => {
  const table: ReadonlyArray<[argv: string[], expected: string]> = [
    [["--bogus"], `Unknown option '--bogus'. Run "prepull --help" for usage.`],
    [["nginx", "-x"], `Unknown option '-x'. Run "prepull --help" for usage.`],
    // An image that starts with "-" is never taken for an image without "--".
    [["-rf"], `Unknown option '-r'. Run "prepull --help" for usage.`],
    [["--json"], `Option '--json <value>' argument missing. Run "prepull --help" for usage.`],
    [["nginx", "--file"], `Option '-f, --file <value>' argument missing. Run "prepull --help" for usage.`],
    [["--compose"], `Option '-c, --compose <value>' argument missing. Run "prepull --help" for usage.`],
    [["--retries"], `Option '--retries <value>' argument missing. Run "prepull --help" for usage.`],
    // The value of --json looks like an option: probably a forgotten argument, not a file named "--junit".
    [["--json", "--junit", "r.xml"], `Option '--json' argument is ambiguous. Run "prepull --help" for usage.`],
    [["--print=yes"], `Option '--print' does not take an argument. Run "prepull --help" for usage.`],
    [["--quiet", "--verbose"], "--quiet and --verbose cannot be used together"],
    [["-qv"], "--quiet and --verbose cannot be used together"],
  ];
  for (const [argv, expected] of table) {
    it(`${argv.join(" ")} → ${expected}`, () => {
      assert.equal(rejected(argv), expected);
    });
  }

  it("every error is one line", () => {
    for (const [argv] of table) assert.equal(rejected(argv).includes("\n"), false, argv.join(" "));
  });
});

describe("parseImageList", () => {
  it("one reference per line; comments, inline comments and blank lines dropped; surrounding blanks trimmed", () => {
    const text = [
      "# images for the integration tests",
      "nginx:1.25",
      "",
      "   ",
      "  ghcr.io/org/app:1.2   # pinned for the release branch",
      "redis:7\t# tab before the comment",
      "\t# indented comment",
      "postgres@sha256:" + "b".repeat(64),
      "",
    ].join("\n");
    assert.deepEqual(parseImageList(text), ["nginx:1.25", "ghcr.io/org/app:1.2", "redis:7", "postgres@sha256:" + "b".repeat(64)]);
  });

  it("CRLF line endings (a list written on Windows) leave no carriage returns behind", () => {
    assert.deepEqual(parseImageList("# list\r\nnginx:1\r\n\r\nredis:7 # cache\r\nalpine\r\n"), ["nginx:1", "redis:7", "alpine"]);
  });

  it('a "#" inside a word is not a comment (it is left to reference validation)', () => {
    assert.deepEqual(parseImageList("nginx#1\n"), ["nginx#1"]);
  });

  it("empty input and comment-only input give no references", () => {
    assert.deepEqual(parseImageList(""), []);
    assert.deepEqual(parseImageList("\n\n# nothing yet\n"), []);
  });

  it("no trailing newline", () => {
    assert.deepEqual(parseImageList("a\nb"), ["a", "b"]);
  });
});

describe("parseCliArgs: one file per output", () => {
  for (const argv of [
    ["--json", "r.out", "--junit", "r.out"],
    ["--json", "r.out", "--pulled", "./r.out"],
    ["--junit", "out/../r.xml", "--pulled", "r.xml"],
    ["--json", "a.json", "--junit", "b.xml", "--pulled", "a.json"],
  ]) {
    it(`${argv.join(" ")} is refused, naming both flags and the file`, () => {
      const error = rejected(argv);
      assert.match(error, /^--(json|junit) and --(junit|pulled) name the same file ".+": each report needs its own file$/);
    });
  }

  it("different files are fine", () => {
    assert.deepEqual(parsed(["--json", "r.json", "--junit", "r.xml", "--pulled", "r.txt"]).json, "r.json");
  });
});
