import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  classifyService,
  discoverComposeImages,
  isComposeFileName,
  parseComposeServices,
  type ComposeDiscovery,
  type ComposeError,
  type ComposeImage,
  type ComposeServiceSpec,
  type NotPullable,
} from "../../src/sources/compose.js";
import { parseEnvFile, readEnvFile, type EnvFileError } from "../../src/sources/env-file.js";

const FIXTURES = fileURLToPath(new URL("../fixtures/compose/", import.meta.url));
const PROJECT = join(FIXTURES, "project");
const ERRORS = join(FIXTURES, "errors");
const BUILD = join(PROJECT, "compose.build.yaml");
const PROFILES = join(PROJECT, "compose.profiles.yml");
const VARS = join(PROJECT, "compose.vars.yml");
const DOCKER = join(PROJECT, "docker-compose.yml");

// ---------------------------------------------------------------------------------------------
// env files

const noEnvironment = (): string | undefined => undefined;
const environmentOf =
  (env: Readonly<Record<string, string>>) =>
  (name: string): string | undefined =>
    Object.hasOwn(env, name) ? env[name] : undefined;

describe("parseEnvFile: values", () => {
  const cases: ReadonlyArray<{
    name: string;
    text: string;
    env?: Readonly<Record<string, string>>;
    inherited?: ReadonlyArray<[string, string]>;
    values: ReadonlyArray<[string, string]>;
  }> = [
    {
      name: "KEY=VALUE lines",
      text: "A=1\nB=two words\n",
      values: [
        ["A", "1"],
        ["B", "two words"],
      ],
    },
    { name: "comments and blank lines", text: "# c\n\n   # indented\nA=1\n\n", values: [["A", "1"]] },
    {
      name: "export prefix and spaces around =",
      text: "export A=1\nexport  B = 2 \n",
      values: [
        ["A", "1"],
        ["B", "2"],
      ],
    },
    { name: "a key named export", text: "export=1", values: [["export", "1"]] },
    {
      name: "empty value",
      text: "A=\nB=   ",
      values: [
        ["A", ""],
        ["B", ""],
      ],
    },
    {
      name: "inline comment after a space",
      text: "A=x #note\nB=x  #  two",
      values: [
        ["A", "x"],
        ["B", "x"],
      ],
    },
    // Compose starts a comment only at space-#: a tab before # is data.
    { name: "a tab before # is data", text: "B=x\t# tab", values: [["B", "x\t# tab"]] },
    {
      name: "# without whitespace before it is data",
      text: "A=x#1\nB=#x",
      values: [
        ["A", "x#1"],
        ["B", "#x"],
      ],
    },
    { name: "single quotes are literal", text: "A='$B \\n #x'", values: [["A", "$B \\n #x"]] },
    { name: "single quotes keep a comment after them out", text: "A='x' # c", values: [["A", "x"]] },
    {
      name: "double-quote escapes",
      text: 'A="l1\\nl2"\nB="say \\"hi\\""\nC="back\\\\slash"\nD="t\\tx"\nE="\\$HOME"\nF="keep \\q"\nG="cr\\r"',
      values: [
        ["A", "l1\nl2"],
        ["B", 'say "hi"'],
        ["C", "back\\slash"],
        ["D", "t\tx"],
        ["E", "$HOME"],
        ["F", "keep \\q"],
        ["G", "cr\r"],
      ],
    },
    { name: "double quotes keep # and spaces", text: 'A=" a #b " # c', values: [["A", " a #b "]] },
    {
      name: "quoted values may span lines",
      text: "A=\"one\ntwo\"\nB='three\nfour'\nC=5",
      values: [
        ["A", "one\ntwo"],
        ["B", "three\nfour"],
        ["C", "5"],
      ],
    },
    {
      name: "interpolation of earlier keys, unquoted and double-quoted only",
      text: "A=1\nB=${A}-x\nC=\"$A\"\nD='$A'\nE=${NOPE:-def}\nF=5$$",
      values: [
        ["A", "1"],
        ["B", "1-x"],
        ["C", "1"],
        ["D", "$A"],
        ["E", "def"],
        ["F", "5$"],
      ],
    },
    {
      name: "the environment wins inside the file",
      text: "A=1\nB=${A}",
      env: { A: "env" },
      values: [
        ["A", "1"],
        ["B", "env"],
      ],
    },
    { name: "inherited values from earlier env files", text: "C=${BASE}/c", inherited: [["BASE", "b"]], values: [["C", "b/c"]] },
    {
      name: "this file's values before inherited ones",
      text: "BASE=own\nC=${BASE}/c",
      inherited: [["BASE", "b"]],
      values: [
        ["BASE", "own"],
        ["C", "own/c"],
      ],
    },
    {
      name: "bare KEY takes the environment or stays unset",
      text: "HOME_DIR\nMISSING\nexport ALSO",
      env: { HOME_DIR: "/h", ALSO: "" },
      values: [
        ["HOME_DIR", "/h"],
        ["ALSO", ""],
      ],
    },
    {
      name: "later duplicates replace earlier ones",
      text: "A=1\nB=2\nA=3",
      values: [
        ["A", "3"],
        ["B", "2"],
      ],
    },
    {
      name: "CRLF line endings and a BOM",
      text: '\uFEFFA=1\r\nB="x"\r\n',
      values: [
        ["A", "1"],
        ["B", "x"],
      ],
    },
    { name: "names with dots and dashes", text: "my.key-1=v", values: [["my.key-1", "v"]] },
    { name: "no trailing newline", text: "A=1", values: [["A", "1"]] },
    // Syntax compose-go's dotenv parser accepts (issue 9, item 14).
    { name: "a key starting with a digit is dropped, the rest is kept", text: "456=ABC\nA=1\n1A=x", values: [["A", "1"]] },
    { name: "an empty key is dropped", text: "=value\nA=1\n= 'x'", values: [["A", "1"]] },
    {
      name: "\\' inside single quotes",
      text: "A='Let\\'s go!'\nB='a\\nb'",
      values: [
        ["A", "Let's go!"],
        ["B", "a\\nb"],
      ],
    },
    {
      name: "YAML-style KEY: value",
      text: "A: 1\nB: Foo=bar\nC=1:B\nexport D: x",
      values: [
        ["A", "1"],
        ["B", "Foo=bar"],
        ["C", "1:B"],
        ["D", "x"],
      ],
    },
    {
      name: "escapes \\a \\b \\f \\v and \\0NNN in double quotes",
      text: 'A="\\a\\b\\f\\v"\nB="\\0123\\01234"\nC="\\0\\012\\0400 \\c \\x41"\nD="bar\\\\\\n\\ b\\az"',
      values: [
        ["A", "\x07\b\f\v"],
        ["B", "SS4"],
        ["C", "\\\\12\\400 \\c \\x41"],
        ["D", "bar\\\n\\ b\x07z"],
      ],
    },
    {
      name: "text after a closing quote is the next statement",
      text: "A=\"x\" B=2\nC='y' # c",
      values: [
        ["A", "x"],
        ["B", "2"],
        ["C", "y"],
      ],
    },
    {
      name: "keys with brackets and letters of any script",
      text: "a[1]=c\nárvíztűrő-TÜKÖR=x",
      values: [
        ["a[1]", "c"],
        ["árvíztűrő-TÜKÖR", "x"],
      ],
    },
    {
      name: "a lone $ is kept as written",
      text: 'PASSWORD=abc$\nA=a$1b\nB="^R$"',
      values: [
        ["PASSWORD", "abc$"],
        ["A", "a$1b"],
        ["B", "^R$"],
      ],
    },
  ];
  for (const { name, text, env = {}, inherited = [], values } of cases) {
    it(name, () => {
      const result = parseEnvFile(text, "f.env", environmentOf(env), new Map(inherited));
      assert.ok(result.ok, JSON.stringify(result));
      assert.deepEqual([...result.value.values], values);
      assert.deepEqual(result.value.warnings, []);
    });
  }

  it("reads '#' after '=' and blanks as the value, as Compose does, and warns", () => {
    const result = parseEnvFile("C= # only a comment", "f.env", noEnvironment);
    assert.deepEqual(result, {
      ok: true,
      value: {
        values: new Map([["C", "# only a comment"]]),
        warnings: [
          'f.env:1: the value of C is "# only a comment": Compose reads "#" after "=" and blanks as the value, not a comment; put the comment on its own line',
        ],
      },
    });
  });

  it("warns about unset variables with file, line and key", () => {
    const result = parseEnvFile("A=1\nB=${NOPE}x", "f.env", noEnvironment);
    assert.deepEqual(result, {
      ok: true,
      value: {
        values: new Map([
          ["A", "1"],
          ["B", "x"],
        ]),
        warnings: ["f.env:2: variable NOPE (used by B) is not set; using an empty string"],
      },
    });
  });
});

describe("parseEnvFile: errors name the file and line", () => {
  const cases: ReadonlyArray<{ name: string; text: string; error: EnvFileError }> = [
    {
      name: "invalid character in a name",
      text: "A=1\nexport ALSO # c",
      error: {
        file: "f.env",
        line: 2,
        message: 'f.env:2: unexpected character "#" in variable name "ALSO # c"; keys are letters, digits, "_", ".", "-", "[" and "]"',
      },
    },
    {
      name: "a space inside a name",
      text: "\nA B=1",
      error: { file: "f.env", line: 2, variable: "A B", message: 'f.env:2: variable name "A B" contains a space' },
    },
    {
      name: "unterminated double quote",
      text: 'A="open\nB=1',
      error: { file: "f.env", line: 1, variable: "A", message: 'f.env:1: unterminated double-quoted string (add the closing ") in the value of A' },
    },
    {
      name: "unterminated single quote",
      text: "# c\nA='open",
      error: { file: "f.env", line: 2, variable: "A", message: "f.env:2: unterminated single-quoted string (add the closing ') in the value of A" },
    },
    {
      name: "required variable",
      text: "A=${NOPE:?required here}",
      error: {
        file: "f.env",
        line: 1,
        variable: "NOPE",
        message: "f.env:1: required variable NOPE is missing a value: required here; set it in the environment or earlier in the file",
      },
    },
    {
      name: "line numbers count the lines of a multi-line value",
      text: 'A="one\ntwo"\nB=${X:?x}',
      error: {
        file: "f.env",
        line: 3,
        variable: "X",
        message: "f.env:3: required variable X is missing a value: x; set it in the environment or earlier in the file",
      },
    },
  ];
  for (const { name, text, error } of cases) {
    it(name, () => assert.deepEqual(parseEnvFile(text, "f.env", noEnvironment), { ok: false, error }));
  }
});

describe("readEnvFile", () => {
  it("a missing --env-file is an error", async () => {
    const path = join(FIXTURES, "missing.env");
    assert.deepEqual(await readEnvFile(path, noEnvironment), {
      ok: false,
      error: { file: path, message: `env file ${path}: no such file; check the --env-file path` },
    });
  });
  it("a missing optional .env is empty", async () => {
    assert.deepEqual(await readEnvFile(join(FIXTURES, ".env"), noEnvironment, { optional: true }), { ok: true, value: { values: new Map(), warnings: [] } });
  });
  it("reads the project .env fixture", async () => {
    const result = await readEnvFile(join(PROJECT, ".env"), noEnvironment);
    assert.ok(result.ok);
    assert.deepEqual(
      [...result.value.values],
      [
        ["REGISTRY", "registry.example.com"],
        ["MYSQL_TAG", "8.0.36"],
        ["ZOOKEEPER_IMAGE", "zookeeper:3.9.2"],
        ["CLICKHOUSE_TAG", ""],
      ],
    );
  });
});

// ---------------------------------------------------------------------------------------------
// compose

describe("isComposeFileName", () => {
  const cases: ReadonlyArray<[string, boolean]> = [
    ["compose.yml", true],
    ["compose.yaml", true],
    ["docker-compose.yml", true],
    ["docker-compose.override.yaml", true],
    ["compose.build.yaml", true],
    ["ci-compose-kafka.yml", true],
    ["dir/docker-compose.yml", true],
    ["settings.yml", false],
    ["compose.yml.bak", false],
    ["compose.json", false],
    ["compose.ymal", false],
    ["Compose.yml", false], // case-sensitive, like the glob on Linux
    [".compose.yml", false], // hidden files are not matched by the glob
  ];
  for (const [name, expected] of cases) it(name, () => assert.equal(isComposeFileName(name), expected));
});

const image = (file: string, service: string, ref: string, buildable = false): ComposeImage => ({
  image: ref,
  file,
  service,
  ...(buildable ? { buildable: true as const } : {}),
});

const BUILD_IMAGES: readonly ComposeImage[] = [image(BUILD, "app-with-tag", "registry.example.com/team/app:dev", true)];
const PROFILE_IMAGES: readonly ComposeImage[] = [
  image(PROFILES, "web", "nginx:1.25.4"),
  image(PROFILES, "debug", "busybox:1.36"),
  image(PROFILES, "kafka", "confluentinc/cp-kafka:7.6.0"),
];
const DOCKER_IMAGES: readonly ComposeImage[] = [
  image(DOCKER, "helper", "clickhouse/integration-helper:latest"),
  image(DOCKER, "helper-tz", "clickhouse/integration-helper:latest"),
  image(DOCKER, "postgres", "postgres:16.2"),
  image(DOCKER, "postgres-replica", "postgres:16.2"),
  image(DOCKER, "redis", "redis:7.2-alpine"),
  image(DOCKER, "minio", "minio/minio:RELEASE.2024-01-01T00-00-00Z"),
];
const NOT_PULLABLE: readonly NotPullable[] = [
  { file: BUILD, service: "app", reason: "build only" },
  { file: BUILD, service: "worker", reason: "build only" },
  { file: BUILD, service: "local-tool", reason: "pull_policy: build" },
  // extends is followed: sidecar inherits app's build and, like app, has no image.
  { file: BUILD, service: "sidecar", reason: "build only" },
  { file: BUILD, service: "data-init", reason: "no image or build" },
];
const PROXY_WARNING = `${VARS}: service "proxy": variable IMAGE_PREFIX is not set; using an empty string in image "\${IMAGE_PREFIX}nginx:1.25.4"`;

const varsImages = (clickhouse: string, zookeeper: string, keeper: string, mysql: string): ComposeImage[] => [
  image(VARS, "clickhouse", clickhouse),
  image(VARS, "zookeeper", zookeeper),
  image(VARS, "keeper", keeper),
  image(VARS, "mysql", mysql),
  image(VARS, "proxy", "nginx:1.25.4"),
];

async function discover(paths: string[], env: Record<string, string | undefined> = {}, envFiles?: string[]): Promise<ComposeDiscovery> {
  const result = await discoverComposeImages(paths, envFiles === undefined ? { env } : { env, envFiles });
  assert.ok(result.ok, `unexpected error: ${JSON.stringify(result)}`);
  return result.value;
}

describe("discoverComposeImages over the fixtures directory", () => {
  it("reads the Compose files (sorted, not recursive, other YAML ignored) with the project .env", async () => {
    assert.deepEqual(await discover([PROJECT]), {
      images: [
        ...BUILD_IMAGES,
        ...PROFILE_IMAGES,
        ...varsImages("clickhouse/clickhouse-server:24.3", "zookeeper:3.9.2", "registry.example.com/keeper:latest", "mysql:8.0.36"),
        ...DOCKER_IMAGES,
      ],
      notPullable: NOT_PULLABLE,
      warnings: [PROXY_WARNING],
    });
  });

  it("--env-file replaces the project .env", async () => {
    const result = await discover([VARS], {}, [join(PROJECT, "ci.env")]);
    assert.deepEqual(result, {
      images: varsImages("mirror.example.com:5000/clickhouse/clickhouse-server:24.8", "zookeeper:3.8", "mirror.example.com:5000/keeper:24.8", "mysql:8.4"),
      notPullable: [],
      warnings: [PROXY_WARNING],
    });
  });

  it("later --env-file files override earlier ones", async () => {
    const result = await discover([VARS], {}, [join(PROJECT, "ci.env"), join(PROJECT, "ci-override.env")]);
    assert.deepEqual(
      result.images.map((i) => i.image),
      ["mirror.example.com:5000/clickhouse/clickhouse-server:24.8", "zookeeper:3.8", "mirror.example.com:5000/keeper:25.1", "mysql:8.4", "nginx:1.25.4"],
    );
  });

  it("the process environment wins over --env-file values, also inside them, and set-but-empty counts as set", async () => {
    const result = await discover([VARS], { REGISTRY: "env.example.com", CLICKHOUSE_TAG: "" }, [join(PROJECT, "ci.env")]);
    assert.deepEqual(
      result.images.map((i) => i.image),
      ["env.example.com/clickhouse/clickhouse-server:24.3", "zookeeper:3.8", "env.example.com/keeper:24.8", "mysql:8.4", "nginx:1.25.4"],
    );
  });

  it("a file given twice (directly and through its directory) is read once, at its first position", async () => {
    const result = await discover([PROFILES, PROJECT]);
    assert.deepEqual(result.images.map((i) => `${i.file === PROFILES ? "profiles" : "other"}:${i.service}`).slice(0, 5), [
      "profiles:web",
      "profiles:debug",
      "profiles:kafka",
      "other:app-with-tag",
      "other:clickhouse",
    ]);
    assert.equal(result.images.length, 15);
  });

  it("a directory without Compose files gives a warning and nothing else", async () => {
    const dir = join(FIXTURES, "precedence");
    assert.deepEqual(await discover([dir]), {
      images: [],
      notPullable: [],
      warnings: [`${dir}: no Compose files here (names matching *compose*.y?(a)ml); nothing to pull from it`],
    });
  });
});

describe("variable precedence: process environment, then .env, then nothing", () => {
  const withDotenv = join(FIXTURES, "precedence", "with-dotenv", "compose.yml");
  const withoutDotenv = join(FIXTURES, "precedence", "without-dotenv", "compose.yml");
  const unsetWarning = (file: string) =>
    `${file}: service "app": variable APP_TAG is not set; using an empty string in image "registry.example.com/app:\${APP_TAG}"`;
  const cases: ReadonlyArray<{ name: string; file: string; env: Record<string, string | undefined>; envFiles?: string[]; image: string; warnings: string[] }> =
    [
      { name: "process environment over .env", file: withDotenv, env: { APP_TAG: "from-env" }, image: "registry.example.com/app:from-env", warnings: [] },
      { name: "empty process value over .env", file: withDotenv, env: { APP_TAG: "" }, image: "registry.example.com/app:", warnings: [] },
      { name: ".env when the environment lacks it", file: withDotenv, env: {}, image: "registry.example.com/app:from-dotenv", warnings: [] },
      {
        name: "an undefined environment value is unset",
        file: withDotenv,
        env: { APP_TAG: undefined },
        image: "registry.example.com/app:from-dotenv",
        warnings: [],
      },
      {
        name: "nothing: empty string and a warning",
        file: withoutDotenv,
        env: {},
        image: "registry.example.com/app:",
        warnings: [unsetWarning(withoutDotenv)],
      },
      {
        name: "--env-file replaces .env even when it lacks the key",
        file: withDotenv,
        env: {},
        envFiles: [join(PROJECT, "ci-override.env")],
        image: "registry.example.com/app:",
        warnings: [unsetWarning(withDotenv)],
      },
    ];
  for (const { name, file, env, envFiles, image: ref, warnings } of cases) {
    it(name, async () => {
      assert.deepEqual(await discover([file], env, envFiles), { images: [image(file, "app", ref)], notPullable: [], warnings });
    });
  }
});

describe("discoverComposeImages: errors name the file, service and variable", () => {
  const file = (name: string) => join(ERRORS, name);
  const cases: ReadonlyArray<{ name: string; paths: string[]; envFiles?: string[]; env?: Record<string, string>; error: ComposeError }> = [
    {
      name: "YAML syntax error with its line",
      paths: [file("bad-syntax.compose.yml")],
      error: {
        file: file("bad-syntax.compose.yml"),
        line: 5,
        message: `${file("bad-syntax.compose.yml")}:5:1: invalid YAML: Tabs are not allowed as indentation; fix the syntax at that line`,
      },
    },
    {
      name: "unresolved required variable",
      paths: [file("required.compose.yml")],
      error: {
        file: file("required.compose.yml"),
        service: "db",
        variable: "PG_TAG",
        message: `${file("required.compose.yml")}: service "db": image: required variable PG_TAG is missing a value: set PG_TAG to the server version; set PG_TAG in the environment, the .env file or an --env-file`,
      },
    },
    {
      name: "required variable set but empty",
      paths: [file("required.compose.yml")],
      env: { PG_TAG: "" },
      error: {
        file: file("required.compose.yml"),
        service: "db",
        variable: "PG_TAG",
        message: `${file("required.compose.yml")}: service "db": image: required variable PG_TAG is missing a value: set PG_TAG to the server version; set PG_TAG in the environment, the .env file or an --env-file`,
      },
    },
    {
      name: "image empty after interpolation (unset)",
      paths: [file("empty-image.compose.yml")],
      error: {
        file: file("empty-image.compose.yml"),
        service: "app",
        variable: "APP_IMAGE",
        message: `${file("empty-image.compose.yml")}: service "app": image "\${APP_IMAGE}" is empty after interpolation because APP_IMAGE is not set; set APP_IMAGE or give a default like \${APP_IMAGE:-image:tag}`,
      },
    },
    {
      name: "image empty after interpolation (set but empty)",
      paths: [file("empty-image.compose.yml")],
      env: { APP_IMAGE: "" },
      error: {
        file: file("empty-image.compose.yml"),
        service: "app",
        variable: "APP_IMAGE",
        message: `${file("empty-image.compose.yml")}: service "app": image "\${APP_IMAGE}" is empty after interpolation because APP_IMAGE is empty; set APP_IMAGE or give a default like \${APP_IMAGE:-image:tag}`,
      },
    },
    {
      name: "invalid interpolation format",
      paths: [file("bad-format.compose.yml")],
      error: {
        file: file("bad-format.compose.yml"),
        service: "cache",
        variable: "REDIS_TAG",
        message: `${file("bad-format.compose.yml")}: service "cache": image: invalid interpolation format in "redis:\${REDIS_TAG": "\${REDIS_TAG" is never closed with "}"; write a literal $ as $$`,
      },
    },
    {
      name: "services is not a mapping",
      paths: [file("services-list.compose.yml")],
      error: {
        file: file("services-list.compose.yml"),
        message: `${file("services-list.compose.yml")}: "services" must be a mapping of service names to definitions, found a list`,
      },
    },
    {
      name: "a file passed explicitly is read whatever its name",
      paths: [join(PROJECT, "settings.yml")],
      error: {
        file: join(PROJECT, "settings.yml"),
        message: `${join(PROJECT, "settings.yml")}: a Compose file must be a mapping at the top level, found a list`,
      },
    },
    {
      name: "missing path",
      paths: [join(FIXTURES, "nope")],
      error: {
        file: join(FIXTURES, "nope"),
        message: `${join(FIXTURES, "nope")}: no such file or directory; pass a Compose file or a directory that holds one`,
      },
    },
    {
      name: "missing --env-file",
      paths: [file("required.compose.yml")],
      envFiles: [join(ERRORS, "missing.env")],
      error: { file: join(ERRORS, "missing.env"), message: `env file ${join(ERRORS, "missing.env")}: no such file; check the --env-file path` },
    },
    {
      name: "broken --env-file with its line",
      paths: [file("required.compose.yml")],
      envFiles: [join(ERRORS, "bad.env")],
      error: {
        file: join(ERRORS, "bad.env"),
        line: 3,
        variable: "BROKEN",
        message: `${join(ERRORS, "bad.env")}:3: unterminated double-quoted string (add the closing ") in the value of BROKEN`,
      },
    },
  ];
  for (const { name, paths, envFiles, env = {}, error } of cases) {
    it(name, async () => {
      assert.deepEqual(await discoverComposeImages(paths, envFiles === undefined ? { env } : { env, envFiles }), { ok: false, error });
    });
  }
});

describe("parseComposeServices", () => {
  const ok = (text: string, services: ComposeServiceSpec[]) => ({ text, expected: { ok: true as const, value: services } });
  const bad = (text: string, error: ComposeError) => ({ text, expected: { ok: false as const, error } });
  const cases: ReadonlyArray<{ name: string; text: string; expected: ReturnType<typeof parseComposeServices> }> = [
    { name: "no services key", ...ok("networks:\n  default: {}\n", []) },
    { name: "empty services", ...ok("services:\n", []) },
    {
      name: "service order is file order, also for integer-like names",
      ...ok("services:\n  web:\n    image: a\n  1:\n    image: b\n", [
        { service: "web", image: "a", build: false },
        { service: "1", image: "b", build: false },
      ]),
    },
    {
      name: "build, pull_policy and both forms of extends",
      ...ok(
        "services:\n  a:\n    build: .\n    pull_policy: never\n    image: x\n  b:\n    extends: a\n  c:\n    extends: {service: a, file: other.yml}\n  d:\n    image:\n",
        [
          { service: "a", image: "x", build: true, pullPolicy: "never" },
          { service: "b", build: false, extends: "a" },
          { service: "c", build: false, extends: "a", extendsFile: "other.yml" },
          { service: "d", build: false },
        ],
      ),
    },
    { name: "empty file", ...bad("# nothing\n", { file: "c.yml", message: 'c.yml: the file is empty; a Compose file is a mapping with a "services" key' }) },
    {
      name: "top level is a scalar",
      ...bad("hello\n", { file: "c.yml", message: 'c.yml: a Compose file must be a mapping at the top level, found string "hello"' }),
    },
    {
      name: "service is not a mapping",
      ...bad("services:\n  web: nginx\n", {
        file: "c.yml",
        service: "web",
        message: 'c.yml: service "web" must be a mapping (image, build, ...), found string "nginx"',
      }),
    },
    {
      name: "image is not a string",
      ...bad("services:\n  web:\n    image: 1.5\n", {
        file: "c.yml",
        service: "web",
        message: 'c.yml: service "web": image must be a string, found number 1.5; quote the value',
      }),
    },
    {
      name: "duplicate service",
      ...bad("services:\n  web:\n    image: a\n  web:\n    image: b\n", {
        file: "c.yml",
        line: 4,
        message: "c.yml:4:3: invalid YAML: Map keys must be unique; fix the syntax at that line",
      }),
    },
    {
      name: "unresolved alias",
      ...bad("services:\n  web: *nope\n", {
        file: "c.yml",
        message: "c.yml: invalid YAML: Unresolved alias (the anchor must be set before the alias): nope",
      }),
    },
  ];
  for (const { name, text, expected } of cases) it(name, () => assert.deepEqual(parseComposeServices(text, "c.yml"), expected));

  it("accepts hundreds of aliases of one anchor (yaml's default limit is 100)", () => {
    let text = "x-common: &common\n  image: busybox:1.36\nservices:\n";
    for (let i = 0; i < 300; i += 1) text += `  s${i}:\n    <<: *common\n`;
    const result = parseComposeServices(text, "c.yml");
    assert.ok(result.ok);
    assert.equal(result.value.length, 300);
    assert.deepEqual(result.value[299], { service: "s299", image: "busybox:1.36", build: false });
  });
});

describe("classifyService", () => {
  const cases: ReadonlyArray<{ spec: ComposeServiceSpec; expected: ReturnType<typeof classifyService> }> = [
    { spec: { service: "s", image: "a", build: false }, expected: { kind: "pull", image: "a", buildable: false } },
    { spec: { service: "s", image: "a", build: true }, expected: { kind: "pull", image: "a", buildable: true } },
    { spec: { service: "s", image: "a", build: false, pullPolicy: "always" }, expected: { kind: "pull", image: "a", buildable: false } },
    { spec: { service: "s", image: "a", build: false, pullPolicy: "missing" }, expected: { kind: "pull", image: "a", buildable: false } },
    { spec: { service: "s", image: "a", build: false, pullPolicy: "never" }, expected: { kind: "not-pullable", reason: "pull_policy: never" } },
    { spec: { service: "s", image: "a", build: true, pullPolicy: "build" }, expected: { kind: "not-pullable", reason: "pull_policy: build" } },
    { spec: { service: "s", build: true }, expected: { kind: "not-pullable", reason: "build only" } },
    { spec: { service: "s", build: false, extends: "base" }, expected: { kind: "not-pullable", reason: "no image or build" } },
    { spec: { service: "s", build: false }, expected: { kind: "not-pullable", reason: "no image or build" } },
  ];
  for (const { spec, expected } of cases) it(JSON.stringify(spec), () => assert.deepEqual(classifyService(spec), expected));
});
