# compare.sh: helpers of the HTTP benchmark scripts (sourced, not run). Needs $shared set to
# ../shared/bench.

compare() { # output-file specs...
  local out=$1; shift
  "$shared/http-compare.sh" "$@" | tee "$out" || true
  grep -q '^median' "$out" || { echo "the comparison did not finish (see /tmp/http-compare-*.log)" >&2; exit 1; }
}
# Within a round the receivers run back to back, so the machine's drift between rounds cancels
# out of per-round ratios; their median is the figure BENCHMARKS.md reports.
per_round_ratio() { # file name base field -> median over rounds of name/base
  local file=$1 name=$2 base=$3 field=$4
  awk -v n="$name" -v b="$base" -v f="$field" '
    /^round/ { for (i = 1; i <= NF; i++) if ($i ~ "^" f "=") { v = $i; sub(f "=", "", v); val[$2 " " $3] = v } rounds[$2] = 1 }
    END { for (r in rounds) if (val[r " " b] > 0) print val[r " " n] / val[r " " b] }' "$file" | sort -n \
    | awk '{v[NR]=$1} END {printf "%.3f", (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'
}
