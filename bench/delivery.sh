#!/usr/bin/env bash
# delivery.sh: inline, queued and durable delivery (SQLite and journal), and the shared stores
# (PostgreSQL, Redis) side by side, with distinct deliveries.
#
#   bench/delivery.sh        # ROUNDS (3), DURATION (8 s), WARMUP (2 s), CONNS (32), N (1000000;
#                            # 2000000 with LOAD=esim)
#   MODES="inline queued" bench/delivery.sh          # only these modes (default: the first four)
#   MODES="postgres redis" bench/delivery.sh         # PG (postgres://postgres@127.0.0.1:5432/test)
#       # and REDIS (redis://127.0.0.1:6379): each run on a schema or key tag of its own, dropped
#       # at exit
#   LOAD=esim MODES="queued queued:latest queued:serial" bench/delivery.sh
#       # esim.status deliveries over ICCIDS (10 000) eSIMs from bench/make-esim.js instead of
#       # partner.top_up ones (one in 50 older than its eSIM's last: stale with `latest` or
#       # `serial`, so not counted in handled/s); MODE:ORDERING runs MODE with ROAMIFY_ORDERING,
#       # and its ratios to MODE (ordering off) are printed
#   MODES="queued queued+nohistory durable durable+nohistory" bench/delivery.sh
#       # MODE+nohistory runs MODE with HISTORY_ENTRIES=0 (no delivery history; the default keeps
#       # 20 000): the ratios history on / off are printed
#   BEFORE=/tmp/before MODES="inline queued" bench/delivery.sh
#       # each mode also run by the `server` built from an earlier commit (BEFORE holds its
#       # release binary), right after the current one in every round; prints the per-round
#       # ratios after/before
#
# Same method as ../shared/bench/http-compare.sh (each receiver started afresh pinned to CPU 0
# with WORKERS=1, wrk pinned to CPU 1, ../shared/bench/post-distinct.lua with a body file from
# make-distinct.js so no delivery repeats, receivers alternating within each round), plus what
# http-compare.sh cannot see: how many deliveries the workers *handled* during the measured run,
# counted from the server's HANDLED_LOG just before and just after it. For the queued modes
# requests/s only says how fast deliveries were stored; handled/s says how fast they were run.
# It also reads the server's CPU time over the run (every thread, from /proc): per delivery, what
# each mode costs the server's core; as a share of the run, whether that core set the rate. When
# inline's server leaves part of its core unused (wrk, on the other core, is near its own limit),
# ratios to inline's requests/s flatter the other modes; the ratio of CPU time per delivery does
# not depend on the load generator.
# It also splits that CPU time by thread (name:µs per delivery, from /proc/<pid>/task), which shows
# where a mode's extra cost goes: the HTTP thread, the workers, a store's own threads.
# Prints each round, then per-round ratios to inline (requests/s, handled/s, CPU per delivery)
# and their medians.
# Needs wrk (apt-get install wrk) and node (for make-distinct.js).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shared=$(cd "$root/../shared/bench" && pwd)
rounds=${ROUNDS:-3} duration=${DURATION:-8} warmup=${WARMUP:-2} conns=${CONNS:-32}
command -v wrk >/dev/null || { echo "delivery.sh: needs wrk (apt-get install wrk)" >&2; exit 2; }
command -v node >/dev/null || { echo "delivery.sh: needs node for make-distinct.js" >&2; exit 2; }

work=$(mktemp -d /tmp/roamify-delivery.XXXXXX)
pid=
stop() { if [[ -n $pid ]]; then kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true; pid=; fi; }
pg=${PG:-postgres://postgres@127.0.0.1:5432/test} redis=${REDIS:-redis://127.0.0.1:6379}
# The schemas and key tags of the shared stores' runs (one per run, so no run inherits another's
# backlog), listed in a file (runs are piped, so in subshells) and removed at exit.
scopes=$work/scopes
drop_scopes() {
  [[ -f $scopes ]] || return 0
  while read -r scope; do
    case $scope in
      pg:*) psql "$pg" -qc "DROP SCHEMA IF EXISTS ${scope#pg:} CASCADE" >/dev/null 2>&1 || true ;;
      redis:*) redis-cli -u "$redis" --scan --pattern "{${scope#redis:}}:*" 2>/dev/null |
        xargs -r redis-cli -u "$redis" DEL >/dev/null 2>&1 || true ;;
    esac
  done <"$scopes"
}
trap 'stop; drop_scopes; rm -rf "$work"' EXIT

echo "== building (release)"
(cd "$root" && cargo build --release -q --example server)
server="$root/target/release/examples/server"
export SECRET=whsec_bench DISTINCT_FILE="$work/distinct.txt"
if [[ ${LOAD:-top_up} == esim ]]; then
  # The measured run takes the first half of the file (make-esim.js): twice as many lines.
  node "$root/bench/make-esim.js" "${N:-2000000}" "$SECRET" "$DISTINCT_FILE" "${ICCIDS:-10000}"
else
  node "$shared/make-distinct.js" "${N:-1000000}" "$SECRET" "$DISTINCT_FILE"
fi
export RUST_LOG=${RUST_LOG:-warn}

lines() { [[ -f $1 ]] && wc -l <"$1" || echo 0; }
hz=$(getconf CLK_TCK)
# ticks PID: CPU time used by a process so far (user + system, all threads), in clock ticks.
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# thread_ticks PID: "name ticks" per thread of a process, summed by thread name (spaces in names
# become _; the fields of stat are counted after the name, which may hold spaces).
thread_ticks() {
  for task in /proc/"$1"/task/*; do
    { printf '%s ' "$(tr ' ' _ <"$task/comm")"; sed 's/.*) //' "$task/stat" | awk '{print $12 + $13}'; } 2>/dev/null || true
  done | awk '{t[$1] += $2} END {for (n in t) print n, t[n]}' | LC_ALL=C sort
}

# run NAME PORT DELIVERY ROUND [BINARY]: one measured run; prints "round R NAME rps=… handled_per_s=… p99_us=… errors=…"
# (NAME may end in :ORDERING, the server's ROAMIFY_ORDERING, then in +nohistory, no history)
run() {
  local name=$1 port=$2 delivery=$3 r=$4 binary=${5:-$server} log="$work/${1//:/-}-$4.handled"
  local ordering=off history=20000 plain=${1%+nohistory}
  [[ $name == *+nohistory ]] && history=0
  [[ $plain == *:* ]] && ordering=${plain##*:}
  rm -rf "$work"/*.sqlite* "$work"/journal
  local scope="bench_${name//[-:+]/_}_${r}_$$"
  case $delivery in
    postgres*) echo "pg:$scope" >>"$scopes" ;;
    redis*) echo "redis:$scope" >>"$scopes" ;;
  esac
  ROAMIFY_WEBHOOK_SECRET=$SECRET BIND_ADDR=127.0.0.1:$port WORKERS=1 ROAMIFY_DELIVERY=$delivery \
    PG_SCHEMA=$scope REDIS_NAME=$scope ROAMIFY_ORDERING=$ordering HISTORY_ENTRIES=$history \
    HANDLED_LOG=$log setsid taskset -c 0 "$binary" >"$work/${name//:/-}.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 300); do
    curl -s -o /dev/null -X POST "http://127.0.0.1:$port/webhooks/roamify" && break
    sleep 0.1
  done
  local url=http://127.0.0.1:$port/webhooks/roamify
  WRK_PHASE=warmup taskset -c 1 wrk -t1 -c"$conns" -d"${warmup}s" -s "$shared/post-distinct.lua" "$url" >/dev/null
  local before after line ticks0 ticks1
  local threads0 threads1
  before=$(lines "$log") ticks0=$(ticks "$pid") threads0=$(thread_ticks "$pid")
  line=$(WRK_PHASE=run taskset -c 1 wrk -t1 -c"$conns" -d"${duration}s" -s "$shared/post-distinct.lua" "$url" | grep '^RESULT')
  after=$(lines "$log") ticks1=$(ticks "$pid") threads1=$(thread_ticks "$pid")
  stop
  local handled=$(( (after - before) / duration ))
  # The server's CPU time (every thread, user and system) per delivery handled during the run,
  # and as a share of its core over the run's duration (the server idles while wrk reads the body
  # file before its run): under 100 %, something else than the server's core set the rate.
  local cpu_ns=$(( (ticks1 - ticks0) * 1000000000 / hz / (after - before > 0 ? after - before : 1) ))
  local busy=$(( (ticks1 - ticks0) * 100 / hz / duration ))
  # The same CPU time per delivery, by thread (name:µs, comma-separated; threads under 0.05 µs
  # left out): which thread a mode's extra cost is on.
  local by_thread
  by_thread=$(LC_ALL=C join -a 2 -e 0 -o 0,1.2,2.2 <(printf '%s\n' "$threads0") <(printf '%s\n' "$threads1") |
    awk -v hz="$hz" -v n=$(( after - before > 0 ? after - before : 1 )) '
      { us = ($3 - $2) * 1e6 / hz / n; if (us >= 0.05) { printf "%s%s:%.1f", sep, $1, us; sep = "," } }')
  echo "round $r $name ${line#RESULT } handled_per_s=$handled cpu_us=$((cpu_ns / 1000)).$(( cpu_ns % 1000 / 100 )) busy=$busy% threads=${by_thread:-none}"
}

out="$work/results.txt"
modes=${MODES:-inline queued durable journal}
delivery_of() { # mode[:ordering][+nohistory] -> ROAMIFY_DELIVERY
  local mode=${1%%[:+]*}
  case $mode in
    inline | queued) echo "$mode" ;;
    durable) echo "durable:$work/bench.sqlite" ;;
    journal) echo "journal:$work/journal" ;;
    postgres) echo "$pg" ;;
    redis) echo "$redis" ;;
    *) echo "delivery.sh: unknown mode $1" >&2; exit 2 ;;
  esac
}
port=8100
for ((r = 1; r <= rounds; r++)); do
  for mode in $modes; do
    run "$mode" $((port + 1)) "$(delivery_of "$mode")" "$r" | tee -a "$out"
    if [[ -n ${BEFORE:-} ]]; then
      run "$mode-before" $((port + 2)) "$(delivery_of "$mode")" "$r" "$BEFORE/server" | tee -a "$out"
    fi
  done
done

# median FORMAT: the median of the numbers on standard input, one per line.
median() {
  sort -n | awk -v f="$1" '{a[NR]=$1} END {printf f, (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'
}
# Per round: each mode's figure over inline's requests/s of the same round; then the median.
ratio() { # name field
  awk -v n="$1" -v f="$2" '
    function val(line, key,   i, kv) { for (i = 1; i <= NF; i++) { split($i, kv, "="); if (kv[1] == key) return kv[2] } }
    /^round/ { v[$2 " " $3] = val($0, f); base[$2] = (base[$2] ? base[$2] : 0) }
    /^round [0-9]+ inline / { for (i = 1; i <= NF; i++) if ($i ~ /^rps=/) { split($i, kv, "="); base[$2] = kv[2] } }
    END { for (r in base) if (base[r] > 0) print v[r " " n] / base[r] }' "$out" | median %.3f
}
# Per round: inline's CPU time per delivery over the mode's (what the server could do with its
# core to itself, whatever the load generator managed); then the median.
capacity() { # name
  awk -v n="$1" '
    function val(key,   i, kv) { for (i = 1; i <= NF; i++) { split($i, kv, "="); if (kv[1] == key) return kv[2] } }
    /^round/ { cpu[$2 " " $3] = val("cpu_us"); rounds[$2] = 1 }
    END { for (r in rounds) if (cpu[r " " n] > 0) print cpu[r " inline"] / cpu[r " " n] }' "$out" | median %.3f
}
median_of() { # name field (a number, % allowed)
  awk -v n="$1" -v f="$2" '$3 == n { for (i = 1; i <= NF; i++) { split($i, kv, "="); if (kv[1] == f) { sub(/%/, "", kv[2]); print kv[2] } } }' "$out" | median %s
}
# Per round: NAME's figure over BASE's; then the median.
versus() { # name base field
  awk -v n="$1" -v b="$2" -v f="$3" '
    function val(line, key,   i, kv) { for (i = 1; i <= NF; i++) { split($i, kv, "="); if (kv[1] == key) return kv[2] } }
    /^round/ { v[$2 " " $3] = val($0, f); rounds[$2] = 1 }
    END { for (r in rounds) if (v[r " " b] > 0) print v[r " " n] / v[r " " b] }' "$out" | median %.3f
}
if [[ " $modes " == *" inline "* ]]; then
  echo "== per-round medians, relative to inline requests/s"
  for name in $modes; do
    [[ $name == inline ]] && continue
    echo "$name: rps $(ratio "$name" rps)x, handled/s $(ratio "$name" handled_per_s)x, CPU per delivery: inline's / this $(capacity "$name")x"
  done
fi
if [[ " $modes " == *+nohistory* ]]; then
  echo "== per-round medians, history on (the default) relative to the same mode with history off"
  for name in $modes; do
    [[ $name == *+nohistory ]] || continue
    on=${name%+nohistory}
    echo "$on: rps $(versus "$on" "$name" rps)x, handled/s $(versus "$on" "$name" handled_per_s)x, CPU per delivery: off/on $(versus "$name" "$on" cpu_us)x"
  done
fi
if [[ " $modes " == *:* ]]; then
  echo "== per-round medians, each ordering relative to the same mode with ordering off"
  for name in $modes; do
    [[ $name == *:* && $name != *+nohistory ]] || continue
    echo "$name: rps $(versus "$name" "${name%%:*}" rps)x, handled/s $(versus "$name" "${name%%:*}" handled_per_s)x, CPU per delivery: off/this $(versus "${name%%:*}" "$name" cpu_us)x"
  done
fi
echo "== server CPU per delivery (median µs):$(for m in $modes; do printf ' %s %s' "$m" "$(median_of "$m" cpu_us)"; done)"
echo "== the server's use of its core during the runs (median):$(for m in $modes; do printf ' %s %s%%' "$m" "$(median_of "$m" busy)"; done)"
if [[ -n ${BEFORE:-} ]]; then
  echo "== per-round medians, after/before (the current server over the one in $BEFORE)"
  for m in $modes; do
    echo "$m: rps $(versus "$m" "$m-before" rps)x, handled/s $(versus "$m" "$m-before" handled_per_s)x, CPU per delivery: before/after $(versus "$m-before" "$m" cpu_us)x"
  done
fi
