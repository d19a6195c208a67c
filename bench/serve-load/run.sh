#!/usr/bin/env bash
# Load on `leadq serve`: builds the release leadq and the load generator, then sends
# FORMS signed form submissions with CONCURRENCY clients through every stage and prints
# the sustained throughput and the POST-to-routing-decision percentiles.
#
#   bench/serve-load/run.sh [FORMS] [CONCURRENCY] [RATE]   # default 10000 32 0 (0: flat out)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
target_dir="${CARGO_TARGET_DIR:-target}"
cargo build --release -q -p leadq -p leadq-serve-load
echo "machine: $(nproc) cores, $(uname -m), load $(cut -d' ' -f1-3 /proc/loadavg); $(date -u +%Y-%m-%dT%H:%MZ)"
"$target_dir/release/serve-load" --leadq "$target_dir/release/leadq" \
  --forms "${1:-10000}" --concurrency "${2:-32}" --rate "${3:-0}"
