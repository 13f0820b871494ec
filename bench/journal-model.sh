#!/usr/bin/env bash
# journal-model.sh: the journal's power-cut model check, long: many seeded runs of random
# operations on the real store over the simulated disk, each with 6 simulated power cuts (none,
# all, a prefix, random pages or a torn last sector of the unsynced data kept) and reopens,
# compared with the model after every reopen. CI runs 60 seeds; this runs SEEDS (default 1500,
# about a million operations and 9,000 power cuts) from FIRST_SEED (default 1000, past CI's).
#
#   bench/journal-model.sh                 # SEEDS=1500 FIRST_SEED=1000
#   SEEDS=20000 bench/journal-model.sh     # longer
#
# A failure prints its seed; ROAMIFY_MODEL_FIRST_SEED=<seed> ROAMIFY_MODEL_SEEDS=1 with the
# same cargo test command reruns it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seeds=${SEEDS:-1500} first=${FIRST_SEED:-1000}
cd "$root"
cargo build --release -q -p roamify-hooks --features durable --lib --tests 2>/dev/null || true
start=$(date +%s)
ROAMIFY_MODEL_SEEDS=$seeds ROAMIFY_MODEL_FIRST_SEED=$first \
  cargo test --release -q -p roamify-hooks --features durable --lib \
  journal::model::the_journal_keeps_its_promises_through_simulated_power_cuts -- --nocapture 2>&1 |
  grep -E "runs,|panicked|seed|test result"
echo "seeds $first..$((first + seeds)): $(( $(date +%s) - start )) s"
