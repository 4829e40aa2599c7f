#!/bin/sh
# Builds certsh's release files into one folder that a download URL can serve
# as it is:
#   certsh-<version>-<target>.tar.gz   per target: bin/certsh, the ssh shim
#                                      libexec/certsh/ssh (the small program
#                                      built as certsh-ssh),
#                                      completions, man page, README, licences;
#                                      the layout of a prefix made by install.sh
#   certsh-<version>-x86_64-pc-windows-gnu.zip (and -msvc.zip)
#                                      for Windows: bin/certsh.exe and the shim
#                                      libexec/certsh/ssh.exe, README, licences
#   SHA256SUMS                         every certsh-<version>-*.tar.gz and .zip
#                                      in the folder
#   SHA256SUMS.sig                     with --signing-key: ssh-keygen -Y sign
#   install.sh                         the installer, with the release signers
#                                      of --allowed-signers written into it
#   certsh.rb                          the Homebrew formula for the archives listed
#   certsh.json, winget/               when the Windows zip is listed: its Scoop
#                                      manifest and its winget manifests
#   certsh_<version>-1_<arch>.deb      with --deb: the Debian package (cargo-deb;
#                                      see [package.metadata.deb] in Cargo.toml)
#
#   scripts/dist.sh [--out DIR] [--signing-key FILE] [--allowed-signers FILE]
#                   [--deb] [TARGET...]
#
# TARGET defaults to this machine's Linux musl target. The Linux targets
# (x86_64-unknown-linux-musl, aarch64-unknown-linux-musl) are linked fully
# statically against musl: no dynamic loader, no glibc, no NSS modules, so one
# binary runs on any Linux. The other architecture is cross-built with
# Debian's gcc-<arch>-linux-gnu and its completions and man page come from the
# built binary run under qemu-<arch>-static. The Apple targets build only on
# macOS (the release workflow's macOS runner). x86_64-pc-windows-gnu is
# cross-built on Linux with Debian's mingw-w64 gcc, its C runtime linked in
# statically, and zipped with python3's zipfile (the same bytes each time);
# x86_64-pc-windows-msvc builds only on Windows (the release workflow's
# Windows runner, in Git's bash), into a zip of the same layout. The Scoop
# and winget manifests name the gnu zip, the one tested here under Wine.
#
# Archives are reproducible for a given commit and toolchain: entries sorted,
# owner 0/0, mtimes set to SOURCE_DATE_EPOCH (default: the commit's time),
# gzip without name or time.
#
# Running it again adds to the folder: SHA256SUMS and certsh.rb list every
# archive of this version found there, so archives built on other machines
# can be gathered into one folder first.
set -eu
LC_ALL=C
export LC_ALL

die() {
    echo "dist.sh: $*" >&2
    exit 1
}
usage() {
    echo "usage: scripts/dist.sh [--out DIR] [--signing-key FILE] [--allowed-signers FILE] [--deb] [TARGET...]"
}

root="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=scripts/build-flags.sh
. "$root/scripts/build-flags.sh"
out="$root/dist"
signing_key="${CERTSH_SIGNING_KEY:-}"
allowed_signers="$root/release/allowed_signers"
deb=no
targets=""
while [ $# -gt 0 ]; do
    case "$1" in
        --out) [ $# -ge 2 ] || { usage >&2; exit 2; }; out="$2"; shift 2 ;;
        --out=*) out="${1#--out=}"; shift ;;
        --signing-key) [ $# -ge 2 ] || { usage >&2; exit 2; }; signing_key="$2"; shift 2 ;;
        --signing-key=*) signing_key="${1#--signing-key=}"; shift ;;
        --allowed-signers) [ $# -ge 2 ] || { usage >&2; exit 2; }; allowed_signers="$2"; shift 2 ;;
        --allowed-signers=*) allowed_signers="${1#--allowed-signers=}"; shift ;;
        --deb) deb=yes; shift ;;
        -h|--help) usage; exit 0 ;;
        -*) echo "dist.sh: unknown option '$1'" >&2; usage >&2; exit 2 ;;
        *) targets="$targets $1"; shift ;;
    esac
done

host_os="$(uname -s)"
host_arch="$(uname -m)"
case "$host_arch" in arm64) host_arch=aarch64 ;; amd64) host_arch=x86_64 ;; esac
[ -n "$targets" ] || targets="$host_arch-unknown-linux-musl"

# Everything is checked before the first build, so that a mistake costs
# seconds, not a build.
for t in $targets; do
    case "$t" in
        x86_64-unknown-linux-musl|aarch64-unknown-linux-musl)
            [ "$host_os" = Linux ] || die "$t is built on Linux only (run scripts/dist.sh on a Linux machine)" ;;
        x86_64-apple-darwin|aarch64-apple-darwin)
            [ "$host_os" = Darwin ] || die "$t builds only on macOS (the release workflow builds it on a macOS runner)" ;;
        x86_64-pc-windows-gnu)
            command -v x86_64-w64-mingw32-gcc >/dev/null 2>&1 ||
                die "x86_64-w64-mingw32-gcc not found, needed to build for $t (apt-get install gcc-mingw-w64-x86-64)"
            command -v python3 >/dev/null 2>&1 || die "python3 not found, needed to zip the $t archive" ;;
        x86_64-pc-windows-msvc)
            case "$host_os" in
                MINGW* | MSYS* | CYGWIN*) ;;
                *) die "$t builds only on Windows (the release workflow builds it on a Windows runner)" ;;
            esac
            command -v python3 >/dev/null 2>&1 || die "python3 not found, needed to zip the $t archive" ;;
        *) die "unknown target '$t' (one of x86_64-unknown-linux-musl, aarch64-unknown-linux-musl, x86_64-apple-darwin, aarch64-apple-darwin, x86_64-pc-windows-gnu, x86_64-pc-windows-msvc)" ;;
    esac
    rustup target list --installed 2>/dev/null | grep -qx "$t" ||
        die "the Rust standard library for $t is not installed (rustup target add $t)"
done
if [ "$deb" = yes ]; then
    command -v cargo-deb >/dev/null 2>&1 || die "cargo-deb is not installed (cargo install cargo-deb --locked)"
    for t in $targets; do
        case "$t" in *-linux-musl) ;; *) die "--deb packages Linux targets only, not $t" ;; esac
    done
fi

version="$(sed -n 's/^version = "\(.*\)"$/\1/p' "$root/Cargo.toml" | head -n 1)"
[ -n "$version" ] || die "no version in $root/Cargo.toml"

# The commit --version names: a modified tree says so.
if [ -z "${CERTSH_BUILD_COMMIT:-}" ]; then
    if CERTSH_BUILD_COMMIT="$(git -C "$root" rev-parse --short=12 HEAD 2>/dev/null)"; then
        if [ -n "$(git -C "$root" status --porcelain --untracked-files=no 2>/dev/null)" ]; then
            CERTSH_BUILD_COMMIT="$CERTSH_BUILD_COMMIT-dirty"
        fi
    else
        CERTSH_BUILD_COMMIT=unknown
    fi
fi
export CERTSH_BUILD_COMMIT
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
    SOURCE_DATE_EPOCH="$(git -C "$root" log -1 --format=%ct 2>/dev/null || echo 0)"
fi
export SOURCE_DATE_EPOCH

# The signers written into install.sh: the key lines of the file, comments
# and blank lines dropped.
[ -f "$allowed_signers" ] || die "allowed signers file $allowed_signers not found (--allowed-signers FILE)"
signers="$(grep -v '^[[:space:]]*#' "$allowed_signers" | grep -v '^[[:space:]]*$' || true)"
case "$signers" in *"'"*) die "$allowed_signers contains a single quote (install.sh takes it inside '...'; remove it)" ;; esac
if [ -n "$signing_key" ]; then
    [ -r "$signing_key" ] || die "signing key $signing_key cannot be read"
    command -v ssh-keygen >/dev/null 2>&1 || die "ssh-keygen not found (install OpenSSH's client)"
    # A signature that the installer would reject is worse than none.
    public="$(ssh-keygen -y -f "$signing_key" 2>/dev/null | awk '{print $1" "$2}')" ||
        die "cannot read the public key of $signing_key (ssh-keygen -y -f $signing_key)"
    [ -n "$public" ] || die "cannot read the public key of $signing_key (ssh-keygen -y -f $signing_key)"
    echo "$signers" | grep -F -q -- "$public" ||
        die "the public key of $signing_key is not in $allowed_signers, so install.sh would reject its signature (add it there, or pass --allowed-signers FILE)"
fi
grep -qx "# >>> release signers: filled in by scripts/dist.sh from release/allowed_signers" "$root/install.sh" ||
    die "install.sh has no release signers block (put back the three \"# >>> release signers\" lines near its top)"

command -v cargo >/dev/null 2>&1 || die "cargo not found (install Rust: https://rustup.rs)"
if command -v sha256sum >/dev/null 2>&1; then
    sha256() { sha256sum "$@"; }
elif command -v shasum >/dev/null 2>&1; then
    sha256() { shasum -a 256 "$@"; }
else
    die "no sha256sum or shasum found (install coreutils)"
fi

target_dir="${CARGO_TARGET_DIR:-$root/target}"
case "$target_dir" in /*) ;; *) target_dir="$root/$target_dir" ;; esac
mkdir -p "$out"
out="$(cd "$out" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT INT TERM
umask 022

# A Debian cross compiler for another Linux architecture, e.g.
# aarch64-linux-gnu-gcc: it compiles ring's C and assembly and links; the C
# library and start files are the musl ones that Rust ships for the target.
cross_gcc() {
    cc="$1-linux-gnu-gcc"
    command -v "$cc" >/dev/null 2>&1 || die "$cc not found, needed to build for $2 (apt-get install gcc-$(echo "$1" | tr _ -)-linux-gnu)"
    echo "$cc"
}

# Runs the built binary for $1, natively or under qemu: completions and man
# page come from the binary they ship with.
run_target() {
    t="$1"
    shift
    bin="$target_dir/$t/release/certsh"
    if "$bin" --version >/dev/null 2>&1; then
        "$bin" "$@"
        return
    fi
    arch="${t%%-*}"
    command -v "qemu-$arch-static" >/dev/null 2>&1 ||
        die "cannot run the $t binary here to make its completions and man page (apt-get install qemu-user-static)"
    "qemu-$arch-static" "$bin" "$@"
}

build() {
    t="$1"
    arch="${t%%-*}"
    var="$(echo "$t" | tr 'a-z-' 'A-Z_')"
    flags=""
    case "$t" in
        *-linux-musl)
            # Static, and position-independent (static-pie) where Rust's
            # target offers it, as scripts/build-flags.sh explains:
            # x86_64-unknown-linux-musl does; aarch64-unknown-linux-musl
            # links static at a fixed address (its target spec has no
            # static-pie), which no flag on stable Rust changes. The
            # flags, with why: scripts/build-flags.sh.
            flags="$(certsh_musl_flags "$root")" || exit 1
            if [ "$arch" != "$host_arch" ]; then
                cc="$(cross_gcc "$arch" "$t")"
                u="$(echo "$t" | tr - _)"
                eval "export CC_$u=\"\${CC_$u:-$cc}\""
                eval "export CARGO_TARGET_${var}_LINKER=\"\${CARGO_TARGET_${var}_LINKER:-$cc}\""
                if command -v "$arch-linux-gnu-ar" >/dev/null 2>&1; then
                    eval "export AR_$u=\"\${AR_$u:-$arch-linux-gnu-ar}\""
                fi
            elif ! command -v musl-gcc >/dev/null 2>&1; then
                die "musl-gcc not found, needed to build for $t (apt-get install musl-tools)"
            fi
            ;;
        *-windows-gnu | *-windows-msvc)
            # The C runtime linked in (mingw's libgcc and winpthread, or
            # MSVC's vcruntime): certsh.exe needs no DLL beside it.
            flags="-C target-feature=+crt-static"
            ;;
    esac
    echo "dist.sh: building $t (commit $CERTSH_BUILD_COMMIT)" >&2
    # shellcheck disable=SC2086 # the flags are words
    cargo rustc --release --locked --quiet --manifest-path "$root/Cargo.toml" \
        --target "$t" --bin certsh -- $flags
    # shellcheck disable=SC2086
    cargo rustc --release --locked --quiet --manifest-path "$root/Cargo.toml" \
        --target "$t" --bin certsh-ssh -- $flags
}

# Sets every mtime below $1 to SOURCE_DATE_EPOCH (GNU and BSD date/touch).
stamp=$(TZ=UTC date -d "@$SOURCE_DATE_EPOCH" +%Y%m%d%H%M.%S 2>/dev/null ||
    TZ=UTC date -r "$SOURCE_DATE_EPOCH" +%Y%m%d%H%M.%S)
touch_all() {
    find "$1" -exec env TZ=UTC touch -h -t "$stamp" {} +
}

archive() {
    t="$1"
    name="certsh-$version-$t"
    stage="$work/$name"
    rm -rf "$stage"
    mkdir -p "$stage/bin" "$stage/libexec/certsh" "$stage/share/bash-completion/completions" \
        "$stage/share/zsh/site-functions" "$stage/share/fish/vendor_completions.d" "$stage/share/man/man1"
    cp "$target_dir/$t/release/certsh" "$stage/bin/certsh"
    cp "$target_dir/$t/release/certsh-ssh" "$stage/libexec/certsh/ssh"
    chmod 0755 "$stage/bin/certsh" "$stage/libexec/certsh/ssh"
    run_target "$t" completions bash > "$stage/share/bash-completion/completions/certsh"
    run_target "$t" completions zsh > "$stage/share/zsh/site-functions/_certsh"
    run_target "$t" completions fish > "$stage/share/fish/vendor_completions.d/certsh.fish"
    run_target "$t" man > "$stage/share/man/man1/certsh.1"
    cp "$root/README.md" "$root/LICENSE-MIT" "$root/LICENSE-APACHE" "$stage/"
    find "$stage" -type f ! -path "$stage/bin/certsh" ! -path "$stage/libexec/certsh/ssh" -exec chmod 0644 {} +
    find "$stage" -type d -exec chmod 0755 {} +
    touch_all "$stage"
    (cd "$work" && find "$name" | LC_ALL=C sort) > "$work/list"
    if tar --version 2>/dev/null | grep -q 'GNU tar'; then
        owner="--owner=0 --group=0 --numeric-owner --mtime=@$SOURCE_DATE_EPOCH"
    else
        owner="--uid 0 --gid 0 --numeric-owner"
    fi
    # shellcheck disable=SC2086 # the flags are words
    (cd "$work" && tar $owner --format=ustar --no-recursion -cf - -T list) | gzip -9n > "$out/$name.tar.gz.tmp"
    mv -f "$out/$name.tar.gz.tmp" "$out/$name.tar.gz"
    echo "dist.sh: wrote $out/$name.tar.gz" >&2
}

# The Windows archive: a zip, as Windows users unpack it, of the same
# layout (bin/certsh.exe, libexec/certsh/ssh.exe).
archive_zip() {
    t="$1"
    name="certsh-$version-$t"
    stage="$work/$name"
    rm -rf "$stage"
    mkdir -p "$stage/bin" "$stage/libexec/certsh"
    cp "$target_dir/$t/release/certsh.exe" "$stage/bin/certsh.exe"
    cp "$target_dir/$t/release/certsh-ssh.exe" "$stage/libexec/certsh/ssh.exe"
    cp "$root/README.md" "$root/LICENSE-MIT" "$root/LICENSE-APACHE" "$stage/"
    python3 - "$work" "$name" "$SOURCE_DATE_EPOCH" "$out/$name.zip.tmp" <<'PY'
import os, sys, time, zipfile
work, name, epoch, dest = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
# Zip times start in 1980; entries sorted, each with the commit's time.
stamp = time.gmtime(max(epoch, 315532800))[:6]
paths = sorted(
    os.path.relpath(os.path.join(d, f), work)
    for d, _, files in os.walk(os.path.join(work, name))
    for f in files
)
with zipfile.ZipFile(dest, "w") as z:
    for p in paths:
        info = zipfile.ZipInfo(p.replace(os.sep, "/"), stamp)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = (0o100755 if p.endswith(".exe") else 0o100644) << 16
        with open(os.path.join(work, p), "rb") as f:
            z.writestr(info, f.read())
PY
    mv -f "$out/$name.zip.tmp" "$out/$name.zip"
    echo "dist.sh: wrote $out/$name.zip" >&2
}

for t in $targets; do
    build "$t"
    case "$t" in
        *-windows-*) archive_zip "$t" ;;
        *) archive "$t" ;;
    esac
done

# Checksums of every archive of this version in the folder, sorted by name
# (LC_ALL=C: byte order).
(
    cd "$out"
    for f in certsh-"$version"-*; do
        case "$f" in
            *.tar.gz | *.zip) if [ -f "$f" ]; then sha256 "$f"; fi ;;
        esac
    done
) > "$work/SHA256SUMS"
mv -f "$work/SHA256SUMS" "$out/SHA256SUMS"
rm -f "$out/SHA256SUMS.sig"
if [ -n "$signing_key" ]; then
    ssh-keygen -q -Y sign -f "$signing_key" -n certsh-release "$out/SHA256SUMS" ||
        die "ssh-keygen could not sign $out/SHA256SUMS with $signing_key"
    printf '%s\n' "$signers" > "$work/allowed_signers"
    ssh-keygen -q -Y verify -f "$work/allowed_signers" -I certsh-release -n certsh-release \
        -s "$out/SHA256SUMS.sig" < "$out/SHA256SUMS" >/dev/null ||
        die "the signature does not verify against $allowed_signers with principal certsh-release (its key line must read: certsh-release namespaces=\"certsh-release\" ssh-ed25519 AAAA...)"
    echo "dist.sh: signed $out/SHA256SUMS" >&2
fi

# install.sh with the signers in place of its empty release_signers line.
SIGNERS="$signers" awk '
    prev == "# >>> release signers: filled in by scripts/dist.sh from release/allowed_signers" {
        print "release_signers='"'"'" ENVIRON["SIGNERS"] "'"'"'"; prev = $0; next
    }
    { print; prev = $0 }
' "$root/install.sh" > "$work/install.sh"
chmod 0755 "$work/install.sh"
mv -f "$work/install.sh" "$out/install.sh"

# The Homebrew formula: one url and sha256 per archive listed in SHA256SUMS.
formula_entry() {
    f="certsh-$version-$1.tar.gz"
    sum="$(awk -v f="$f" '$2 == f { print $1 }' "$out/SHA256SUMS")"
    if [ -n "$sum" ]; then
        printf '      url "https://github.com/certsh/certsh/releases/download/v%s/%s"\n' "$version" "$f"
        printf '      sha256 "%s"\n' "$sum"
    else
        printf '      # no archive for %s in this release\n' "$1"
    fi
}
{
    echo "# Homebrew formula for certsh's release archives. Generated by"
    echo "# scripts/dist.sh from SHA256SUMS: do not edit, run it again."
    mac_arm="$(formula_entry aarch64-apple-darwin)"
    mac_intel="$(formula_entry x86_64-apple-darwin)"
    linux_arm="$(formula_entry aarch64-unknown-linux-musl)"
    linux_intel="$(formula_entry x86_64-unknown-linux-musl)"
    for t in aarch64-apple-darwin x86_64-apple-darwin aarch64-unknown-linux-musl x86_64-unknown-linux-musl; do
        grep -q " certsh-$version-$t.tar.gz\$" "$out/SHA256SUMS" ||
            echo "# Not built for this release, so not installable with it: $t."
    done
    cat <<EOF
class Certsh < Formula
  desc "Short-lived SSH certificates for Magento Cloud, Platform.sh and Upsun"
  homepage "https://github.com/certsh/certsh"
  version "$version"
  license any_of: ["MIT", "Apache-2.0"]

  on_macos do
    on_arm do
$mac_arm
    end
    on_intel do
$mac_intel
    end
  end

  on_linux do
    on_arm do
$linux_arm
    end
    on_intel do
$linux_intel
    end
  end

  def install
    bin.install "bin/certsh"
    # The shim, under the name ssh, for git (install.sh's layout).
    (libexec/"certsh").install "libexec/certsh/ssh"
    bash_completion.install "share/bash-completion/completions/certsh"
    zsh_completion.install "share/zsh/site-functions/_certsh"
    fish_completion.install "share/fish/vendor_completions.d/certsh.fish"
    man1.install "share/man/man1/certsh.1"
  end

  test do
    assert_match "certsh #{version} (", shell_output("#{bin}/certsh --version")
  end
end
EOF
} > "$work/certsh.rb"
mv -f "$work/certsh.rb" "$out/certsh.rb"

# The Windows package managers' manifests, for the zip listed in SHA256SUMS:
# Scoop's (certsh.json, for a bucket) and winget's three files (for
# winget-pkgs, under manifests/c/certsh/certsh/<version>/). Both unpack the
# whole zip and put only bin\certsh.exe on PATH: the shim stays in
# libexec\certsh beside it, where certsh looks for it, and never shadows ssh.
win="x86_64-pc-windows-gnu"
win_zip="certsh-$version-$win.zip"
win_sum="$(awk -v f="$win_zip" '$2 == f { print $1 }' "$out/SHA256SUMS")"
rm -rf "$out/certsh.json" "$out/winget"
if [ -n "$win_sum" ]; then
    win_url="https://github.com/certsh/certsh/releases/download/v$version/$win_zip"
    desc="Short-lived SSH certificates for Magento Cloud, Platform.sh and Upsun"
    cat > "$work/certsh.json" <<JSON
{
    "version": "$version",
    "description": "$desc",
    "homepage": "https://github.com/certsh/certsh",
    "license": "MIT|Apache-2.0",
    "architecture": {
        "64bit": {
            "url": "$win_url",
            "hash": "$win_sum",
            "extract_dir": "certsh-$version-$win"
        }
    },
    "bin": "bin\\\\certsh.exe"
}
JSON
    mv -f "$work/certsh.json" "$out/certsh.json"
    mkdir -p "$work/winget"
    upper="$(echo "$win_sum" | tr 'a-f' 'A-F')"
    cat > "$work/winget/certsh.certsh.yaml" <<YAML
# Generated by scripts/dist.sh from SHA256SUMS.
PackageIdentifier: certsh.certsh
PackageVersion: $version
DefaultLocale: en-US
ManifestType: version
ManifestVersion: 1.6.0
YAML
    cat > "$work/winget/certsh.certsh.installer.yaml" <<YAML
# Generated by scripts/dist.sh from SHA256SUMS.
PackageIdentifier: certsh.certsh
PackageVersion: $version
InstallerType: zip
NestedInstallerType: portable
NestedInstallerFiles:
  - RelativeFilePath: certsh-$version-$win\\bin\\certsh.exe
    PortableCommandAlias: certsh
Installers:
  - Architecture: x64
    InstallerUrl: $win_url
    InstallerSha256: $upper
ManifestType: installer
ManifestVersion: 1.6.0
YAML
    cat > "$work/winget/certsh.certsh.locale.en-US.yaml" <<YAML
# Generated by scripts/dist.sh from SHA256SUMS.
PackageIdentifier: certsh.certsh
PackageVersion: $version
PackageLocale: en-US
Publisher: The certsh authors
PackageName: certsh
License: MIT OR Apache-2.0
ShortDescription: $desc
PackageUrl: https://github.com/certsh/certsh
ManifestType: defaultLocale
ManifestVersion: 1.6.0
YAML
    mv -f "$work/winget" "$out/winget"
fi

# The Debian package, from the same static binary and files as the archive
# (so it installs on any Debian or Ubuntu release); what goes where is
# [package.metadata.deb] in Cargo.toml. cargo-deb finds the files under
# target/<target>/release/.
if [ "$deb" = yes ]; then
    for t in $targets; do
        stage="$work/certsh-$version-$t"
        assets="$target_dir/$t/release/deb-assets"
        rm -rf "$assets"
        mkdir -p "$assets"
        cp "$stage/libexec/certsh/ssh" "$assets/ssh"
        cp "$stage/share/bash-completion/completions/certsh" "$assets/certsh.bash"
        cp "$stage/share/zsh/site-functions/_certsh" "$stage/share/fish/vendor_completions.d/certsh.fish" \
            "$stage/share/man/man1/certsh.1" "$assets/"
        (cd "$root" && cargo deb --no-build --no-strip --target "$t" --output "$out" --quiet) >&2 ||
            die "cargo deb failed for $t"
        echo "dist.sh: wrote the Debian package for $t" >&2
    done
fi
echo "dist.sh: release files for certsh $version are in $out" >&2
