#!/bin/sh
# Type-checks and lints certsh for the Apple targets on a Linux machine:
#   scripts/check-macos.sh [TARGET...]   (default: aarch64-apple-darwin x86_64-apple-darwin)
#
# `cargo check` (and `cargo clippy`, run here) compiles every crate but
# links nothing, so no macOS SDK is needed, except for the C and assembly that
# ring compiles in its build script. ring can build without a C library's
# headers (RING_CORE_NOSTDLIBINC, meant for cross builds; clang's own stddef.h
# and stdint.h suffice), and needs from Apple only <TargetConditionals.h>,
# which says which Apple OS the code is for: a three-line stand-in is written
# here. On x86_64, clang's <immintrin.h> includes <stdlib.h> for malloc and
# free: two declarations stand in for it. clang compiles for Mach-O, llvm-ar
# archives the objects. This type-checks and lints everything a Mac build
# compiles (the #[cfg(target_os = "macos")] code included); it proves nothing
# about running on a Mac.
set -eu
cd "$(dirname "$0")/.."

[ $# -gt 0 ] || set -- aarch64-apple-darwin x86_64-apple-darwin
for tool in clang llvm-ar; do
    command -v "$tool" >/dev/null 2>&1 || {
        echo "check-macos.sh: $tool not found (apt-get install clang llvm)" >&2
        exit 1
    }
done

headers="$(mktemp -d)"
trap 'rm -rf "$headers"' EXIT INT TERM
cat > "$headers/TargetConditionals.h" <<'H'
/* Stand-in for the macOS SDK's header, for scripts/check-macos.sh only. */
#define TARGET_OS_MAC 1
#define TARGET_OS_OSX 1
#define TARGET_OS_IPHONE 0
H
cat > "$headers/stdlib.h" <<'H'
/* Stand-in for <stdlib.h>, for scripts/check-macos.sh only: what clang's
   <mm_malloc.h> uses. */
#include <stddef.h>
void *malloc(size_t size);
void free(void *ptr);
H

for target in "$@"; do
    rustup target list --installed | grep -qx "$target" || rustup target add "$target"
    var="$(echo "$target" | tr '-' '_')"
    echo "cargo clippy --target $target"
    env "CC_$var=clang" "AR_$var=llvm-ar" \
        "CFLAGS_$var=-nostdlibinc -DRING_CORE_NOSTDLIBINC=1 -isystem $headers" \
        cargo clippy --locked --quiet --target "$target" --all-targets -- -D warnings
done
