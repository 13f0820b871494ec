#!/usr/bin/env bash
# instructions.sh: exact instruction counts per delivery (valgrind callgrind) for every fixture,
# the SDK's public path beside the floor, with ratios. Repeatable whatever else the machine does.
#   bench/instructions.sh            (N=200 deliveries per case; FIXTURES=../shared/fixtures)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "instructions.sh: needs valgrind (apt-get install valgrind)" >&2; exit 2; }
fixtures=${ROAMIFY_FIXTURES:-$(cd ../shared/fixtures && pwd)}
n=${N:-200}
cargo bench -p roamify-hooks --bench receive --no-run -q 2>/dev/null
bin=$(ls -t target/release/deps/receive-* | grep -v '\.d$' | head -1)
count() { # case fixture -> instructions
  ONLY=$1 FIXTURE=$2 N=$n ROAMIFY_FIXTURES=$fixtures valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" 2>&1 \
    | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
printf '%-40s %10s %10s %9s\n' fixture floor sdk sdk/floor
worst=0
for path in "$fixtures"/events/*.json; do
  f=$(basename "$path")
  base=$(count none "$f"); floor=$(count floor "$f"); sdk=$(count sdk "$f")
  fl=$(( (floor - base) / n )); sd=$(( (sdk - base) / n ))
  ratio=$(awk -v a="$sd" -v b="$fl" 'BEGIN{printf "%.3f", a/b}')
  worst=$(awk -v a="$ratio" -v b="$worst" 'BEGIN{print (a>b)?a:b}')
  printf '%-40s %10d %10d %9s\n' "$f" "$fl" "$sd" "$ratio"
done
echo "worst sdk/floor: $worst (instructions per delivery, N=$n)"
