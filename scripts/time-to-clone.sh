#!/bin/sh
# Measures the time from nothing to the first clone with a released binary:
# a fresh HOME, `curl -fsSL <base>/install.sh | sh` from a loopback server
# (PATH=/usr/bin:/bin, no cargo), then `git clone` through the installed
# shim with only MAGENTO_CLOUD_CLI_TOKEN set, against the test certifier and
# a real sshd on 127.0.0.1 (examples/testbed.rs). Prints each run and the
# median.
#
#   scripts/time-to-clone.sh [--runs N] [RELEASE_FOLDER]
#
# Without RELEASE_FOLDER it makes one first with scripts/dist.sh, signed with
# a throwaway key, so that the runs check the signature as a user's would.
# Building the release and starting the test bed are not part of the time.
set -eu

runs=5
release=""
while [ $# -gt 0 ]; do
    case "$1" in
        --runs) runs="$2"; shift 2 ;;
        --runs=*) runs="${1#--runs=}"; shift ;;
        -h|--help) echo "usage: scripts/time-to-clone.sh [--runs N] [RELEASE_FOLDER]"; exit 0 ;;
        -*) echo "usage: scripts/time-to-clone.sh [--runs N] [RELEASE_FOLDER]" >&2; exit 2 ;;
        *) release="$1"; shift ;;
    esac
done

here="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/certsh-time.XXXXXX")"
testbed_pid=""
cleanup() {
    [ -n "$testbed_pid" ] && kill "$testbed_pid" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

if [ -z "$release" ]; then
    echo "== scripts/dist.sh (not timed)"
    ssh-keygen -q -t ed25519 -N '' -C certsh-release -f "$work/key"
    echo "certsh-release namespaces=\"certsh-release\" $(cut -d' ' -f1,2 "$work/key.pub")" > "$work/allowed_signers"
    "$here/scripts/dist.sh" --out "$work/dist" --signing-key "$work/key" --allowed-signers "$work/allowed_signers"
    release="$work/dist"
fi
[ -f "$release/SHA256SUMS" ] && [ -f "$release/install.sh" ] ||
    { echo "time-to-clone: $release holds no release (make one with scripts/dist.sh)" >&2; exit 1; }

echo "== building and starting the test certifier, sshd and file server (not timed)"
cargo build --quiet --release --example testbed --manifest-path "$here/Cargo.toml"
"$here/target/release/examples/testbed" "$work/bed" --serve "$release" --until-killed >"$work/testbed.out" 2>&1 &
testbed_pid=$!
i=0
until [ -f "$work/bed/env.sh" ]; do
    i=$((i + 1))
    if [ $i -gt 300 ] || ! kill -0 "$testbed_pid" 2>/dev/null; then
        echo "time-to-clone: the test bed did not start:" >&2
        cat "$work/testbed.out" >&2
        exit 1
    fi
    sleep 0.1
done
# shellcheck source=/dev/null # written by the test bed
. "$work/bed/env.sh"

n=1
: > "$work/times"
while [ "$n" -le "$runs" ]; do
    home="$work/run$n"
    mkdir "$home"
    start=$(date +%s%N)
    # shellcheck disable=SC2016 # expanded by the inner shell
    env -i HOME="$home" PATH=/usr/bin:/bin LANG=C \
        CERTSH_DOWNLOAD_URL="$CERTSH_TEST_DOWNLOAD_URL" \
        MAGENTO_CLOUD_CLI_TOKEN="$CERTSH_TEST_API_TOKEN" \
        MAGENTO_CLOUD_CLI_API_AUTH_URL="$CERTSH_TEST_CERTIFIER_URL" \
        MAGENTO_CLOUD_CLI_API_CERTIFIER_URL="$CERTSH_TEST_CERTIFIER_URL" \
        SSH_CONFIG="$CERTSH_TEST_SSH_CONFIG" GIT_URL="$CERTSH_TEST_GIT_URL" \
        sh -c 'curl -fsSL "$CERTSH_DOWNLOAD_URL/install.sh" | sh >"$HOME/install.out" &&
            GIT_SSH_COMMAND="$HOME/.local/libexec/certsh/ssh -F $SSH_CONFIG" git clone -q "$GIT_URL" "$HOME/clone"'
    end=$(date +%s%N)
    [ -f "$home/clone/README" ] || { echo "time-to-clone: run $n did not clone" >&2; exit 1; }
    ms=$(( (end - start) / 1000000 ))
    echo "run $n: ${ms} ms"
    echo "$ms" >> "$work/times"
    n=$((n + 1))
done
median=$(sort -n "$work/times" | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print int((a[NR / 2] + a[NR / 2 + 1]) / 2) }')
echo "median of $runs runs, nothing to first clone: ${median} ms ($(uname -m), $(nproc 2>/dev/null || echo ?) cores)"
