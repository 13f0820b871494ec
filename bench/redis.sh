#!/usr/bin/env bash
# redis.sh: handled deliveries per second through one `server` with each shared store —
# SQLite (durable:<file>), PostgreSQL and Redis — side by side in one run, and Redis against
# redis-benchmark running the store's own scripts (the floor).
#
#   bench/redis.sh     # ROUNDS (3), DURATION (8 s), CONNS (32),
#                      # REDIS (redis://127.0.0.1:6379), PG (postgres://postgres@127.0.0.1:5432/test)
#
# Per round, for each store: the release `server` example pinned to CPU 0 with WORKERS=1, loaded
# by wrk on CPU 1 with distinct deliveries (post-distinct.lua); handled deliveries counted from
# HANDLED_LOG during the measured run, as bench/delivery.sh does. Then the floor: redis-benchmark
# on CPU 1 with CONNS clients, each request one EVALSHA that runs, for one delivery, the store's
# enqueue script, its lease script (one job) and its settle script (completed) — the same Lua
# files (src/delivery/redis/lua), wrapped as functions. It pays no HTTP, no HMAC, no JSON, and
# no batching either (the server leases and settles up to 64 deliveries per script call).
# PostgreSQL and Redis run wherever the OS puts them. Prints each round and the median of the
# per-round ratios redis/floor. Needs wrk, node, redis-cli, redis-benchmark and psql.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shared=$(cd "$root/../shared/bench" && pwd)
lua="$root/roamify-hooks/src/delivery/redis/lua"
rounds=${ROUNDS:-3} duration=${DURATION:-8} conns=${CONNS:-32}
redis_url=${REDIS:-redis://127.0.0.1:6379} pg=${PG:-postgres://postgres@127.0.0.1:5432/test}
for tool in wrk node redis-cli redis-benchmark psql; do
  command -v $tool >/dev/null || { echo "redis.sh: needs $tool" >&2; exit 2; }
done
hostport=${redis_url#redis://}; hostport=${hostport%%/*}
rhost=${hostport%%:*} rport=${hostport##*:}
rcli() { redis-cli -h "$rhost" -p "$rport" "$@"; }

work=$(mktemp -d /tmp/roamify-redis.XXXXXX)
name=bench_$$ schema=roamify_bench_$$
pid=
stop() { if [[ -n $pid ]]; then kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true; pid=; fi; }
clear_redis() {
  rcli --scan --pattern "{$1}:*" | xargs -r -n 500 redis-cli -h "$rhost" -p "$rport" DEL >/dev/null
}
trap 'stop; clear_redis "$name" || true; clear_redis floor_$$ || true; psql "$pg" -qc "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

echo "== building (release)"
(cd "$root" && cargo build --release -q --example server)
server="$root/target/release/examples/server"
export SECRET=whsec_bench DISTINCT_FILE="$work/distinct.txt"
node "$shared/make-distinct.js" "${N:-600000}" "$SECRET" "$DISTINCT_FILE"

# The floor's script: the store's enqueue, lease and settle bodies as functions (each shadows
# ARGV with its own arguments), run for one delivery.
{
  cat "$lua/prelude.lua"
  for script in enqueue lease settle; do
    echo "local function $script(ARGV)"
    cat "$lua/$script.lua"
    echo "end"
  done
  cat <<'LUA'
local key = 'floor-' .. ARGV[3]
enqueue({ prefix, group, key, ARGV[4], 86400000, 1000000000 })
local jobs = lease({ prefix, group, 'floor', 1, 300000 })
for _, job in ipairs(jobs) do
  settle({ prefix, group, job[1], tostring(job[4]), 'completed', 0, '' })
end
return #jobs
LUA
} >"$work/floor.lua"
sha=$(rcli SCRIPT LOAD "$(cat "$work/floor.lua")")
body='{"event_category":"partner","event_type":"top_up","data":{"timestamp":1700000000,"balance":1.50,"currency":"USD"}}'
ftag="{floor_$$}"

lines() { [[ -f $1 ]] && wc -l <"$1" || echo 0; }
out="$work/results.txt"
run_server() { # label, ROAMIFY_DELIVERY, extra env...
  local label=$1 delivery=$2 log="$work/handled-$1-$r.log"
  shift 2
  env ROAMIFY_WEBHOOK_SECRET=$SECRET BIND_ADDR=127.0.0.1:8302 WORKERS=1 RUST_LOG=warn \
    ROAMIFY_DELIVERY="$delivery" HANDLED_LOG="$log" "$@" setsid taskset -c 0 "$server" >"$work/server-$label.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 300); do curl -s -o /dev/null -X POST http://127.0.0.1:8302/webhooks/roamify && break; sleep 0.1; done
  local url=http://127.0.0.1:8302/webhooks/roamify
  WRK_PHASE=warmup taskset -c 1 wrk -t1 -c"$conns" -d2s -s "$shared/post-distinct.lua" "$url" >/dev/null
  local before after line
  before=$(lines "$log")
  line=$(WRK_PHASE=run taskset -c 1 wrk -t1 -c"$conns" -d"${duration}s" -s "$shared/post-distinct.lua" "$url" | grep '^RESULT')
  after=$(lines "$log")
  stop
  echo "round $r $label ${line#RESULT } handled_per_s=$(( (after - before) / duration ))" | tee -a "$out"
}
for ((r = 1; r <= rounds; r++)); do
  run_server sqlite "durable:$work/deliveries-$r.sqlite"
  run_server postgres "$pg" PG_SCHEMA=$schema
  psql "$pg" -qc "TRUNCATE $schema.keys, $schema.jobs; UPDATE $schema.pending SET n = 0" >/dev/null
  run_server redis "$redis_url" REDIS_NAME=$name
  clear_redis "$name"
  rps=$(taskset -c 1 redis-benchmark -h "$rhost" -p "$rport" -c "$conns" -n $((conns * 20000)) -r 1000000000 -q \
    EVALSHA "$sha" 6 "$ftag:stream" "$ftag:live" "$ftag:sched" "$ftag:dead" "$ftag:lease_seq" "$ftag:leases" \
    "$ftag:" workers __rand_int__ "$body" 2>/dev/null | tr '\r' '\n' | sed -n 's/.*: \([0-9.]*\) requests per second.*/\1/p' | tail -1)
  echo "round $r floor deliveries_per_s=${rps%.*}" | tee -a "$out"
  clear_redis "floor_$$"
done
echo "== handled/s per store (median of rounds)"
for label in sqlite postgres redis; do
  awk -v l=" $label " 'index($0, l) { for (i = 1; i <= NF; i++) if ($i ~ /^handled_per_s=/) { split($i, kv, "="); print kv[2] } }' "$out" |
    sort -n | awk -v l="$label" '{a[NR]=$1} END {printf "%s handled/s = %d\n", l, (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'
done
echo "== per-round median: redis handled/s over the floor's deliveries/s"
awk '/ redis / { for (i = 1; i <= NF; i++) if ($i ~ /^handled_per_s=/) { split($i, kv, "="); h[$2] = kv[2] } }
     / floor / { split($4, kv, "="); f[$2] = kv[2] }
     END { for (r in h) if (f[r] > 0) print h[r] / f[r] }' "$out" | sort -n |
  awk '{a[NR]=$1} END {printf "redis/floor = %.3f (rounds: %d)\n", (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2, NR}'
