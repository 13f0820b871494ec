#!/usr/bin/env bash
# http.sh: the HTTP benchmarks of BENCHMARKS.md, side by side with ../shared/bench/http-compare.sh
# (server pinned to CPU 0 with WORKERS=1, wrk on CPU 1, alternating rounds, ratios to the first).
#
#   bench/http.sh            # ROUNDS (default 3), DURATION (8 s), CONNS (32) are passed through
#
# 1. peers: the release `server` example (deduplication on, the default, and off) beside the
#    hand-written actix-web receiver and the Express one from ../shared/bench/peers.sh.
# 2. acknowledgement latency: the `slow_handlers` example, inline with instant handlers against
#    queued with handlers that sleep 2.5 s; p99 of each round, and the median ratio.
# Needs wrk (apt-get install wrk); Node.js and npm for the Express peer (skipped without them).
# http-compare.sh exits 1 even when it succeeds (its EXIT trap ends on a false test), so its
# output, not its status, says whether a comparison ran.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shared=$(cd "$root/../shared/bench" && pwd)
export ROUNDS=${ROUNDS:-3}
. "$root/bench/compare.sh"
command -v wrk >/dev/null || { echo "http.sh: needs wrk (apt-get install wrk)" >&2; exit 2; }

echo "== building (release)"
(cd "$root" && cargo build --release -q --example server --example slow_handlers)
mapfile -t peers < <("$shared/peers.sh")
server="$root/target/release/examples/server"
slow="$root/target/release/examples/slow_handlers"
# Our server logs every delivery at info; the peers log nothing. Compare like with like.
export RUST_LOG=warn

echo "== 1. requests/s against the peers (body: $(basename "${BODY_FILE:-esim_usage.json}"))"
compare /tmp/roamify-http-peers.txt \
  "sdk=8090=$server" \
  "sdk-nodedupe=8093=env IDEMPOTENCY_WINDOW_SECS=0 $server" \
  "${peers[@]}"

for name in sdk sdk-nodedupe; do
  echo "per-round median: $name/hand rps=$(per_round_ratio /tmp/roamify-http-peers.txt "$name" hand rps)" \
    "p99=$(per_round_ratio /tmp/roamify-http-peers.txt "$name" hand p99_us)"
  if grep -q '^round 1 node' /tmp/roamify-http-peers.txt; then
    echo "per-round median: $name/node rps=$(per_round_ratio /tmp/roamify-http-peers.txt "$name" node rps)"
  fi
done

echo "== 2. acknowledgement latency: queued with 2.5 s handlers vs inline with instant handlers"
compare /tmp/roamify-http-queued.txt \
  "inline-instant=8094=env ROAMIFY_DELIVERY=inline SLEEP_MS=0 $slow" \
  "queued-2.5s=8095=env ROAMIFY_DELIVERY=queued SLEEP_MS=2500 $slow"
median_p99() { # name -> median p99 in µs over the rounds
  sed -n "s/^round [0-9]* $1 .*p99_us=\([0-9]*\).*/\1/p" /tmp/roamify-http-queued.txt | sort -n \
    | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'
}
inline=$(median_p99 inline-instant)
queued=$(median_p99 queued-2.5s)
echo "median p99 inline-instant ${inline} us, queued-2.5s ${queued} us"
awk -v q="$queued" -v i="$inline" 'BEGIN {printf "p99 ratio of the medians queued-2.5s/inline-instant = %.3f\n", q/i}'
echo "per-round median: queued-2.5s/inline-instant p99=$(per_round_ratio /tmp/roamify-http-queued.txt queued-2.5s inline-instant p99_us)"
