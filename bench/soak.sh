#!/usr/bin/env bash
# soak.sh: memory stays bounded under a long stream of distinct deliveries (not run in CI).
#
#   bench/soak.sh        # DURATION (600 s), MODES ("inline queued durable journal"), CONNS (16), N (3000000)
#
# Starts one release `server` per mode (RUST_LOG=warn, HANDLED_LOG on), all at once, and loads
# each with its own wrk sending distinct signed deliveries (../shared/bench/post-distinct.lua, a
# body file from make-distinct.js; N must exceed what one server takes in DURATION, or bodies
# repeat and become duplicates). Samples each server's RSS every 10 s and prints, per mode, the
# RSS after the first minute, at the end, their ratio (the goal: within 10 %), how many
# deliveries were handled, how many deliveries the history holds at the end (asked of each
# server's admin API; the default bound is 20 000), and for the durable modes the size on disk
# (the history's table included). The clock starts
# once every server handles deliveries (wrk first reads the whole body file).
# Needs wrk (apt-get install wrk) and node.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shared=$(cd "$root/../shared/bench" && pwd)
duration=${DURATION:-600}
read -r -a modes <<<"${MODES:-inline queued durable journal}"
command -v wrk >/dev/null || { echo "soak.sh: needs wrk (apt-get install wrk)" >&2; exit 2; }
command -v node >/dev/null || { echo "soak.sh: needs node for make-distinct.js" >&2; exit 2; }

work=$(mktemp -d /tmp/roamify-soak.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

echo "== building (release)"
(cd "$root" && cargo build --release -q --example server)
server="$root/target/release/examples/server"
export SECRET=whsec_soak DISTINCT_FILE="$work/distinct.txt" ADMIN_TOKEN=soak-admin-token-0123456789
echo "== ${N:-3000000} distinct deliveries"
node "$shared/make-distinct.js" "${N:-3000000}" "$SECRET" "$DISTINCT_FILE"

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

declare -A server_pid port
p=8200
for mode in "${modes[@]}"; do
  p=$((p + 1)); port[$mode]=$p
  delivery=$mode
  [[ $mode == durable ]] && delivery="durable:$work/soak.sqlite"
  [[ $mode == journal ]] && delivery="journal:$work/journal"
  ROAMIFY_WEBHOOK_SECRET=$SECRET BIND_ADDR=127.0.0.1:$p WORKERS=1 RUST_LOG=warn \
    ROAMIFY_ADMIN_TOKEN=$ADMIN_TOKEN \
    ROAMIFY_DELIVERY=$delivery HANDLED_LOG="$work/$mode.handled" "$server" >"$work/$mode.log" 2>&1 &
  server_pid[$mode]=$!; pids+=($!)
done
for mode in "${modes[@]}"; do
  for _ in $(seq 1 300); do
    curl -s -o /dev/null -X POST "http://127.0.0.1:${port[$mode]}/webhooks/roamify" && break
    sleep 0.1
  done
done

echo "== loading every mode for ${duration} s"
for mode in "${modes[@]}"; do
  WRK_PHASE=run wrk -t1 -c"${CONNS:-16}" -d"$((duration + 180))s" -s "$shared/post-distinct.lua" \
    "http://127.0.0.1:${port[$mode]}/webhooks/roamify" >"$work/$mode.wrk" 2>&1 &
  pids+=($!)
done
# wrk reads the whole body file before it sends anything: start the clock when every server
# has handled its first deliveries.
for mode in "${modes[@]}"; do
  until [[ -s "$work/$mode.handled" ]]; do sleep 1; done
done
echo "== load running"
declare -A first last handled_end
for ((t = 10; t <= duration; t += 10)); do
  sleep 10
  line="t=${t}s"
  for mode in "${modes[@]}"; do
    rss=$(rss_kib "${server_pid[$mode]}")
    ((t == 60)) && first[$mode]=$rss
    last[$mode]=$rss
    line+=" $mode=${rss}KiB"
  done
  echo "$line"
done
declare -A history
for mode in "${modes[@]}"; do
  handled_end[$mode]=$(wc -l <"$work/$mode.handled")
  history[$mode]=$(curl -s -H "Authorization: Bearer $ADMIN_TOKEN" \
    "http://127.0.0.1:${port[$mode]}/roamify/admin/api/deliveries?limit=1" |
    sed -n 's/.*"total":\([0-9]*\).*/\1/p')
done
for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
sleep 2

echo "== results"
printf '%-8s %12s %12s %8s %10s %8s %s\n' mode rss_1min_kib rss_end_kib end/1min handled history disk
for mode in "${modes[@]}"; do
  handled=${handled_end[$mode]}
  disk=-
  [[ $mode == durable ]] && disk=$(du -ch "$work"/soak.sqlite* | tail -1 | cut -f1)
  [[ $mode == journal ]] && disk=$(du -sh "$work/journal" | cut -f1)
  printf '%-8s %12s %12s %8s %10s %8s %s\n' "$mode" "${first[$mode]:-0}" "${last[$mode]}" \
    "$(awk -v a="${last[$mode]}" -v b="${first[$mode]:-1}" 'BEGIN {printf "%.3f", a / b}')" \
    "$handled" "${history[$mode]:-0}" "$disk"
done
