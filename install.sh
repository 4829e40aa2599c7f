#!/bin/sh
# Builds certsh from this checkout and installs it under a prefix:
#   <prefix>/bin/certsh                                 the program
#   <prefix>/libexec/certsh/ssh                         the shim: certsh under the name
#                                                       "ssh", so that git treats it as OpenSSH
#   <prefix>/share/bash-completion/completions/certsh   completions for bash,
#   <prefix>/share/zsh/site-functions/_certsh           zsh
#   <prefix>/share/fish/vendor_completions.d/certsh.fish  and fish
#   <prefix>/share/man/man1/certsh.1                    the man page
#   <prefix>/share/certsh/install-manifest              what was installed, for --uninstall
#
# Running it again with the same sources changes nothing. --uninstall removes
# exactly what the manifest lists (and the folders install.sh created, once
# empty), nothing else. It never edits your shell profile, git or ssh
# configuration: it prints the next step instead. POSIX sh; Linux and macOS.
set -eu
# >>> release signers: filled in by scripts/dist.sh from release/allowed_signers
release_signers=''
# <<< release signers

prefix="${HOME}/.local"
action=install
usage() {
    echo "usage: install.sh [--prefix DIR] [--uninstall]   (default prefix: ~/.local)"
}
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) [ $# -ge 2 ] || { usage >&2; exit 2; }; prefix="$2"; shift 2 ;;
        --prefix=*) prefix="${1#--prefix=}"; shift ;;
        --uninstall) action=uninstall; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "install.sh: unknown option '$1'" >&2; usage >&2; exit 2 ;;
    esac
done

manifest_rel=share/certsh/install-manifest

if [ "$action" = uninstall ]; then
    if [ ! -d "$prefix" ]; then
        echo "install.sh: $prefix does not exist; nothing to uninstall"
        exit 0
    fi
    prefix="$(cd "$prefix" && pwd)"
    manifest="$prefix/$manifest_rel"
    if [ ! -f "$manifest" ]; then
        # An install from before the manifest: only the two files it made,
        # recognised by the shim's link.
        if [ "$(readlink "$prefix/libexec/certsh/ssh" 2>/dev/null || true)" = "../../bin/certsh" ]; then
            rm -f "$prefix/libexec/certsh/ssh" "$prefix/bin/certsh"
            rmdir "$prefix/libexec/certsh" 2>/dev/null || true
            echo "removed $prefix/bin/certsh and $prefix/libexec/certsh/ssh"
        else
            echo "install.sh: no certsh install recorded in $prefix ($manifest_rel is missing); nothing removed"
        fi
        exit 0
    fi
    dirs="$(grep '^dir ' "$manifest" | sed 's/^dir //' | sort -r)"
    while read -r kind rel; do
        case "$kind" in
            file|link)
                if [ -e "$prefix/$rel" ] || [ -L "$prefix/$rel" ]; then
                    rm -f "$prefix/$rel"
                    echo "removed $prefix/$rel"
                fi
                ;;
        esac
    done < "$manifest"
    # Deepest folders first; only the ones install.sh created, and only
    # when nothing else is in them.
    echo "$dirs" | while read -r rel; do
        if [ -z "$rel" ]; then
            continue
        elif [ "$rel" = . ]; then
            rmdir "$prefix" 2>/dev/null || true
        else
            rmdir "$prefix/$rel" 2>/dev/null || true
        fi
    done
    echo "certsh is uninstalled from $prefix"
    echo "Changes made with 'certsh setup git' or 'certsh setup ssh-config' stay until undone: reinstall, run them with --undo, uninstall."
    exit 0
fi

if ! command -v cargo >/dev/null 2>&1; then
    echo "install.sh: cargo not found. Install Rust (https://rustup.rs), open a new shell, and run ./install.sh again." >&2
    exit 1
fi

here="$(cd "$(dirname "$0")" && pwd)"
# The release flags (static linking on Linux) and why: scripts/build-flags.sh.
. "$here/scripts/build-flags.sh"
# shellcheck disable=SC2086 # the flags are words
cargo rustc --release --locked --quiet --manifest-path "$here/Cargo.toml" --bin certsh -- $CERTSH_RUSTC_FLAGS
target="${CARGO_TARGET_DIR:-$here/target}"
case "$target" in /*) ;; *) target="$here/$target" ;; esac
built="$target/release/certsh"

# Folders are created one level at a time so that the ones made here are
# known and --uninstall can remove them again.
created=""
if [ ! -d "$prefix" ]; then
    mkdir -p "$prefix"
    created="."
fi
prefix="$(cd "$prefix" && pwd)"
manifest="$prefix/$manifest_rel"
if [ -f "$manifest" ]; then
    created="$created
$(grep '^dir ' "$manifest" | sed 's/^dir //')"
fi

make_dir() {
    rel=""
    for part in $(echo "$1" | tr '/' ' '); do
        rel="${rel:+$rel/}$part"
        if [ ! -d "$prefix/$rel" ]; then
            mkdir "$prefix/$rel"
            created="$created
$rel"
        fi
    done
}

# Puts $1 at $prefix/$2 with mode $3, only when it differs, and by rename, so
# that an ssh running through certsh is never handed a half-written file.
put() {
    make_dir "$(dirname "$2")"
    dest="$prefix/$2"
    if ! cmp -s "$1" "$dest" 2>/dev/null; then
        cp "$1" "$dest.certsh-new"
        chmod "$3" "$dest.certsh-new"
        mv -f "$dest.certsh-new" "$dest"
        echo "installed $dest"
    fi
}

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT INT TERM

put "$built" bin/certsh 0755

# The shim is a symlink: no shell starts on the way to ssh.
make_dir libexec/certsh
shim="$prefix/libexec/certsh/ssh"
if [ "$(readlink "$shim" 2>/dev/null || true)" != "../../bin/certsh" ]; then
    ln -sfn ../../bin/certsh "$shim"
    echo "installed $shim -> ../../bin/certsh"
fi

"$prefix/bin/certsh" completions bash > "$work/certsh.bash"
"$prefix/bin/certsh" completions zsh > "$work/_certsh"
"$prefix/bin/certsh" completions fish > "$work/certsh.fish"
"$prefix/bin/certsh" man > "$work/certsh.1"
put "$work/certsh.bash" share/bash-completion/completions/certsh 0644
put "$work/_certsh" share/zsh/site-functions/_certsh 0644
put "$work/certsh.fish" share/fish/vendor_completions.d/certsh.fish 0644
put "$work/certsh.1" share/man/man1/certsh.1 0644

make_dir share/certsh
{
    echo "file bin/certsh"
    echo "link libexec/certsh/ssh"
    echo "file share/bash-completion/completions/certsh"
    echo "file share/zsh/site-functions/_certsh"
    echo "file share/fish/vendor_completions.d/certsh.fish"
    echo "file share/man/man1/certsh.1"
    echo "file $manifest_rel"
    echo "$created" | sed '/^$/d' | sort -u | sed 's/^/dir /'
} > "$work/manifest"
put "$work/manifest" "$manifest_rel" 0644

echo "certsh is installed in $prefix."
case ":${PATH:-}:" in
    *":$prefix/bin:"*) certsh=certsh ;;
    *) certsh="$prefix/bin/certsh"; echo "($prefix/bin is not on your PATH; add it, or use the full path below.)" ;;
esac
echo "Next step, so that plain git and IDEs use it:  $certsh setup git"
echo "For plain ssh, scp and rsync as well:           $certsh setup ssh-config"
