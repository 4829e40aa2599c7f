#!/bin/sh
# Builds certsh as install.sh does (release; statically linked on Linux) and
# its benchmark, and runs it. BENCH_RUNS=N sets the hot-path sample size
# (default 2000). Run it on a quiet machine: the numbers are wall-clock.
set -eu
cd "$(dirname "$0")/.."
. scripts/build-flags.sh
cargo rustc --quiet --release --locked --bin certsh -- $CERTSH_RUSTC_FLAGS
# The floor is built like certsh, so that the two differ only in certsh's work.
cargo rustc --quiet --release --locked --example exec_floor -- $CERTSH_RUSTC_FLAGS
cargo build --quiet --release --locked --example bench
exec target/release/examples/bench target/release/certsh
