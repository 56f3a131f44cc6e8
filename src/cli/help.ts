import { NUMERIC_SETTINGS } from "../policy/settings.js";

export function helpText(): string {
  const knobs = NUMERIC_SETTINGS.map((s) => `  ${`${s.flag} ${s.unit === "count" ? "N" : "SEC"}`.padEnd(28)}${s.env}, default ${s.default}: ${s.help}`).join("\n");
  return `prepull: pull every image a CI test batch needs, and keep going when the registry has a bad minute.

Usage: prepull [options] [IMAGE...]
       prepull [options] --file images.txt
       prepull [options] --compose tests/compose/
       ... | prepull [options] -

Images:
  IMAGE                       an image reference (nginx, ghcr.io/org/app:1.2, repo@sha256:...)
  -f, --file FILE             read references from FILE ("-": stdin), one per line (# comments, blank lines ignored)
  -                           read references from standard input
  -c, --compose PATH          take services.*.image from a compose file, or from the compose files in a directory
      --env-file FILE         variables for compose interpolation (replaces the .env beside the compose file)
      --print                 print the resolved, normalized references and exit without pulling

Policy (flags override the PULL_* environment variables):
${knobs}
      --seed N                PULL_SEED: seed the jitter, for reproducible schedules
      --pull always|missing   PULL_POLICY, default missing: skip images the engine already has
      --platform OS/ARCH[/V]  PULL_PLATFORM, default the engine's: pull this platform (a compose service's platform: wins)

Outputs:
      --json FILE             write the JSON report (docs/report-schema.json)
      --junit FILE            write a JUnit XML report, one testcase per image
      --pulled FILE           write the references now present on the engine, one per line
  -q, --quiet                 only failures and the summary
  -v, --verbose               also the engine's status lines
      --no-color              no colors (NO_COLOR is honoured too)
      --color                 color the summary even when stdout is not a terminal
  -h, --help                  this text
  -V, --version               the version

Engine:
      --context NAME          use this docker context's engine (beats DOCKER_HOST, like docker --context)
  Without it, like the docker CLI: DOCKER_HOST (unix:// or tcp://, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH),
  else DOCKER_CONTEXT, else currentContext in DOCKER_CONFIG/config.json, else the default socket.
  Credentials from DOCKER_CONFIG or ~/.docker/config.json (auths, credsStore, credHelpers).

Exit codes: 0 every image pulled, present or skipped · 1 an image failed · 2 usage or bad input ·
3 engine unreachable · 130/143 interrupted by SIGINT/SIGTERM (reports are still written).
`;
}
