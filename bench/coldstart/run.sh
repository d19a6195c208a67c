#!/usr/bin/env bash
# Cold start: builds the five functions and lambda_runtime's hello world the same way
# (cargo lambda build --release, for this machine's architecture so they can run here),
# then starts each one RUNS times against a loopback Runtime API and prints a table of the
# time from process start to its first /next request, next to the hello world's (and next
# to the same hello world on a current-thread runtime, as the functions run, so that what
# the runtime's flavour saves is not mistaken for the functions' own start getting lighter).
#
#   bench/coldstart/run.sh [RUNS]     # default 30
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
target_dir="${CARGO_TARGET_DIR:-target}"
runs="${1:-30}"
case "$(uname -m)" in
  x86_64) arch=x86_64; flag=--x86-64 ;;
  aarch64) arch=arm64; flag=--arm64 ;;
  *) echo "unsupported machine $(uname -m)" >&2; exit 2 ;;
esac
bin="$(scripts/install-cargo-lambda.sh "$arch")"
export PATH="$bin:$PATH"
cargo lambda build --release "$flag" \
  -p leadq-ingest -p leadq-enrich -p leadq-score -p leadq-route -p leadq-recalibrate \
  -p leadq-coldstart --bin ingest --bin enrich --bin score --bin route --bin recalibrate --bin hello \
  --bin hello-current-thread
echo "machine: $(nproc) cores, $(uname -m), load $(cut -d' ' -f1-3 /proc/loadavg); $(date -u +%Y-%m-%dT%H:%MZ)"
cargo run --release -q -p leadq-coldstart --bin coldstart -- --bootstraps "$target_dir/lambda" --repo . --runs "$runs"
