#!/bin/sh
# A demo that needs no cloud account: starts the test certifier and a real
# sshd (on 127.0.0.1, trusting the certifier's CA) with a git repository,
# then clones it through the certsh shim with no step before, as a user with
# only MAGENTO_CLOUD_CLI_TOKEN would.
#
#   scripts/demo.sh [--prefix DIR]     (certsh installed by ./install.sh; default ~/.local)
set -eu

prefix="${HOME}/.local"
case "${1:-}" in
    --prefix) prefix="$2" ;;
    --prefix=*) prefix="${1#--prefix=}" ;;
    "") ;;
    *) echo "usage: scripts/demo.sh [--prefix DIR]" >&2; exit 2 ;;
esac
shim="$prefix/libexec/certsh/ssh"
certsh="$prefix/bin/certsh"
if [ ! -x "$shim" ] || [ ! -x "$certsh" ]; then
    echo "demo: $shim not found; run ./install.sh --prefix $prefix first" >&2
    exit 1
fi
# The demo needs git and OpenSSH's server. As root with apt-get (a fresh
# Debian or Ubuntu box, a container) it installs them; otherwise it names the
# one command to run.
missing=""
command -v git >/dev/null 2>&1 || missing="git"
[ -x /usr/sbin/sshd ] || missing="$missing openssh-server"
if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "== installing$missing"
        apt-get update -qq
        # shellcheck disable=SC2086 # one word per package
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
    else
        echo "demo: needs$missing (as root: apt-get install -y$missing; on macOS, enable Remote Login for sshd)" >&2
        exit 1
    fi
fi

here="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/certsh-demo.XXXXXX")"
testbed_pid=""
cleanup() {
    [ -n "$testbed_pid" ] && kill "$testbed_pid" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

echo "== building and starting the test certifier and sshd (loopback only)"
cargo build --quiet --release --example testbed --manifest-path "$here/Cargo.toml"
"$here/target/release/examples/testbed" "$work/bed" --until-killed >"$work/testbed.out" 2>&1 &
testbed_pid=$!
i=0
until [ -f "$work/bed/env.sh" ]; do
    i=$((i + 1))
    if [ $i -gt 300 ] || ! kill -0 "$testbed_pid" 2>/dev/null; then
        echo "demo: the test bed did not start:" >&2
        cat "$work/testbed.out" >&2
        exit 1
    fi
    sleep 0.1
done
. "$work/bed/env.sh"

# A fresh user: empty HOME, nothing but the token in the environment.
mkdir -p "$work/home"
export HOME="$work/home"
export MAGENTO_CLOUD_CLI_TOKEN="$CERTSH_TEST_API_TOKEN"
# Point the Magento Cloud profile at the local test certifier.
export MAGENTO_CLOUD_CLI_API_AUTH_URL="$CERTSH_TEST_CERTIFIER_URL"
export MAGENTO_CLOUD_CLI_API_CERTIFIER_URL="$CERTSH_TEST_CERTIFIER_URL"
# The test ssh_config maps git.us-3.magento.cloud to the local sshd.
export GIT_SSH_COMMAND="$shim -F $CERTSH_TEST_SSH_CONFIG"

echo "== certificate before: "
"$certsh" status || true
echo
echo "== git clone $CERTSH_TEST_GIT_URL   (no ssh-cert:load, no login)"
cd "$work"
git clone "$CERTSH_TEST_GIT_URL" clone
echo
echo "== the clone has: $(ls clone)"
echo "== certificate after:"
"$certsh" status
echo
echo "== a second clone reuses it:"
git clone -q "$CERTSH_TEST_GIT_URL" clone2
sleep 0.1
. "$work/bed/counters.env"
echo "certifier requests: $CERTSH_TEST_TOKEN_REQUESTS token exchange, $CERTSH_TEST_SIGN_REQUESTS signature for two clones"
