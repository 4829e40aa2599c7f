#!/bin/sh
# Builds certsh and its benchmark in release mode and runs it.
# BENCH_RUNS=N sets the hot-path sample size (default 2000).
set -eu
cd "$(dirname "$0")/.."
cargo build --quiet --release --bin certsh --example bench --example exec_floor
exec target/release/examples/bench target/release/certsh
