#!/usr/bin/env bash
# inprocess.sh: the in-process benchmark (bench/inprocess/receive.rs, `cargo bench -p roamify-hooks --bench receive`) in several processes; per fixture,
# the median over processes of each process's sdk/floor ratio, and the worst fixture's median.
#
# One process's ratios move with its code and heap layout: two runs of the same binary differ by
# up to 0.1 on one fixture, more than the margin a 1.10 bound leaves, so a bound is judged on the
# median of several processes. With BASE=<binary> (another build of the same bench, e.g. copied
# from target/release/deps/receive-* before a change) the two builds run interleaved, process by
# process, in two columns: an A/B on the same machine in the same hour.
#
#   bench/inprocess.sh                          (PROCESSES=5, CPU=1; ROUNDS, BATCH reach the bench)
#   BASE=/tmp/receive-before bench/inprocess.sh
#   RATIO=async bench/inprocess.sh              (async/floor: the same handlers written `async fn`)
#   RATIO=peer bench/inprocess.sh               (sdk/peer: against the reference peer's own parse,
#                                                which reads the envelope, then the payload)
set -euo pipefail
cd "$(dirname "$0")/.."
processes=${PROCESSES:-5}
cpu=${CPU:-1}
fixtures=${ROAMIFY_FIXTURES:-$(cd ../shared/fixtures && pwd)}
case ${RATIO:-sdk} in
  sdk) column=6 label=sdk/floor ;;
  async) column=10 label=async/floor ;;
  peer) column=12 label=sdk/peer ;;
  *) echo "inprocess.sh: RATIO is sdk (sync handlers, the default), async or peer" >&2; exit 2 ;;
esac
command -v taskset >/dev/null || { echo "inprocess.sh: needs taskset (util-linux)" >&2; exit 2; }
cargo bench -p roamify-hooks --bench receive --no-run -q 2>/dev/null
current=$(ls -t target/release/deps/receive-* | grep -v '\.d$' | head -1)
builds=(current)
if [ -n "${BASE:-}" ]; then
  [ -x "$BASE" ] || { echo "inprocess.sh: BASE=$BASE is not an executable" >&2; exit 2; }
  builds=(base current)
fi

raw=$(mktemp)
trap 'rm -f "$raw"' EXIT
for i in $(seq 1 "$processes"); do
  for build in "${builds[@]}"; do
    bin=$current
    [ "$build" = base ] && bin=$BASE
    # One line per fixture: name, floor, floor-simd, sdk, sdk+idem, sdk/floor, idem/floor,
    # sdk/f-simd, sdk-async, async/floor, peer, sdk/peer.
    lines=$(ROAMIFY_FIXTURES=$fixtures taskset -c "$cpu" "$bin" \
      | awk -v b="$build" -v c="$column" 'NF == 12 && $1 ~ /\.json$/ { print b, $1, $c }')
    [ -n "$lines" ] || { echo "inprocess.sh: no results from $bin (a build of another version of the bench, with other columns?)" >&2; exit 1; }
    printf '%s\n' "$lines" >>"$raw"
    echo "process $i of $processes ($build) done" >&2
  done
done

printf "%-40s" "$label: median of $processes processes"
for build in "${builds[@]}"; do printf ' %24s' "$build (min-max)"; done
printf '\n'
awk -v order="${builds[*]}" '
  function median(key,   m, i, j, x, s) {
    m = n[key]
    for (i = 1; i <= m; i++) s[i] = v[key, i]
    for (i = 2; i <= m; i++) { x = s[i]; for (j = i - 1; j >= 1 && s[j] > x; j--) s[j + 1] = s[j]; s[j + 1] = x }
    low[key] = s[1]; high[key] = s[m]
    return (m % 2) ? s[(m + 1) / 2] : (s[m / 2] + s[m / 2 + 1]) / 2
  }
  { key = $2 SUBSEP $1; v[key, ++n[key]] = $3; fixture[$2] = 1 }
  END {
    count = split(order, build, " ")
    for (f in fixture) {
      line = sprintf("%-40s", f)
      for (b = 1; b <= count; b++) {
        key = f SUBSEP build[b]; med = median(key)
        line = line sprintf(" %11.3f (%.3f-%.3f)", med, low[key], high[key])
        if (med > worst[b]) { worst[b] = med; worst_name[b] = f }
      }
      print line | "sort"
    }
    close("sort")
    for (b = 1; b <= count; b++) printf "worst median, %s: %.3f (%s)\n", build[b], worst[b], worst_name[b]
  }' "$raw"
