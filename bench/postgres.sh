#!/usr/bin/env bash
# postgres.sh: handled deliveries per second through one `server` with PgStore, side by side
# with pgbench running the store's own statements on the same database (the floor).
#
#   bench/postgres.sh     # ROUNDS (3), DURATION (8 s), CONNS (32), PG (postgres://postgres@127.0.0.1:5432/test)
#
# Per round:
# - sdk: the release `server` example, ROAMIFY_DELIVERY=$PG (schema of its own), pinned to CPU 0
#   with WORKERS=1, loaded by wrk on CPU 1 with distinct deliveries (post-distinct.lua); handled
#   deliveries counted from HANDLED_LOG during the measured run, as bench/delivery.sh does.
# - floor: pgbench on CPU 1 with CONNS clients, each transaction one delivery's statements as
#   PgStore runs them: the enqueue transaction (dedupe mark, capacity count, insert), a lease of
#   one job with FOR UPDATE SKIP LOCKED, and its completion. It pays no HTTP, no HMAC, no JSON,
#   and no batching either: PgStore leases and settles up to 64 deliveries per round trip.
# PostgreSQL itself runs wherever the OS puts it, in both. Prints each round and the median of
# the per-round ratios sdk/floor. Needs wrk, node, pgbench and psql.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shared=$(cd "$root/../shared/bench" && pwd)
rounds=${ROUNDS:-3} duration=${DURATION:-8} conns=${CONNS:-32}
pg=${PG:-postgres://postgres@127.0.0.1:5432/test}
for tool in wrk node pgbench psql; do
  command -v $tool >/dev/null || { echo "postgres.sh: needs $tool" >&2; exit 2; }
done

work=$(mktemp -d /tmp/roamify-pg.XXXXXX)
schema=roamify_bench_$$
pid=
stop() { if [[ -n $pid ]]; then kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true; pid=; fi; }
trap 'stop; psql "$pg" -qc "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

echo "== building (release)"
(cd "$root" && cargo build --release -q --example server)
server="$root/target/release/examples/server"
export SECRET=whsec_bench DISTINCT_FILE="$work/distinct.txt"
node "$shared/make-distinct.js" "${N:-600000}" "$SECRET" "$DISTINCT_FILE"

# The floor's transaction: the statements of PgStore (src/delivery/postgres.rs), on the schema
# the server created.
cat >"$work/floor.sql" <<SQL
\set n random(1, 2000000000)
BEGIN;
INSERT INTO $schema.keys (key, expires_at) VALUES ('floor-' || :client_id || '-' || :n, now() + 86400000 * interval '1 millisecond')
  ON CONFLICT (key) DO UPDATE SET expires_at = EXCLUDED.expires_at WHERE $schema.keys.expires_at <= now() RETURNING 1;
SELECT coalesce(sum(n), 0)::bigint FROM $schema.pending;
INSERT INTO $schema.jobs (key, body, state, visible_at, received_at)
  VALUES ('floor-' || :client_id || '-' || :n, convert_to('{"event_category":"partner","event_type":"top_up","data":{"timestamp":1700000000,"balance":1.50,"currency":"USD"}}', 'UTF8'), 0, now(), now())
  ON CONFLICT (key) DO NOTHING;
UPDATE $schema.pending SET n = n + 1 WHERE slot = :client_id % 16;
COMMIT;
BEGIN;
WITH leased AS (
  UPDATE $schema.jobs j SET lease = nextval('$schema.lease_seq'), visible_at = now() + 300000 * interval '1 millisecond'
  FROM (SELECT key FROM $schema.jobs WHERE state = 0 AND visible_at <= now() ORDER BY visible_at LIMIT 1 FOR UPDATE SKIP LOCKED) due
  WHERE j.key = due.key RETURNING j.key, j.lease)
DELETE FROM $schema.jobs d USING leased WHERE d.key = leased.key AND d.lease = leased.lease AND d.state = 0;
UPDATE $schema.pending SET n = n - 1 WHERE slot = (:client_id + 1) % 16;
COMMIT;
SQL

lines() { [[ -f $1 ]] && wc -l <"$1" || echo 0; }
out="$work/results.txt"
for ((r = 1; r <= rounds; r++)); do
  log="$work/handled-$r.log"
  ROAMIFY_WEBHOOK_SECRET=$SECRET BIND_ADDR=127.0.0.1:8301 WORKERS=1 RUST_LOG=warn \
    ROAMIFY_DELIVERY=$pg PG_SCHEMA=$schema HANDLED_LOG=$log setsid taskset -c 0 "$server" >"$work/server.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 300); do curl -s -o /dev/null -X POST http://127.0.0.1:8301/webhooks/roamify && break; sleep 0.1; done
  url=http://127.0.0.1:8301/webhooks/roamify
  WRK_PHASE=warmup taskset -c 1 wrk -t1 -c"$conns" -d2s -s "$shared/post-distinct.lua" "$url" >/dev/null
  before=$(lines "$log")
  line=$(WRK_PHASE=run taskset -c 1 wrk -t1 -c"$conns" -d"${duration}s" -s "$shared/post-distinct.lua" "$url" | grep '^RESULT')
  after=$(lines "$log")
  stop
  echo "round $r sdk ${line#RESULT } handled_per_s=$(( (after - before) / duration ))" | tee -a "$out"
  tps=$(taskset -c 1 pgbench -n -c "$conns" -j 1 -T "$duration" -f "$work/floor.sql" "$pg" 2>&1 |
    sed -n 's/^tps = \([0-9.]*\).*/\1/p' | head -1)
  echo "round $r floor tps=${tps%.*}" | tee -a "$out"
  psql "$pg" -qc "TRUNCATE $schema.keys, $schema.jobs; UPDATE $schema.pending SET n = 0" >/dev/null
done
echo "== per-round median: sdk handled/s over the floor's deliveries/s"
awk '/ sdk / { for (i = 1; i <= NF; i++) if ($i ~ /^handled_per_s=/) { split($i, kv, "="); h[$2] = kv[2] } }
     / floor / { split($4, kv, "="); f[$2] = kv[2] }
     END { for (r in h) if (f[r] > 0) print h[r] / f[r] }' "$out" | sort -n |
  awk '{a[NR]=$1} END {printf "sdk/floor = %.3f (rounds: %d)\n", (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2, NR}'
