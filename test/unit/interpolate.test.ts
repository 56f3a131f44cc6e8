import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { interpolate, interpolateDetailed, isVariableName, type InterpolationError } from "../../src/sources/interpolate.js";

// SET has a value, EMPTY is set but empty, anything else is unset.
const ENV: Readonly<Record<string, string>> = { SET: "value", EMPTY: "", B: "b", REG: "registry.example.com" };
const lookup = (name: string): string | undefined => (Object.hasOwn(ENV, name) ? ENV[name] : undefined);

describe("interpolate: values", () => {
  const cases: ReadonlyArray<{ input: string; value: string; unset?: readonly string[] }> = [
    { input: "nginx:1.25", value: "nginx:1.25" },
    { input: "", value: "" },
    // plain references
    { input: "$SET", value: "value" },
    { input: "${SET}", value: "value" },
    { input: "a-${SET}-b", value: "a-value-b" },
    { input: "$REG/app:$SET", value: "registry.example.com/app:value" },
    { input: "$SET_suffix", value: "", unset: ["SET_suffix"] }, // names are greedy, as in Compose
    { input: "${SET}_suffix", value: "value_suffix" },
    { input: "$SET.x", value: "value.x" },
    { input: "$UNSET", value: "", unset: ["UNSET"] },
    { input: "${UNSET}", value: "", unset: ["UNSET"] },
    { input: "app:${UNSET}", value: "app:", unset: ["UNSET"] },
    { input: "${EMPTY}", value: "" }, // set but empty: no warning
    { input: "$U1$U2${U1}", value: "", unset: ["U1", "U2"] },
    // ":-" default when unset or empty
    { input: "${SET:-d}", value: "value" },
    { input: "${EMPTY:-d}", value: "d" },
    { input: "${UNSET:-d}", value: "d" },
    { input: "${UNSET:-}", value: "" },
    // "-" default only when unset
    { input: "${SET-d}", value: "value" },
    { input: "${EMPTY-d}", value: "" },
    { input: "${UNSET-d}", value: "d" },
    { input: "${UNSET-}", value: "" },
    // ":+" alternative when set and non-empty
    { input: "${SET:+alt}", value: "alt" },
    { input: "${EMPTY:+alt}", value: "" },
    { input: "${UNSET:+alt}", value: "" },
    // "+" alternative when set
    { input: "${SET+alt}", value: "alt" },
    { input: "${EMPTY+alt}", value: "alt" },
    { input: "${UNSET+alt}", value: "" },
    // ":?" and "?" pass the value through when satisfied
    { input: "${SET:?msg}", value: "value" },
    { input: "${SET?msg}", value: "value" },
    { input: "${EMPTY?msg}", value: "" },
    // defaults may hold anything, including ":" "/" "@" and balanced braces
    { input: "${UNSET:-clickhouse/server:24.3@sha256:ab}", value: "clickhouse/server:24.3@sha256:ab" },
    { input: "${UNSET:-{x}}", value: "{x}" },
    { input: "${UNSET:-a}b}", value: "ab}" },
    { input: "}{", value: "}{" },
    // nesting
    { input: "${UNSET:-${B:-x}}", value: "b" },
    { input: "${UNSET:-${UNSET2:-x}}", value: "x" },
    { input: "${A1:-${A2:-${A3:-deep}}}", value: "deep" },
    { input: "${UNSET:-${REG}/app}:${SET}", value: "registry.example.com/app:value" },
    { input: "${SET:+${B}-alt}", value: "b-alt" },
    { input: "${UNSET:-${UNSET2}}", value: "", unset: ["UNSET2"] },
    // lazy: branches not taken neither warn nor fail
    { input: "${SET:-${UNSET}}", value: "value" },
    { input: "${SET:-${UNSET:?boom}}", value: "value" },
    { input: "${UNSET:+${NOPE:?boom}}", value: "" },
    // "$$" is a literal "$"
    { input: "$$", value: "$" },
    { input: "a$$b", value: "a$b" },
    { input: "$$SET", value: "$SET" },
    { input: "$${SET}", value: "${SET}" },
    { input: "$$$SET", value: "$value" },
    { input: "${UNSET:-$$}", value: "$" },
    { input: "${UNSET:-$${X}}", value: "${X}" },
    // a "$" that starts no variable is kept as written, as Compose keeps it
    { input: "$1", value: "$1" },
    { input: "a$1b", value: "a$1b" },
    { input: "abc$", value: "abc$" },
    { input: "^REGEX$", value: "^REGEX$" },
    { input: "$ x", value: "$ x" },
    { input: "5$-$SET", value: "5$-value" },
    { input: "${UNSET:-$1}", value: "$1" },
    { input: "${UNSET:-a$}", value: "a$" },
  ];
  for (const { input, value, unset = [] } of cases) {
    it(JSON.stringify(input), () => {
      const result = interpolateDetailed(input, lookup);
      assert.ok(result.ok, `unexpected error: ${JSON.stringify(result)}`);
      assert.equal(result.value.value, value);
      assert.deepEqual(result.value.unset, unset);
      assert.deepEqual(interpolate(input, lookup), { ok: true, value });
    });
  }
});

describe("interpolate: errors", () => {
  const invalid = (input: string, detail: string, variable?: string): InterpolationError => ({
    kind: "invalid-format",
    ...(variable === undefined ? {} : { variable }),
    message: `invalid interpolation format in "${input}": ${detail}; write a literal $ as $$`,
  });
  const cases: ReadonlyArray<{ input: string; error: InterpolationError }> = [
    {
      input: "${UNSET:?need it}",
      error: { kind: "missing-required", variable: "UNSET", message: "required variable UNSET is missing a value: need it" },
    },
    {
      input: "${EMPTY:?need it}",
      error: { kind: "missing-required", variable: "EMPTY", message: "required variable EMPTY is missing a value: need it" },
    },
    { input: "${UNSET?gone}", error: { kind: "missing-required", variable: "UNSET", message: "required variable UNSET is missing a value: gone" } },
    { input: "${UNSET:?}", error: { kind: "missing-required", variable: "UNSET", message: "required variable UNSET is missing a value" } },
    { input: "${UNSET?}", error: { kind: "missing-required", variable: "UNSET", message: "required variable UNSET is missing a value" } },
    {
      input: "x:${UNSET:?set it, e.g. ${B}}",
      error: { kind: "missing-required", variable: "UNSET", message: "required variable UNSET is missing a value: set it, e.g. b" },
    },
    {
      input: "${UNSET:-${INNER:?inner missing}}",
      error: { kind: "missing-required", variable: "INNER", message: "required variable INNER is missing a value: inner missing" },
    },
    { input: "${}", error: invalid("${}", `"\${}" names no variable`) },
    { input: "${1ABC}", error: invalid("${1ABC}", `"\${" must be followed by a variable name`) },
    { input: "${ SET}", error: invalid("${ SET}", `"\${" must be followed by a variable name`) },
    { input: "${SET", error: invalid("${SET", `"\${SET" is never closed with "}"`, "SET") },
    { input: "${SET:x}", error: invalid("${SET:x}", `unexpected ":" after "\${SET"`, "SET") },
    { input: "${SET x}", error: invalid("${SET x}", `unexpected " " after "\${SET"`, "SET") },
    { input: "${UNSET:-abc", error: invalid("${UNSET:-abc", `"\${" is never closed with "}"`, "UNSET") },
    { input: "${A:-${B:-x}", error: invalid("${A:-${B:-x}", `"\${" is never closed with "}"`, "A") },
  ];
  for (const { input, error } of cases) {
    it(JSON.stringify(input), () => {
      assert.deepEqual(interpolateDetailed(input, lookup), { ok: false, error });
      assert.deepEqual(interpolate(input, lookup), { ok: false, error });
    });
  }
});

describe("interpolate: referenced variables", () => {
  it("lists every variable looked up, once, in order, skipping branches not taken", () => {
    const result = interpolateDetailed("${EMPTY:-${B}}/${SET:-${NOT_TAKEN}}/${EMPTY}", lookup);
    assert.deepEqual(result, { ok: true, value: { value: "b/value/", unset: [], referenced: ["EMPTY", "B", "SET"] } });
  });
});

describe("isVariableName", () => {
  const cases: ReadonlyArray<[string, boolean]> = [
    ["TAG", true],
    ["_tag_1", true],
    ["a", true],
    ["1TAG", false],
    ["", false],
    ["TAG-1", false],
    ["TAG.X", false],
  ];
  for (const [name, expected] of cases) it(JSON.stringify(name), () => assert.equal(isVariableName(name), expected));
});
