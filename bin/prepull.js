#!/bin/sh
":" /*
# prepull's installed command. Node >= 20.6 reads "--env-file FILE" from its own command line
# before any JavaScript runs, even after the script's name (nodejs/node#54232; Node 20 does not
# stop at the script): a missing FILE exits 9 with "node: FILE: not found", an existing one is
# loaded into the environment. So this file starts as a shell script that prefixes every
# argument with "+", which no Node option starts with, and runs itself again as JavaScript
# (node resolves the npm symlink, so the imports below are found).
for arg do
  shift
  set -- "$@" "+$arg"
done
exec node "$0" --prepull-prefixed-argv "$@"
*/
/* global process */
// Restores the arguments as typed; run as `node bin/prepull.js ...` they arrive unprefixed.
if (process.argv[2] === "--prepull-prefixed-argv") {
  process.argv.splice(2, process.argv.length, ...process.argv.slice(3).map((arg) => arg.slice(1)));
}
await import("../dist/cli/main.js");
