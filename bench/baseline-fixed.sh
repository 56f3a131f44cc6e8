#!/usr/bin/env bash
# Baseline (a) of the benchmark: the bash loop prepull replaces. Every image at once, each tried
# up to 3 times with a fixed 5 s sleep between tries. Written for bench/bench.ts; plain bash.
#
# Usage: bench/baseline-fixed.sh IMAGE...
#   DOCKER       docker CLI to run (default: docker); DOCKER_HOST is passed through to it.
# Prints "ok IMAGE tries=N" per pulled image and "FAILED IMAGE" (stderr) per failed one;
# exits 0 when every image was pulled, 1 otherwise.
set -u

docker_bin=${DOCKER:-docker}
tries=3
pause=5

pull_one() {
  local image=$1 n
  for ((n = 1; n <= tries; n++)); do
    if "$docker_bin" pull -q "$image" >/dev/null; then
      echo "ok $image tries=$n"
      return 0
    fi
    if ((n < tries)); then sleep "$pause"; fi
  done
  echo "FAILED $image after $tries tries" >&2
  return 1
}

pids=()
for image in "$@"; do
  pull_one "$image" &
  pids+=("$!")
done

failed=0
for pid in "${pids[@]}"; do
  wait "$pid" || failed=$((failed + 1))
done
echo "baseline-fixed: $(($# - failed)) of $# pulled"
((failed == 0))
