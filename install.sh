#!/bin/sh
# Installs certsh under a prefix (default ~/.local):
#   <prefix>/bin/certsh                                 the program
#   <prefix>/libexec/certsh/ssh                         the shim, a small program named
#                                                       "ssh" so that git treats it as OpenSSH
#   <prefix>/share/bash-completion/completions/certsh   completions for bash,
#   <prefix>/share/zsh/site-functions/_certsh           zsh
#   <prefix>/share/fish/vendor_completions.d/certsh.fish  and fish
#   <prefix>/share/man/man1/certsh.1                    the man page
#   <prefix>/share/certsh/install-manifest              what was installed, for --uninstall
#
# Two ways to get there:
#   - from a checkout (Cargo.toml beside this file), or with --from-source: it
#     builds certsh with cargo;
#   - any other way, e.g. `curl -fsSL <base>/install.sh | sh`, or with --from,
#     --version or --release: it downloads a release archive for this
#     platform, checks it against SHA256SUMS (and SHA256SUMS.sig with
#     ssh-keygen when a release signer is configured), and installs it. That
#     needs sh, uname, tar, curl or wget, and sha256sum or shasum; no cargo.
#
# Running it again with the same version changes nothing; a new version
# replaces each file by rename. Any failure before that installs nothing.
# --uninstall removes exactly what the manifest lists (and the folders
# install.sh created, once empty), nothing else. It never edits your shell
# profile, git or ssh configuration: it prints the next step instead.
# POSIX sh; Linux and macOS.
set -eu
# >>> release signers: filled in by scripts/dist.sh from release/allowed_signers
release_signers=''
# <<< release signers

# Where releases are downloaded from unless --from or CERTSH_DOWNLOAD_URL
# says otherwise. With --version V: <releases>/download/vV.
download_url=https://github.com/certsh/certsh/releases/latest/download

# Everything is in functions and runs from the last line, so that a script
# cut short on its way through `curl | sh` runs nothing at all.

usage() {
    cat <<'EOF'
usage: install.sh [--prefix DIR] [--from BASE] [--version V] [--allowed-signers FILE]
       install.sh --from-source [--prefix DIR]       (from a checkout: build with cargo)
       install.sh --uninstall [--prefix DIR]
  --prefix DIR            where to install (default: ~/.local)
  --from BASE             release files from an https URL, an http URL on 127.0.0.1,
                          [::1] or localhost, or a local folder (default: $CERTSH_DOWNLOAD_URL,
                          else the project's release downloads)
  --version V             install version V (default: the one BASE/SHA256SUMS lists)
  --release               install a release even from a checkout
  --allowed-signers FILE  check SHA256SUMS.sig against these signers (ssh-keygen format)
EOF
}

die() {
    echo "install.sh: $*" >&2
    exit 1
}

have() {
    command -v "$1" >/dev/null 2>&1
}

main() {
    prefix="${HOME}/.local"
    action=install
    mode=""
    from=""
    version=""
    signers_file=""
    while [ $# -gt 0 ]; do
        case "$1" in
            --prefix|--from|--version|--allowed-signers)
                [ $# -ge 2 ] || { usage >&2; exit 2; }
                set_option "$1" "$2"
                shift 2
                ;;
            --prefix=*|--from=*|--version=*|--allowed-signers=*)
                set_option "${1%%=*}" "${1#*=}"
                shift
                ;;
            --from-source) mode=source; shift ;;
            --release) mode=release; shift ;;
            --uninstall) action=uninstall; shift ;;
            -h|--help) usage; exit 0 ;;
            *) echo "install.sh: unknown option '$1'" >&2; usage >&2; exit 2 ;;
        esac
    done

    manifest_rel=share/certsh/install-manifest
    if [ "$action" = uninstall ]; then
        uninstall
        exit 0
    fi

    # The checkout this script sits in, if any. Through `curl | sh`, $0 is
    # the shell, not a file beside a Cargo.toml.
    # (No dirname: the source build says "cargo not found" on any PATH.)
    checkout=""
    case "$0" in
        install.sh) dir=. ;;
        */install.sh) dir="${0%/*}" ;;
        *) dir="" ;;
    esac
    if [ -n "$dir" ] && [ -f "$0" ] && [ -f "$dir/Cargo.toml" ]; then
        checkout="$(cd "$dir" && pwd)"
    fi
    if [ -z "$mode" ]; then
        if [ -n "$checkout" ] && [ -z "$from$version$signers_file" ]; then
            mode=source
        else
            mode=release
        fi
    fi
    if [ "$mode" = source ]; then
        [ -z "$from$version$signers_file" ] || die "--from-source builds this checkout; --from, --version and --allowed-signers are for releases (drop one or the other)"
        [ -n "$checkout" ] || die "--from-source needs the checkout: run ./install.sh from a clone of the repository"
        install_from_source
    else
        install_release
    fi
    next_step
}

set_option() {
    case "$1" in
        --prefix) prefix="$2" ;;
        --from) from="$2" ;;
        --version) version="${2#v}" ;;
        --allowed-signers) signers_file="$2" ;;
    esac
}

uninstall() {
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
}

# The folders install.sh made in the prefix, from the manifest of an earlier
# install, so that --uninstall still removes them.
created_before() {
    if [ -f "$prefix/$manifest_rel" ]; then
        created="$created
$(grep '^dir ' "$prefix/$manifest_rel" | sed 's/^dir //')"
    fi
}

# Folders are created one level at a time so that the ones made here are
# known and --uninstall can remove them again.
make_dir() {
    sub=""
    for part in $(echo "$1" | tr '/' ' '); do
        sub="${sub:+$sub/}$part"
        if [ ! -d "$prefix/$sub" ]; then
            mkdir "$prefix/$sub"
            created="$created
$sub"
        fi
    done
}

# The manifest of an install, written to $1.
write_manifest() {
    {
        echo "file bin/certsh"
        echo "$shim_kind libexec/certsh/ssh"
        echo "file share/bash-completion/completions/certsh"
        echo "file share/zsh/site-functions/_certsh"
        echo "file share/fish/vendor_completions.d/certsh.fish"
        echo "file share/man/man1/certsh.1"
        echo "file $manifest_rel"
        echo "$created" | sed '/^$/d' | sort -u | sed 's/^/dir /'
    } > "$1"
}

install_from_source() {
    if ! have cargo; then
        echo "install.sh: cargo not found. Install Rust (https://rustup.rs), open a new shell, and run ./install.sh again." >&2
        exit 1
    fi

    here="$checkout"
    # The release flags (static linking on Linux) and why: scripts/build-flags.sh.
    # shellcheck source=scripts/build-flags.sh
    . "$here/scripts/build-flags.sh"
    build_certsh --manifest-path "$here/Cargo.toml"
    target="${CARGO_TARGET_DIR:-$here/target}"
    case "$target" in /*) ;; *) target="$here/$target" ;; esac
    built="$target/release/certsh"

    created=""
    if [ ! -d "$prefix" ]; then
        mkdir -p "$prefix"
        created="."
    fi
    prefix="$(cd "$prefix" && pwd)"
    created_before

    work="$(mktemp -d)"
    trap 'rm -rf "$work"' EXIT
    trap 'exit 1' INT TERM HUP

    put "$built" bin/certsh 0755
    # The shim is a program of its own (src/bin/certsh-ssh.rs), replacing an
    # older install's link to certsh: no shell starts on the way to ssh.
    put "$target/release/certsh-ssh" libexec/certsh/ssh 0755
    shim_kind="file"

    "$prefix/bin/certsh" completions bash > "$work/certsh.bash"
    "$prefix/bin/certsh" completions zsh > "$work/_certsh"
    "$prefix/bin/certsh" completions fish > "$work/certsh.fish"
    "$prefix/bin/certsh" man > "$work/certsh.1"
    put "$work/certsh.bash" share/bash-completion/completions/certsh 0644
    put "$work/_certsh" share/zsh/site-functions/_certsh 0644
    put "$work/certsh.fish" share/fish/vendor_completions.d/certsh.fish 0644
    put "$work/certsh.1" share/man/man1/certsh.1 0644

    make_dir share/certsh
    write_manifest "$work/manifest"
    put "$work/manifest" "$manifest_rel" 0644
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

# ---- release install -------------------------------------------------------

install_release() {
    # The tools first: a missing one is found before anything is fetched.
    if have sha256sum; then
        sha256=sha256sum
    elif have shasum; then
        sha256="shasum -a 256"
    else
        die "neither sha256sum nor shasum found, needed to check the download (install coreutils or perl's shasum)"
    fi
    have tar || die "tar not found, needed to unpack the release (install tar)"

    target="$(platform_target)"

    # Where from, checked before any connection is made.
    base="$from"
    if [ -z "$base" ]; then
        base="${CERTSH_DOWNLOAD_URL:-}"
    fi
    if [ -z "$base" ]; then
        if [ -n "$version" ]; then
            base="${download_url%/latest/download}/download/v$version"
        else
            base="$download_url"
        fi
    fi
    base="${base%/}"
    # Userinfo in a URL is refused whatever the scheme: with it, a reader and
    # curl can disagree on the host (http://example.com?@127.0.0.1/), and a
    # password does not belong on a command line.
    case "$base" in
        *://*)
            case "$(url_authority "$base")" in
                *@*) die "refusing a download URL with a user name or password in it (give the host alone: https://HOST/PATH)" ;;
            esac
            ;;
    esac
    case "$base" in
        https://*)
            kind=url
            ;;
        http://*)
            host="$(url_host "$base")"
            is_loopback "$host" || die "refusing plain http to '$host' (use https; plain http only to 127.0.0.1, [::1] or localhost)"
            kind=url
            ;;
        file://*)
            base="${base#file://}"
            kind=folder
            ;;
        *://*)
            die "cannot download from '$base' (use an https URL, an http URL on 127.0.0.1, [::1] or localhost, or a folder)"
            ;;
        *)
            kind=folder
            ;;
    esac
    if [ "$kind" = folder ]; then
        [ -d "$base" ] || die "no folder '$base' (--from takes an https URL, an http URL on 127.0.0.1, [::1] or localhost, or a folder of release files)"
        base="$(cd "$base" && pwd)"
    elif have curl; then
        fetcher=curl
    elif have wget; then
        fetcher=wget
    else
        die "neither curl nor wget found (install one of them, or download the release files and use --from FOLDER)"
    fi

    # Who must have signed SHA256SUMS, if anyone.
    if [ -n "$signers_file" ]; then
        [ -f "$signers_file" ] || die "no allowed signers file '$signers_file' (check --allowed-signers)"
    elif [ -n "$release_signers" ]; then
        signers_file=embedded
    fi
    if [ -n "$signers_file" ]; then
        have ssh-keygen || die "ssh-keygen not found, needed to check the release signature (install OpenSSH 8.1 or later)"
    fi

    # A private folder in the prefix: the same file system, so that the
    # last step is a rename. Removed on any exit, with the prefix itself
    # when this run made it and installed nothing.
    made_prefix=""
    if [ ! -d "$prefix" ]; then
        p="$prefix"
        while [ ! -d "$p" ]; do
            made_prefix="$p"
            p="$(dirname "$p")"
        done
        mkdir -p "$prefix" 2>/dev/null || die "cannot create $prefix (choose a --prefix you can write to)"
    fi
    prefix="$(cd "$prefix" && pwd)"
    work="$(mktemp -d "$prefix/.certsh-install.XXXXXX" 2>/dev/null)" || {
        cleanup_failed
        write_failed "$prefix"
    }
    installed_any=""
    trap 'rm -rf "$work"; [ -n "$installed_any" ] || cleanup_failed' EXIT
    trap 'exit 1' INT TERM HUP

    if [ "$signers_file" = embedded ]; then
        signers_file="$work/allowed_signers"
        { printf '%s\n' "$release_signers" > "$signers_file"; } 2>/dev/null || write_failed "$prefix"
    fi

    fetch SHA256SUMS || die "$(where SHA256SUMS) was not found (no such release: check --version and the download URL)"
    if [ -n "$signers_file" ]; then
        fetch SHA256SUMS.sig || die "$(where SHA256SUMS.sig) was not found, and a release signer is configured (an unsigned release is refused)"
        if ! ssh-keygen -Y verify -f "$signers_file" -I certsh-release -n certsh-release \
            -s "$work/SHA256SUMS.sig" < "$work/SHA256SUMS" >/dev/null 2>&1; then
            die "$(where SHA256SUMS.sig) is not a valid certsh-release signature of SHA256SUMS (the release was tampered with, or --allowed-signers names another key)"
        fi
    fi

    # The archive for this platform, and the version it carries.
    if [ -n "$version" ]; then
        archive="certsh-$version-$target.tar.gz"
        line="$(grep -E "^[0-9a-f]{64}  $(echo "$archive" | sed 's/\./\\./g')\$" "$work/SHA256SUMS" || true)"
        [ -n "$line" ] || die "no certsh $version archive for $target in $(where SHA256SUMS) (check --version; other platforms: build from source)"
    else
        line="$(grep -E "^[0-9a-f]{64}  certsh-[^ /]+-$target\\.tar\\.gz\$" "$work/SHA256SUMS" || true)"
        [ -n "$line" ] || die "no certsh archive for $target in $(where SHA256SUMS) (this platform has no release: build from source)"
        if [ "$(grep -cE "^[0-9a-f]{64}  certsh-[^ /]+-$target\\.tar\\.gz\$" "$work/SHA256SUMS")" != 1 ]; then
            die "$(where SHA256SUMS) lists several archives for $target (choose one with --version)"
        fi
        archive="${line#*  }"
        version="${archive#certsh-}"
        version="${version%-"$target".tar.gz}"
    fi
    expected="${line%%  *}"

    fetch "$archive" || die "$(where "$archive") was not found, though SHA256SUMS lists it (the release is incomplete; try again later)"
    actual="$($sha256 "$work/$archive" </dev/null | cut -d' ' -f1)"
    [ "$actual" = "$expected" ] || die "$archive does not match its checksum in SHA256SUMS (the download is damaged or was tampered with; nothing was installed)"

    # Unpack and check the program runs here before anything is replaced.
    mkdir "$work/unpacked" || write_failed "$prefix"
    if ! tar -xzf "$work/$archive" -C "$work/unpacked" --no-same-owner </dev/null 2>"$work/tar.err"; then
        grep -qi 'no space' "$work/tar.err" && write_failed "$prefix"
        die "$archive cannot be unpacked: $(head -n 1 "$work/tar.err")"
    fi
    stage="$work/unpacked/certsh-$version-$target"
    for rel in bin/certsh share/bash-completion/completions/certsh share/zsh/site-functions/_certsh \
        share/fish/vendor_completions.d/certsh.fish share/man/man1/certsh.1; do
        [ -f "$stage/$rel" ] || die "$archive has no certsh-$version-$target/$rel (a broken release)"
    done
    if ! "$stage/bin/certsh" --version </dev/null >"$work/version" 2>&1; then
        die "the certsh in $archive does not run on this machine ($(uname -s) $(uname -m)): $(head -n 1 "$work/version")"
    fi
    chmod 0755 "$stage/bin/certsh"
    chmod 0644 "$stage/share/bash-completion/completions/certsh" "$stage/share/zsh/site-functions/_certsh" \
        "$stage/share/fish/vendor_completions.d/certsh.fish" "$stage/share/man/man1/certsh.1"
    # The shim: the archive's own program, or in an older release's archive
    # a link to certsh, made here.
    mkdir -p "$stage/libexec/certsh" "$stage/share/certsh" || write_failed "$prefix"
    if [ -f "$stage/libexec/certsh/ssh" ] && [ ! -L "$stage/libexec/certsh/ssh" ]; then
        chmod 0755 "$stage/libexec/certsh/ssh"
        shim_kind="file"
    else
        rm -f "$stage/libexec/certsh/ssh"
        ln -s ../../bin/certsh "$stage/libexec/certsh/ssh" || write_failed "$prefix"
        shim_kind="link"
    fi

    # Every folder and the manifest before the first rename, so that a full
    # disk stops the install before it has changed anything.
    created=""
    [ -z "$made_prefix" ] || created="."
    created_before
    for rel in bin libexec/certsh share/bash-completion/completions share/zsh/site-functions \
        share/fish/vendor_completions.d share/man/man1 share/certsh; do
        make_dir "$rel" 2>/dev/null || write_failed "$prefix"
    done
    write_manifest "$stage/$manifest_rel" 2>/dev/null || write_failed "$prefix"

    installed_any=yes
    for rel in bin/certsh libexec/certsh/ssh share/bash-completion/completions/certsh \
        share/zsh/site-functions/_certsh share/fish/vendor_completions.d/certsh.fish \
        share/man/man1/certsh.1 "$manifest_rel"; do
        dest="$prefix/$rel"
        if [ -L "$stage/$rel" ]; then
            [ "$(readlink "$dest" 2>/dev/null || true)" != "$(readlink "$stage/$rel")" ] || continue
        elif [ -f "$dest" ] && [ ! -L "$dest" ] && cmp -s "$stage/$rel" "$dest"; then
            continue
        fi
        mv -f "$stage/$rel" "$dest"
        if [ -L "$dest" ]; then
            echo "installed $dest -> $(readlink "$dest")"
        else
            echo "installed $dest"
        fi
    done
    echo "certsh $version ($target) from $base"
}

# The Rust target of this machine's release archive.
platform_target() {
    os="$(uname -s)"
    machine="$(uname -m)"
    case "$machine" in
        x86_64|amd64) arch=x86_64 ;;
        aarch64|arm64) arch=aarch64 ;;
        *) arch="" ;;
    esac
    case "$os" in
        Linux) suffix=unknown-linux-musl ;;
        Darwin) suffix=apple-darwin ;;
        *) suffix="" ;;
    esac
    if [ -z "$arch" ] || [ -z "$suffix" ]; then
        die "no certsh release for $os $machine (releases are for Linux and macOS on x86_64 and arm64; build from source: https://github.com/certsh/certsh)"
    fi
    echo "$arch-$suffix"
}

# The authority of a URL as curl reads it: after the scheme, up to the
# first "/", "?" or "#".
url_authority() {
    rest="${1#*://}"
    echo "${rest%%[/?#]*}"
}

# The host of an http URL (which has no userinfo: refused above): no port;
# IPv6 in brackets.
url_host() {
    rest="$(url_authority "$1")"
    case "$rest" in
        \[*) echo "${rest%%]*}]" ;;
        *) echo "${rest%%:*}" ;;
    esac
}

# Only this machine: 127.0.0.0/8 as digits, [::1] and localhost.
is_loopback() {
    case "$1" in
        localhost|\[::1\]) return 0 ;;
        127.*)
            case "$1" in
                *[!0-9.]*|*..*|*.|*.*.*.*.*) return 1 ;;
                *.*.*.*) return 0 ;;
                *) return 1 ;;
            esac
            ;;
        *) return 1 ;;
    esac
}

where() {
    echo "$base/$1"
}

# Copies release file $1 from the base into the work folder. Returns 1 when
# it does not exist there (404); any other failure ends the install.
fetch() {
    dest="$work/$1"
    if [ "$kind" = folder ]; then
        [ -f "$base/$1" ] || return 1
        cp "$base/$1" "$dest" 2>/dev/null || write_failed "$prefix"
        return 0
    fi
    url="$base/$1"
    rc=0
    if [ "$fetcher" = curl ]; then
        case "$url" in
            https://*) proto="=https" ;;
            *) proto="=http" ;;
        esac
        # Redirects are followed only to https (release hosts redirect to
        # their storage); the status is that of the last answer.
        code="$(curl -sS -L --proto "$proto" --proto-redir =https --retry 2 -o "$dest" \
            -w '%{http_code}' "$url" </dev/null 2>"$work/fetch.err")" || rc=$?
        case "$rc" in
            0) ;;
            23) write_failed "$prefix" ;;
            18) die "the download of $url was cut short (try again)" ;;
            *) die "cannot download $url: $(sed -n 's/^curl: ([0-9]*) //p' "$work/fetch.err" | head -n 1) (check the network and the download URL)" ;;
        esac
        case "$code" in
            200) return 0 ;;
            404|410) rm -f "$dest"; return 1 ;;
            *) die "$url answered HTTP $code (try again later, or check the download URL)" ;;
        esac
    else
        case "$url" in
            https://*) https_only="--https-only" ;;
            *) https_only="--max-redirect=0" ;;
        esac
        wget -q -S --tries=1 "$https_only" -O "$dest" "$url" </dev/null 2>"$work/fetch.err" || rc=$?
        case "$rc" in
            0) return 0 ;;
            3) write_failed "$prefix" ;;
            8)
                code="$(sed -n 's/^ *HTTP\/[0-9.]* \([0-9][0-9][0-9]\).*/\1/p' "$work/fetch.err" | tail -n 1)"
                case "$code" in
                    404|410) rm -f "$dest"; return 1 ;;
                    *) die "$url answered HTTP $code (try again later, or check the download URL)" ;;
                esac
                ;;
            4)
                # A network failure after part of the body arrived.
                [ ! -s "$dest" ] || die "the download of $url was cut short (try again)"
                die "cannot download $url (wget found no answer: check the network and the download URL)"
                ;;
            *) die "cannot download $url (wget exit $rc: check the network and the download URL)" ;;
        esac
    fi
}

# A write in the prefix failed: say whether the disk is full.
write_failed() {
    if [ -n "${work:-}" ] && [ -d "$work" ] && ! dd if=/dev/zero of="$work/.probe" bs=4096 count=16 2>/dev/null; then
        die "no space left on the device of $1 (free some space, or choose another --prefix)"
    fi
    die "cannot write into $1 (check its permissions and free space, or choose another --prefix)"
}

# Removes the folders this run created for a prefix that did not exist.
cleanup_failed() {
    [ -n "${made_prefix:-}" ] || return 0
    p="$prefix"
    while :; do
        rmdir "$p" 2>/dev/null || return 0
        [ "$p" != "$made_prefix" ] || return 0
        p="$(dirname "$p")"
    done
}

next_step() {
    echo "certsh is installed in $prefix."
    case ":${PATH:-}:" in
        *":$prefix/bin:"*) certsh=certsh ;;
        *) certsh="$prefix/bin/certsh"; echo "($prefix/bin is not on your PATH; add it, or use the full path below.)" ;;
    esac
    echo "Next step, so that plain git and IDEs use it:  $certsh setup git"
    echo "For plain ssh, scp and rsync as well:           $certsh setup ssh-config"
}

main "$@"
