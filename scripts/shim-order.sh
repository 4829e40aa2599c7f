#!/usr/bin/env bash
# The shim's hot path, laid out together: writes scripts/shim-hot-path.order,
# the functions the shim runs on a connection with a good certificate, in the
# order callgrind first names them. The musl release builds hand the file to the
# linker (scripts/build-flags.sh), which then puts those functions side by
# side at the start of the code, so that a connection touches a few 64 KiB
# windows of the shim's 1 MB of code instead of nearly all of them: each
# window touched is a page fault (docs/benchmarks.md, "The hot path laid out
# together").
#
#   scripts/shim-order.sh           write the file anew
#   scripts/shim-order.sh --check [--prefix DIR]
#                                   fail, naming what is missing, when the
#                                   file lists less than 90 % of what the hot
#                                   path runs now, or when the build did not
#                                   follow it; with --prefix, of the certsh and
#                                   shim installed there (a release archive
#                                   unpacked: tier all checks the one it built)
#
# It builds the x86_64 musl shim and certsh as the release does, starts the
# test bed (examples/testbed.rs, on 127.0.0.1), gets one certificate, and runs
# the shim once under valgrind's callgrind, which records every function up
# to the exec of the real ssh (/bin/true here). A function the file names
# that a build does not have is passed over by the linker, so a stale file
# costs speed, never correctness.
# The names are the linker's, hashes included, and so belong to builds made
# as scripts/dist.sh makes them (the flags given to certsh's own binaries
# alone): a build with the same flags in RUSTFLAGS, which reach every crate,
# renamed 84 of the 210 functions the file listed then.
set -euo pipefail
cd "$(dirname "$0")/.."
check=0
prefix=""
while [ $# -gt 0 ]; do
    case "$1" in
        --check) check=1 ;;
        --prefix) prefix="${2:?--prefix needs a folder}" && shift ;;
        *) echo "shim-order.sh: unknown argument $1" >&2 && exit 2 ;;
    esac
    shift
done
[ -z "$prefix" ] || [ "$check" = 1 ] || { echo "shim-order.sh: --prefix goes with --check" >&2; exit 2; }
order=scripts/shim-hot-path.order

command -v valgrind >/dev/null || { echo "shim-order.sh: valgrind is needed (apt-get install valgrind)" >&2; exit 1; }
target="${CARGO_TARGET_DIR:-target}"
if [ -z "$prefix" ]; then
    # shellcheck source=scripts/build-flags.sh
    . scripts/build-flags.sh
    musl=x86_64-unknown-linux-musl
    flags="$(certsh_musl_flags "$PWD")"
    for bin in certsh certsh-ssh; do
        # shellcheck disable=SC2086 # the flags are words
        cargo rustc --quiet --release --locked --target "$musl" --bin "$bin" -- $flags
    done
    certsh_bin="$target/$musl/release/certsh"
    shim_bin="$target/$musl/release/certsh-ssh"
else
    certsh_bin="$prefix/bin/certsh"
    shim_bin="$prefix/libexec/certsh/ssh"
fi
cargo build --quiet --release --locked --example testbed

work="$(mktemp -d)"
bed_pid=""
cleanup() {
    [ -z "$bed_pid" ] || kill "$bed_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/prefix/bin" "$work/prefix/libexec/certsh" "$work/home/tmp"
cp "$certsh_bin" "$work/prefix/bin/certsh"
cp "$shim_bin" "$work/prefix/libexec/certsh/ssh"
"$target/release/examples/testbed" "$work/bed" --validity 86400 --until-killed >"$work/bed.log" 2>&1 &
bed_pid=$!
for _ in $(seq 100); do
    grep -qx ready "$work/bed.log" 2>/dev/null && break
    sleep 0.1
done
grep -qx ready "$work/bed.log" || { cat "$work/bed.log" >&2; exit 1; }
# shellcheck disable=SC1091 # written by the test bed
. "$work/bed/env.sh"
shim() {
    env -i PATH=/usr/bin:/bin HOME="$work/home" TMPDIR="$work/home/tmp" \
        MAGENTO_CLOUD_CLI_TOKEN="$CERTSH_TEST_API_TOKEN" \
        MAGENTO_CLOUD_CLI_API_AUTH_URL="$CERTSH_TEST_CERTIFIER_URL" \
        MAGENTO_CLOUD_CLI_API_CERTIFIER_URL="$CERTSH_TEST_CERTIFIER_URL" \
        CERTSH_REAL_SSH=/bin/true "$@" \
        "$work/prefix/libexec/certsh/ssh" abcdef7uyxabce@git.us-3.magento.cloud "git-upload-pack 'abcdef7uyxabce.git'"
}
shim # the cold path, by certsh beside it: now the certificate is good
shim valgrind -q --tool=callgrind --demangle=no --dump-before=execve \
    --callgrind-out-file="$work/callgrind.out" 2>"$work/valgrind.log" ||
    { cat "$work/valgrind.log" >&2; exit 1; }
# callgrind names each function once, as "fn=(id) name" or "cfn=(id) name",
# the first time it records it; later lines give the id alone.
python3 - "$work"/callgrind.out.* >"$work/order" <<'EOF'
import re, sys
seen = {}
for path in sys.argv[1:]:
    for line in open(path):
        m = re.match(r"c?fn=\((\d+)\) (\S+)$", line.strip())
        if m and not m.group(2).startswith("0x") and m.group(2) not in seen.values():
            seen[m.group(1)] = m.group(2)
# What callgrind cannot name: the entry point, the C library's start, which
# it calls "(below main)", and the C library's memcpy and memset, written in
# assembly without a size.
print("\n".join(["_start", "__libc_start_main", "memcpy", "memset", "memmove"]
                + [n for n in seen.values() if n not in ("_start", "memcpy", "memset", "memmove")]))
EOF
total="$(wc -l <"$work/order")"
[ "$total" -gt 50 ] || { echo "shim-order.sh: callgrind saw only $total functions" >&2; exit 1; }
if [ "$check" = 0 ]; then
    {
        echo "# The shim's hot path, in the order callgrind first names it: written by"
        echo "# scripts/shim-order.sh (which says why); do not edit by hand."
        cat "$work/order"
    } >"$order"
    echo "shim-order.sh: $order lists $total functions"
    exit 0
fi
missing="$(grep -vxFf <(grep -v '^#' "$order") "$work/order" || true)"
count="$(printf '%s' "$missing" | grep -c . || true)"
if [ $((count * 10)) -gt "$total" ]; then
    echo "shim-order.sh: the hot path runs $total functions, and $order lacks $count of them; run scripts/shim-order.sh to write it anew. Missing:" >&2
    printf '%s\n' "$missing" | head -n 20 >&2
    exit 1
fi
# And the build followed the file: the first function it names is the first
# of the code.
text_start="$(readelf -SW "$shim_bin" | awk '{ for (i = 1; i < NF; i++) if ($i == ".text") print $(i + 2) }')"
first="$(sed -n '/^#/!{p;q;}' "$order")"
at="$(nm "$shim_bin" | awk -v f="$first" '$3 == f { print $1 }')"
if [ -z "$at" ] || [ "$((16#$at - 16#$text_start))" -ge 256 ]; then
    echo "shim-order.sh: $first is at ${at:-no address}, not at the start of the code ($text_start): the build did not follow $order" >&2
    exit 1
fi
echo "shim-order.sh: the hot path runs $total functions; $order lacks $count; the build puts $first first"
