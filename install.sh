#!/bin/sh
# Builds certsh from this checkout and installs it:
#   <prefix>/bin/certsh             the program
#   <prefix>/libexec/certsh/ssh     the shim: certsh under the name "ssh", so
#                                   that git treats it as OpenSSH
# Running it again with the same sources changes nothing.
set -eu

prefix="${HOME}/.local"
usage() {
    echo "usage: install.sh [--prefix DIR]   (default: ~/.local)"
}
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) [ $# -ge 2 ] || { usage >&2; exit 2; }; prefix="$2"; shift 2 ;;
        --prefix=*) prefix="${1#--prefix=}"; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "install.sh: unknown option '$1'" >&2; usage >&2; exit 2 ;;
    esac
done

if ! command -v cargo >/dev/null 2>&1; then
    echo "install.sh: cargo not found. Install Rust (https://rustup.rs), open a new shell, and run ./install.sh again." >&2
    exit 1
fi

here="$(cd "$(dirname "$0")" && pwd)"
cargo build --release --locked --quiet --manifest-path "$here/Cargo.toml"
built="$here/target/release/certsh"

mkdir -p "$prefix/bin" "$prefix/libexec/certsh"
prefix="$(cd "$prefix" && pwd)"

# Replace the binary only when it differs, and by rename, so that a running
# ssh through certsh is never handed a half-written file.
if ! cmp -s "$built" "$prefix/bin/certsh" 2>/dev/null; then
    cp "$built" "$prefix/bin/.certsh.new"
    chmod 0755 "$prefix/bin/.certsh.new"
    mv -f "$prefix/bin/.certsh.new" "$prefix/bin/certsh"
    echo "installed $prefix/bin/certsh"
fi

# The shim is a symlink: no shell starts on the way to ssh.
shim="$prefix/libexec/certsh/ssh"
if [ "$(readlink "$shim" 2>/dev/null || true)" != "../../bin/certsh" ]; then
    ln -sfn ../../bin/certsh "$shim"
    echo "installed $shim -> ../../bin/certsh"
fi

echo "certsh is installed. For git: export GIT_SSH_COMMAND=$shim"
