import { SETTINGS, type SettingSpec } from "../policy/settings.js";

/** The argument a setting's flag takes, as --help and the README show it. */
export function settingArgument(spec: SettingSpec): string {
  switch (spec.type) {
    case "count":
    case "seed":
      return "N";
    case "seconds":
      return "SEC";
    case "choice":
      return spec.choices.join("|");
    case "platform":
      return "OS/ARCH[/V]";
    case "list":
      return "REG=MIRROR";
    case "switch":
      return "";
    case "path":
      return "DIR";
  }
}

/** The default as --help and the README show it. */
export function settingDefault(spec: SettingSpec): string {
  switch (spec.type) {
    case "seed":
      return "random";
    case "platform":
      return "the engine's";
    case "list":
    case "path":
      return "none";
    case "switch":
      return "off";
    default:
      return String(spec.default);
  }
}

export function helpText(): string {
  const knobs = SETTINGS.map(
    (s) => `  ${`${s.short ? `-${s.short}, ` : "    "}${s.flag} ${settingArgument(s)}`.trimEnd().padEnd(28)}${s.env}, default ${settingDefault(s)}: ${s.help}`,
  ).join("\n");
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
                              (without any image input: the files in COMPOSE_FILE)
      --env-file FILE         variables for compose interpolation (replaces the .env beside the compose file)
      --profile NAME          only services Compose starts with this profile enabled (COMPOSE_PROFILES);
                              without one, every service's image
      --print                 print the resolved, normalized references and exit without pulling

Policy (flags override the PULL_* environment variables):
${knobs}

Outputs:
      --json FILE             write the JSON report (docs/report-schema.json)
      --junit FILE            write a JUnit XML report, one testcase per image
      --pulled FILE           write the references now present on the engine, one per line
      --lock FILE             write each image's resolved digest to FILE (a lock file; written even when images fail)
      --locked FILE           pull exactly the digests locked in FILE and tag them with the original names;
                              an image missing from FILE, or whose tag now names another digest, fails
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

Exit codes: 0 every image pulled, present or skipped · 1 an image (or an archive) failed · 2 usage or bad input ·
3 engine unreachable · 130/143 interrupted by SIGINT/SIGTERM (reports are still written).
`;
}

/** The README's table of settings, row by row (a unit test keeps the README in step with the table). */
export function settingsMarkdownRows(): string[] {
  return SETTINGS.map((s) => `| \`${`${s.flag} ${settingArgument(s).replaceAll("|", "\\|")}`.trimEnd()}\` | \`${s.env}\` | ${settingDefault(s)} | ${s.help} |`);
}
