#!/usr/bin/env bash
# observability.sh: what logging and metrics cost, same binary side by side with
# ../shared/bench/http-compare.sh (server pinned to CPU 0 with WORKERS=1, wrk on CPU 1,
# alternating rounds, per-round ratios).
#
#   bench/observability.sh     # ROUNDS (default 9), DURATION (8 s), CONNS (32) passed through
#   BEFORE=/tmp/before ONLY_BEFORE=1 bench/observability.sh   # only 3. below
#
# 1. logging: the release `server` example with its default log level (RUST_LOG unset: info,
#    one line per delivery, written to a file by the non-blocking writer) against RUST_LOG=warn.
# 2. metrics: default logging, METRICS_ADDR set (the Prometheus recorder installed, every
#    delivery counted) against unset.
# 1 and 2 send the same body each time (as ../shared/bench/post.lua does), deduplication on
# (the default): after the first request every delivery is a duplicate acknowledged 200, logged
# and counted. 1b sends distinct deliveries (post-distinct.lua), so
# every one runs its handler — which in the example logs a line of its own at info. Needs node.
# 3. with BEFORE (a directory holding an earlier commit's release `server`): the queued mode with
#    default logging and distinct deliveries, this build against that one, per-round ratio
#    after/before: what a change to the workers' logging (a line per run) costs as users run it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shared=$(cd "$root/../shared/bench" && pwd)
export ROUNDS=${ROUNDS:-9}
. "$root/bench/compare.sh"
command -v wrk >/dev/null || { echo "observability.sh: needs wrk (apt-get install wrk)" >&2; exit 2; }

echo "== building (release)"
(cd "$root" && cargo build --release -q --example server)
server="$root/target/release/examples/server"

work=$(mktemp -d /tmp/roamify-obs.XXXXXX)
trap 'rm -rf "$work"' EXIT
distinct() { [[ -f $work/distinct.txt ]] || node "$shared/make-distinct.js" "${N:-600000}" "${SECRET:-whsec_bench}" "$work/distinct.txt" >/dev/null; }

if [[ -z ${ONLY_BEFORE:-} ]]; then
echo "== 1. default logging (info) against RUST_LOG=warn"
compare /tmp/roamify-obs-logs.txt \
  "warn=8096=env RUST_LOG=warn $server" \
  "info=8097=env -u RUST_LOG $server"
echo "per-round median: info/warn rps=$(per_round_ratio /tmp/roamify-obs-logs.txt info warn rps)"

echo "== 1b. the same with distinct deliveries (every one handled, and the example's handlers log too)"
distinct
WRK_SCRIPT="$shared/post-distinct.lua" DISTINCT_FILE="$work/distinct.txt" compare /tmp/roamify-obs-logs-distinct.txt \
  "warn=8096=env RUST_LOG=warn $server" \
  "info=8097=env -u RUST_LOG $server"
echo "per-round median (distinct): info/warn rps=$(per_round_ratio /tmp/roamify-obs-logs-distinct.txt info warn rps)"
[[ ${ONLY_LOGS:-} ]] && exit 0
echo "== 2. metrics on against off (default logging in both)"
compare /tmp/roamify-obs-metrics.txt \
  "off=8098=env -u RUST_LOG -u METRICS_ADDR $server" \
  "on=8099=env -u RUST_LOG METRICS_ADDR=127.0.0.1:0 $server"
echo "per-round median: on/off rps=$(per_round_ratio /tmp/roamify-obs-metrics.txt on off rps)"
fi

if [[ -n ${BEFORE:-} ]]; then
  echo "== 3. queued, default logging, distinct deliveries: this build against $BEFORE/server"
  distinct
  WRK_SCRIPT="$shared/post-distinct.lua" DISTINCT_FILE="$work/distinct.txt" compare /tmp/roamify-obs-before.txt \
    "before=8094=env -u RUST_LOG ROAMIFY_DELIVERY=queued $BEFORE/server" \
    "after=8095=env -u RUST_LOG ROAMIFY_DELIVERY=queued $server"
  echo "per-round median (queued, info, distinct): after/before rps=$(per_round_ratio /tmp/roamify-obs-before.txt after before rps)"
fi
