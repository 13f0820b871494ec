#!/usr/bin/env bash
# adapters.sh: the two adapters side by side with ../shared/bench/http-compare.sh (server pinned to
# CPU 0 with WORKERS=1, wrk on CPU 1, alternating rounds): the release `server` example
# (actix-web), the release `axum_server` example (axum, same handlers and set-up) and the
# hand-written actix-web receiver from ../shared/bench/peers.sh, the floor.
#
#   bench/adapters.sh        # ROUNDS (default 3), DURATION (8 s), CONNS (32) are passed through
#   BEFORE=/tmp/before bench/adapters.sh   # also the same two servers built from an earlier
#                                          # commit (BEFORE holds its release `server` and
#                                          # `axum_server`), in the same rounds, with the ratios
#                                          # after/before
#
# RUST_LOG defaults to warn here, as in http.sh, because the hand-written peer logs nothing;
# RUST_LOG=info compares the two adapters with their default logging (the peer still logs nothing).
# Needs wrk (apt-get install wrk).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shared=$(cd "$root/../shared/bench" && pwd)
export ROUNDS=${ROUNDS:-3}
export RUST_LOG=${RUST_LOG:-warn}
. "$root/bench/compare.sh"
command -v wrk >/dev/null || { echo "adapters.sh: needs wrk (apt-get install wrk)" >&2; exit 2; }

echo "== building (release)"
(cd "$root" && cargo build --release -q --example server --example axum_server)
mapfile -t peers < <("$shared/peers.sh" | grep '^hand=')
before=()
if [[ -n ${BEFORE:-} ]]; then
  before=("actix-before=8094=$BEFORE/server" "axum-before=8095=$BEFORE/axum_server")
fi

echo "== requests/s: actix-web and axum adapters against the hand-written receiver (RUST_LOG=$RUST_LOG)"
compare /tmp/roamify-adapters.txt \
  "actix=8090=$root/target/release/examples/server" \
  "axum=8093=$root/target/release/examples/axum_server" \
  "${before[@]}" "${peers[@]}"
for name in actix axum; do
  echo "per-round median: $name/hand rps=$(per_round_ratio /tmp/roamify-adapters.txt "$name" hand rps)" \
    "p99=$(per_round_ratio /tmp/roamify-adapters.txt "$name" hand p99_us)"
done
echo "per-round median: axum/actix rps=$(per_round_ratio /tmp/roamify-adapters.txt axum actix rps)" \
  "p99=$(per_round_ratio /tmp/roamify-adapters.txt axum actix p99_us)"
if [[ -n ${BEFORE:-} ]]; then
  for name in actix axum; do
    echo "per-round median: $name after/before rps=$(per_round_ratio /tmp/roamify-adapters.txt "$name" "$name-before" rps)" \
      "p99=$(per_round_ratio /tmp/roamify-adapters.txt "$name" "$name-before" p99_us)"
  done
fi
