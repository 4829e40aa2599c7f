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
# The binary stays position-independent (static-pie): a non-PIE build
# (-C relocation-model=static) measured about 0.1 ms faster still, but would
# give up address-space randomisation for a program that holds tokens.
CERTSH_RUSTC_FLAGS=""
if [ "$(uname -s)" = Linux ] && ldd --version 2>&1 | grep -qi 'glibc\|gnu libc'; then
    CERTSH_RUSTC_FLAGS="-C target-feature=+crt-static"
fi
