# shellcheck shell=sh
# Sourced by install.sh and scripts/bench.sh: the flags certsh's release
# binary is built with.
#
# On Linux with glibc, certsh is linked statically: it then starts without the
# dynamic loader (no library loading, no symbol relocation), which is about
# half of what a wrapper in front of ssh costs per connection. Name lookups
# still go through glibc's NSS modules, loaded at run time from the system,
# so build on the machine that runs it (install.sh does) and re-run
# install.sh after a major glibc upgrade. Elsewhere (macOS) the default
# linking applies.
#
# Which libc: the release archives' binary (scripts/dist.sh) is
# static musl, and scripts/bench.sh measures both builds in one interleaved
# run. On the shared 2-core machine (BENCH_RUNS=2000, two runs) musl was the
# faster of the two: exec floor 0.79 ms against 1.11 ms, hot path 1.13-1.15 ms
# against 1.52-1.54 ms, certsh's own work over the floor 0.34-0.36 ms
# against 0.42 ms, and 6.07 MiB against 7.02 MiB. The source build stays
# static glibc all the same: it needs nothing but cargo, while musl needs
# `rustup target add <arch>-unknown-linux-musl` and musl-gcc (musl-tools)
# for ring's C code, which a distribution's cargo or a minimal machine lacks.
# Who wants the faster binary installs the release archive (install.sh's
# default outside a checkout).
#
# The binary stays position-independent (static-pie): a non-PIE build
# (-C relocation-model=static) measured about 0.1 ms faster still, but would
# give up address-space randomisation for a program that holds tokens.
CERTSH_RUSTC_FLAGS=""
# The release archives' musl builds (scripts/dist.sh, and scripts/bench.sh's
# musl row): static, with the start-up relocations packed as RELR
# (binutils 2.38 and later; Rust's own musl applies them). The table a
# static-pie binary relocates itself from at start shrinks from 69 KiB to
# under 1 KiB, which took the musl shim from 95 to 87 page faults per
# connection (docs/benchmarks.md). The glibc build (install.sh) measured no
# fewer faults with it, and a user's older binutils would refuse the flag,
# so it does not get it.
# shellcheck disable=SC2034 # read by the scripts that source this file
CERTSH_MUSL_RUSTC_FLAGS="-C target-feature=+crt-static -C link-arg=-Wl,-z,pack-relative-relocs"

# The musl builds' flags, printed, with the linker that lays the shim's hot
# path out together: certsh_musl_flags <checkout>. They link with the LLD
# that Rust's toolchain ships (rust-lld, through its gcc-ld folder, so that
# no lld package is needed), given scripts/shim-hot-path.order: the
# functions a connection with a good certificate runs go side by side at the
# start of the code. The shim then touches 3 of its 64 KiB windows of code
# rather than 13 (docs/benchmarks.md, "The hot path laid out together").
# Fails, naming it, when the toolchain has no rust-lld.
certsh_musl_flags() {
    host="$(rustc -vV | sed -n 's/^host: //p')"
    gcc_ld="$(rustc --print sysroot)/lib/rustlib/$host/bin/gcc-ld"
    if [ ! -x "$gcc_ld/ld.lld" ]; then
        echo "build-flags.sh: $gcc_ld/ld.lld is missing: the musl builds link with the rust-lld of a rustup toolchain" >&2
        return 1
    fi
    case "$gcc_ld $1 ${CARGO_TARGET_DIR:-}" in
        *" "*" "*" "*)
            echo "build-flags.sh: a path has a space: $gcc_ld, $1, ${CARGO_TARGET_DIR:-}" >&2
            return 1
            ;;
    esac
    # cargo does not see a file the flags name change, so the flags name a
    # copy that has the file's checksum in its name: a new order, new flags,
    # and cargo links again.
    sum="$(cksum <"$1/scripts/shim-hot-path.order" | cut -d ' ' -f 1)"
    dir="${CARGO_TARGET_DIR:-target}"
    case "$dir" in /*) ;; *) dir="$1/$dir" ;; esac
    copy="$dir/shim-hot-path.$sum.order"
    mkdir -p "$(dirname "$copy")" && cp "$1/scripts/shim-hot-path.order" "$copy"
    echo "$CERTSH_MUSL_RUSTC_FLAGS -C link-arg=-B$gcc_ld -C link-arg=-fuse-ld=lld" \
        "-C link-arg=-Wl,--symbol-ordering-file=$copy" \
        "-C link-arg=-Wl,--no-warn-symbol-ordering"
}
if [ "$(uname -s)" = Linux ] && ldd --version 2>&1 | grep -qi 'glibc\|gnu libc'; then
    CERTSH_RUSTC_FLAGS="-C target-feature=+crt-static"
fi

# Builds certsh and its shim program (release, locked) with those flags:
# build_certsh [cargo options] [-- more rustc flags]. The two are one
# install: the shim hands certsh what it does not do itself.
build_certsh() {
    cargo_opts=""
    while [ $# -gt 0 ] && [ "$1" != -- ]; do
        cargo_opts="$cargo_opts $1"
        shift
    done
    [ $# -eq 0 ] || shift
    for bin in certsh certsh-ssh; do
        # shellcheck disable=SC2086 # the options and flags are words
        cargo rustc --quiet --release --locked $cargo_opts --bin "$bin" -- $CERTSH_RUSTC_FLAGS "$@" </dev/null
    done
}
