#!/bin/sh
# The stress run (about a minute, loads the machine; not part of `cargo test`):
# 64 parallel git processes across certificate renewals, then 1,000 hot-path
# runs checked for requests, new files and leaked descriptors. Needs git and
# openssh-server, like the tests.
set -eu
cd "$(dirname "$0")/.."
. scripts/build-flags.sh
build_certsh
cargo build --quiet --release --locked --example stress
exec target/release/examples/stress target/release/certsh
