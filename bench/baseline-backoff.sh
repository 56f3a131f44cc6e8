#!/usr/bin/env bash
# Baseline (b) of the benchmark: per-image exponential backoff, the shape of ClickHouse's pull
# script. Every image at once, each tried up to 5 times; after failed try n it sleeps
# min(30, 2 * 2^(n-1)) + rand[0,1) seconds. Written for bench/bench.ts; plain bash.
#
# Usage: bench/baseline-backoff.sh IMAGE...
#   DOCKER       docker CLI to run (default: docker); DOCKER_HOST is passed through to it.
#   BENCH_SEED   optional: seeds each image's $RANDOM (seed + index) for a reproducible jitter.
# Prints "ok IMAGE tries=N" per pulled image and "FAILED IMAGE" (stderr) per failed one;
# exits 0 when every image was pulled, 1 otherwise.
set -u

docker_bin=${DOCKER:-docker}
tries=5
base=2
cap=30

pull_one() {
  local image=$1 index=$2 n delay millis
  if [[ -n "${BENCH_SEED:-}" ]]; then RANDOM=$((BENCH_SEED + index)); fi
  for ((n = 1; n <= tries; n++)); do
    if "$docker_bin" pull -q "$image" >/dev/null; then
      echo "ok $image tries=$n"
      return 0
    fi
    if ((n < tries)); then
      delay=$((base * 2 ** (n - 1)))
      if ((delay > cap)); then delay=$cap; fi
      millis=$((RANDOM % 1000))
      sleep "$(printf '%d.%03d' "$delay" "$millis")"
    fi
  done
  echo "FAILED $image after $tries tries" >&2
  return 1
}

pids=()
index=0
for image in "$@"; do
  pull_one "$image" "$index" &
  pids+=("$!")
  index=$((index + 1))
done

failed=0
for pid in "${pids[@]}"; do
  wait "$pid" || failed=$((failed + 1))
done
echo "baseline-backoff: $(($# - failed)) of $# pulled"
((failed == 0))
