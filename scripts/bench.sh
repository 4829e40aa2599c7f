#!/bin/sh
# Builds certsh as install.sh does (release; statically linked on Linux) and
# its benchmark, and runs it. BENCH_RUNS=N sets the hot-path sample size
# (default 2000), BENCH_COLD_RUNS=N the cold rows' (default 5, 2 s each per
# build). Run it on a quiet machine: the numbers are wall-clock.
#
# On Linux it also builds the release archives' binary (static musl, as
# scripts/dist.sh does) with its own exec floor, and measures both builds'
# hot path and floor in the same interleaved run: which libc install.sh
# uses rests on that comparison (scripts/build-flags.sh).
set -eu
cd "$(dirname "$0")/.."
. scripts/build-flags.sh
build_certsh
# The floor is built like certsh, so that the two differ only in certsh's work.
# shellcheck disable=SC2086
cargo rustc --quiet --release --locked --example exec_floor -- $CERTSH_RUSTC_FLAGS
cargo build --quiet --release --locked --example bench
target="${CARGO_TARGET_DIR:-target}"
if [ "$(uname -s)" != Linux ]; then
    exec "$target/release/examples/bench" "$target/release/certsh"
fi
# An experiment, not a release build: the same glibc build without PIE,
# beside its own floor, to show what the start-up relocation of a static PIE
# costs (docs/benchmarks.md). certsh ships as PIE, for address-space
# randomisation.
nopie="$target/bench-nopie"
mkdir -p "$nopie/examples"
build_certsh -- -C relocation-model=static
cp "$target/release/certsh" "$target/release/certsh-ssh" "$nopie/"
# shellcheck disable=SC2086
cargo rustc --quiet --release --locked --example exec_floor -- $CERTSH_RUSTC_FLAGS -C relocation-model=static
cp "$target/release/examples/exec_floor" "$nopie/examples/exec_floor"
build_certsh
# shellcheck disable=SC2086
cargo rustc --quiet --release --locked --example exec_floor -- $CERTSH_RUSTC_FLAGS
musl="$(uname -m)-unknown-linux-musl"
musl_flags="$(certsh_musl_flags "$PWD")"
for bin in certsh certsh-ssh; do
    # shellcheck disable=SC2086 # the flags are words
    cargo rustc --quiet --release --locked --target "$musl" --bin "$bin" -- $musl_flags
done
# shellcheck disable=SC2086
cargo rustc --quiet --release --locked --target "$musl" --example exec_floor -- $musl_flags
exec "$target/release/examples/bench" "$target/release/certsh" "$target/$musl/release/certsh" "$nopie/certsh"
