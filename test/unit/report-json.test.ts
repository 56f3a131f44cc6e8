import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { reportSettings } from "../../src/policy/settings.js";
import { toJson } from "../../src/report/json.js";
import type { Report } from "../../src/types.js";
import { compileReportSchema, reportSchema as schema } from "../fixtures/validators.js";
import { realisticReports, redisPresent, settings } from "../fixtures/reports.js";

const compile = compileReportSchema;

/** The report as a consumer sees it: through the serializer and back. */
function roundTrip(report: unknown): unknown {
  return JSON.parse(toJson(report as Report));
}

describe("toJson", () => {
  const minimal: Report = {
    schemaVersion: 1,
    tool: { name: "prepull", version: "0.1.0" },
    startedAt: "2025-03-14T09:26:53.000Z",
    endedAt: "2025-03-14T09:26:53.025Z",
    durationMs: 25,
    settings,
    images: [redisPresent],
    registries: [],
    exitCode: 0,
  };

  it("writes fixed key order, 2-space indent and a trailing newline", () => {
    assert.equal(
      toJson(minimal),
      `{
  "schemaVersion": 1,
  "tool": {
    "name": "prepull",
    "version": "0.1.0"
  },
  "startedAt": "2025-03-14T09:26:53.000Z",
  "endedAt": "2025-03-14T09:26:53.025Z",
  "durationMs": 25,
  "exitCode": 0,
  "settings": {
    "retries": 5,
    "backoffBaseMs": 1000,
    "backoffMaxMs": 30000,
    "timeoutMs": 600000,
    "parallel": 4,
    "rateLimitBackoffMs": 60000,
    "stallTimeoutMs": 60000,
    "deadlineMs": 1800000,
    "pullPolicy": "always",
    "preflight": "on",
    "quotaPlan": "fit"
  },
  "images": [
    {
      "input": "redis:7",
      "reference": "docker.io/library/redis:7",
      "registry": "docker.io",
      "status": "present",
      "class": "present",
      "bytes": 0,
      "durationMs": 12,
      "attempts": []
    }
  ],
  "registries": []
}
`,
    );
  });

  it("does not depend on the order in which the objects were built", () => {
    const scrambled = {
      registries: [],
      exitCode: 0,
      images: [Object.fromEntries(Object.entries(redisPresent).reverse())],
      settings: Object.fromEntries(Object.entries(settings).reverse()),
      durationMs: 25,
      endedAt: "2025-03-14T09:26:53.025Z",
      startedAt: "2025-03-14T09:26:53.000Z",
      tool: { version: "0.1.0", name: "prepull" },
      schemaVersion: 1,
    } as unknown as Report;
    assert.equal(toJson(scrambled), toJson(minimal));
  });

  it("places interrupted right after the timing fields, and attempt fields in declaration order", () => {
    const json = toJson(realisticReports.deadlineReached!);
    assert.match(json, /"durationMs": 1800004,\n {2}"interrupted": "deadline",\n {2}"exitCode": 1,/);
    assert.match(
      json,
      /"number": 1,\n\s+"startedAt": "2025-03-14T09:26:53.000Z",\n\s+"durationMs": 930,\n\s+"class": "rate-limited",\n\s+"message": "toomanyrequests: [^"]+",\n\s+"absorbed": true\n/,
    );
  });

  it("drops fields that are not part of the Report type, so nothing smuggled in at runtime is written", () => {
    const leaky = {
      ...minimal,
      token: "ghp_secret",
      settings: { ...settings, password: "hunter2" },
      images: [{ ...redisPresent, auth: "Basic dXNlcjpwYXNz", attempts: [] }],
    } as unknown as Report;
    const json = toJson(leaky);
    assert.equal(json, toJson(minimal));
    assert.doesNotMatch(json, /ghp_secret|hunter2|dXNlcjpwYXNz/);
  });

  it("round-trips every realistic report unchanged", () => {
    for (const [name, report] of Object.entries(realisticReports)) {
      // Settings are keyed as the settings table names them for the report (PULL_RETRIES is "retries" there).
      assert.deepEqual(JSON.parse(toJson(report)), { ...report, settings: reportSettings(report.settings) }, name);
    }
  });
});

describe("docs/report-schema.json", () => {
  const validate = compile();

  it("is a draft 2020-12 schema with an $id, a title and schemaVersion 1", () => {
    assert.equal(schema.$schema, "https://json-schema.org/draft/2020-12/schema");
    assert.equal(typeof schema.$id, "string");
    assert.equal(schema.title, "prepull report");
    assert.deepEqual((schema.properties as Record<string, unknown>).schemaVersion, {
      description: "Version of this report format.",
      const: 1,
    });
  });

  it("describes every property", () => {
    const missing: string[] = [];
    const walk = (node: unknown, where: string): void => {
      if (node === null || typeof node !== "object") return;
      const object = node as Record<string, unknown>;
      for (const [name, child] of Object.entries((object.properties ?? {}) as Record<string, Record<string, unknown>>)) {
        if (typeof child.description !== "string" || child.description === "") missing.push(`${where}.${name}`);
      }
      for (const [key, child] of Object.entries(object)) walk(child, `${where}/${key}`);
    };
    walk(schema, "#");
    assert.deepEqual(missing, []);
  });

  for (const [name, report] of Object.entries(realisticReports)) {
    it(`accepts the ${name} report`, () => {
      const valid = validate(roundTrip(report));
      assert.equal(valid, true, JSON.stringify(validate.errors));
    });
  }

  /** The mixed report, with the value at path replaced (or removed), as a consumer would read it. */
  const REMOVE = Symbol("remove");
  const broken = (path: readonly (string | number)[], value: unknown): unknown => {
    const report = roundTrip(realisticReports.mixed) as Record<string, unknown>;
    const parent = path.slice(0, -1).reduce<Record<string, unknown>>((node, key) => node[key] as Record<string, unknown>, report);
    const last = path[path.length - 1] ?? "";
    if (value === REMOVE) delete parent[last];
    else parent[last] = value;
    return report;
  };

  const rejects = (path: readonly (string | number)[], value: unknown, expected: { instancePath: string; keyword: string }): void => {
    assert.equal(validate(broken(path, value)), false);
    assert.ok(
      validate.errors?.some((error) => error.instancePath === expected.instancePath && error.keyword === expected.keyword),
      JSON.stringify(validate.errors),
    );
  };

  it("rejects an unknown image status", () => {
    rejects(["images", 0, "status"], "done", { instancePath: "/images/0/status", keyword: "enum" });
  });

  it("rejects an unknown outcome class on an attempt", () => {
    rejects(["images", 4, "attempts", 2, "class"], "flaky", { instancePath: "/images/4/attempts/2/class", keyword: "enum" });
  });

  it("rejects another schemaVersion", () => {
    rejects(["schemaVersion"], 2, { instancePath: "/schemaVersion", keyword: "const" });
  });

  it("rejects an unknown top-level field (a place a secret could hide)", () => {
    rejects(["token"], "ghp_secret", { instancePath: "", keyword: "additionalProperties" });
  });

  it("rejects an unknown settings field", () => {
    rejects(["settings", "registryPassword"], "hunter2", { instancePath: "/settings", keyword: "additionalProperties" });
  });

  it("rejects a malformed timestamp", () => {
    rejects(["startedAt"], "yesterday", { instancePath: "/startedAt", keyword: "format" });
  });

  it("rejects a negative duration and a fractional byte count", () => {
    rejects(["images", 1, "durationMs"], -1, { instancePath: "/images/1/durationMs", keyword: "minimum" });
    rejects(["images", 1, "bytes"], 1.5, { instancePath: "/images/1/bytes", keyword: "type" });
  });

  it("rejects an unknown interruption cause", () => {
    rejects(["interrupted"], "SIGKILL", { instancePath: "/interrupted", keyword: "enum" });
  });

  const required: Record<string, string[]> = {
    "": ["schemaVersion", "tool", "startedAt", "endedAt", "durationMs", "exitCode", "settings", "images", "registries"],
    "/tool": ["name", "version"],
    "/settings": ["retries", "backoffBaseMs", "backoffMaxMs", "timeoutMs", "parallel", "rateLimitBackoffMs", "stallTimeoutMs", "deadlineMs", "pullPolicy"],
    "/images/0": ["input", "reference", "registry", "status", "class", "bytes", "durationMs", "attempts"],
    "/images/0/attempts/0": ["number", "startedAt", "durationMs", "class"],
    "/registries/0": ["registry", "attempts", "failures", "gateClosedMs"],
  };
  for (const [path, fields] of Object.entries(required)) {
    for (const field of fields) {
      it(`rejects a report missing ${path || "/"}${path ? "/" : ""}${field}`, () => {
        const segments = path
          .split("/")
          .slice(1)
          .map((key) => (/^\d+$/.test(key) ? Number(key) : key));
        rejects([...segments, field], REMOVE, { instancePath: path, keyword: "required" });
      });
    }
  }
});
