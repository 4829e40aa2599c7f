#!/usr/bin/env bash
# One full connection (`ssh HOST true`) to the loopback test sshd, four ways,
# measured in one interleaved run:
#
#   plain   /usr/bin/ssh with the key and certificate given on its command
#           line: no certsh at all (the floor);
#   shim    certsh's ssh shim, which checks the certificate and execs ssh;
#   hook    /usr/bin/ssh with the `setup ssh-config` block (Match exec: a
#           shell and certsh's hook per connection);
#   agent   /usr/bin/ssh with the `setup ssh-config --agent` block
#           (IdentityAgent), `certsh agent` running and signing.
#
# Then the agent's part alone: one connection's requests (list, sign a
# login) through certsh agent against the same through OpenSSH's ssh-agent,
# with no process start at all (scripts/agent-roundtrip.py).
#
#   scripts/bench-connect.sh [--runs N]     (default 300 rounds)
#
# Every round runs each way once, in an order that rotates from round to
# round, so that a noisy neighbour or a drifting clock slows all four alike;
# medians are quoted, with each way's difference to the floor. The test bed
# (examples/testbed.rs: the test certifier and a real sshd on 127.0.0.1) and
# certsh are built first, release, as scripts/bench.sh builds them; one
# certificate is obtained before the timing and no renewal happens during it
# (the script checks the certifier's counter). Bash for $EPOCHREALTIME: no
# process is started to read the clock.
set -euo pipefail

runs=300
while [ $# -gt 0 ]; do
    case "$1" in
        --runs) runs="$2"; shift 2 ;;
        --runs=*) runs="${1#--runs=}"; shift ;;
        -h|--help) echo "usage: scripts/bench-connect.sh [--runs N]"; exit 0 ;;
        *) echo "usage: scripts/bench-connect.sh [--runs N]" >&2; exit 2 ;;
    esac
done

here="$(cd "$(dirname "$0")/.." && pwd)"
cd "$here"
work="$(mktemp -d "${TMPDIR:-/tmp}/certsh-bench-connect.XXXXXX")"
testbed_pid=""
agent_pid=""
cleanup() {
    [ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null || true
    [ -n "$testbed_pid" ] && kill "$testbed_pid" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

echo "== building certsh (release) and the test bed (not timed)"
# shellcheck source=scripts/build-flags.sh
. scripts/build-flags.sh
build_certsh
cargo build --quiet --release --locked --example testbed
target="${CARGO_TARGET_DIR:-target}"
case "$target" in /*) ;; *) target="$here/$target" ;; esac

"$target/release/examples/testbed" "$work/bed" --until-killed >"$work/testbed.out" 2>&1 &
testbed_pid=$!
i=0
until [ -f "$work/bed/env.sh" ]; do
    i=$((i + 1))
    if [ $i -gt 300 ] || ! kill -0 "$testbed_pid" 2>/dev/null; then
        echo "bench-connect: the test bed did not start:" >&2
        cat "$work/testbed.out" >&2
        exit 1
    fi
    sleep 0.1
done
# shellcheck source=/dev/null # written by the test bed
. "$work/bed/env.sh"

# certsh and its shim in install.sh's layout.
prefix="$work/prefix"
mkdir -p "$prefix/bin" "$prefix/libexec/certsh" "$work/home" "$work/run"
chmod 700 "$work/run"
cp "$target/release/certsh" "$prefix/bin/certsh"
cp "$target/release/certsh-ssh" "$prefix/libexec/certsh/ssh"
certsh="$prefix/bin/certsh"
shim="$prefix/libexec/certsh/ssh"

# A clean environment for every command: the user has an API token and a
# runtime folder (where the agent's socket goes), and no agent of her own.
export HOME="$work/home" XDG_RUNTIME_DIR="$work/run" LANG=C
export MAGENTO_CLOUD_CLI_TOKEN="$CERTSH_TEST_API_TOKEN"
export MAGENTO_CLOUD_CLI_API_AUTH_URL="$CERTSH_TEST_CERTIFIER_URL"
export MAGENTO_CLOUD_CLI_API_CERTIFIER_URL="$CERTSH_TEST_CERTIFIER_URL"
unset SSH_AUTH_SOCK CERTSH_REAL_SSH CERTSH_PROFILE GIT_SSH_COMMAND

# The test bed's client config (host names to the loopback sshd, its host
# key) without its `IdentityAgent none`, which would win over the block's.
base="$work/base_config"
grep -v '^ *IdentityAgent none$' "$CERTSH_TEST_SSH_CONFIG" > "$base"
cp "$base" "$work/hook_config"
cp "$base" "$work/agent_config"
"$certsh" setup ssh-config --file "$work/hook_config" >/dev/null
"$certsh" setup ssh-config --agent --file "$work/agent_config" >/dev/null
"$certsh" load >/dev/null
state="$HOME/.magento-cloud/certsh"
key="$(readlink -f "$state/current")/id_ed25519"

socket="$("$certsh" env --agent | sed -n "s/^export SSH_AUTH_SOCK=//p" | tr -d "'")"
"$certsh" agent 2>"$work/agent.log" &
agent_pid=$!
i=0
until [ -S "$socket" ]; do
    i=$((i + 1))
    if [ $i -gt 300 ] || ! kill -0 "$agent_pid" 2>/dev/null; then
        echo "bench-connect: certsh agent did not start:" >&2
        cat "$work/agent.log" >&2
        exit 1
    fi
    sleep 0.1
done

host="$CERTSH_TEST_HOST"
way_plain() { /usr/bin/ssh -F "$base" -i "$key" -o CertificateFile="$key-cert.pub" "$host" true; }
way_shim() { "$shim" -F "$base" "$host" true; }
way_hook() { /usr/bin/ssh -F "$work/hook_config" "$host" true; }
way_agent() { /usr/bin/ssh -F "$work/agent_config" "$host" true; }
ways=(plain shim hook agent)

# Each way must connect, and the agent way must really sign in the agent.
for w in "${ways[@]}"; do
    "way_$w" </dev/null || { echo "bench-connect: the $w way does not connect" >&2; exit 1; }
done
/usr/bin/ssh -v -F "$work/agent_config" "$host" true </dev/null 2>"$work/agent_way.log"
grep -q "Server accepts key: .*agent" "$work/agent_way.log" ||
    { echo "bench-connect: the agent way did not authenticate through the agent:" >&2; cat "$work/agent_way.log" >&2; exit 1; }
sleep 0.1
# shellcheck source=/dev/null # written by the test bed
. "$work/bed/counters.env"
signed_before="$CERTSH_TEST_SIGN_REQUESTS"

echo "== $runs rounds of ${#ways[@]} connections, interleaved"
for w in "${ways[@]}"; do : > "$work/times_$w"; done
: > "$work/rounds"
load_before="$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo ?)"
r=0
while [ "$r" -lt "$runs" ]; do
    for k in 0 1 2 3; do
        w="${ways[$(( (r + k) % 4 ))]}"
        t0=$EPOCHREALTIME
        "way_$w" </dev/null
        t1=$EPOCHREALTIME
        us=$(( ${t1/./} - ${t0/./} ))
        echo "$us" >> "$work/times_$w"
        echo "$r $w $us" >> "$work/rounds"
    done
    r=$((r + 1))
done
load_after="$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo ?)"
sleep 0.1
# shellcheck source=/dev/null # written by the test bed
. "$work/bed/counters.env"
[ "$CERTSH_TEST_SIGN_REQUESTS" = "$signed_before" ] ||
    { echo "bench-connect: certificates were signed during the timing; the numbers include renewals" >&2; exit 1; }

# The agent's part alone: one connection's requests (list, sign a login)
# over the socket, through certsh agent and through OpenSSH's ssh-agent
# holding the same key and certificate. (`ssh-add -T` is not used: it has
# the key sign data that is not a login, which certsh's agent refuses.)
eval "$(ssh-agent -s -a "$work/openssh-agent.sock")" >/dev/null
openssh_agent_pid="$SSH_AGENT_PID"
SSH_AUTH_SOCK="$work/openssh-agent.sock" ssh-add -q "$key" 2>/dev/null
unset SSH_AUTH_SOCK SSH_AGENT_PID
# Without any process start: one connection's requests (list, sign)
# over the socket, timed in one Python process, blocks of 100 rounds
# alternating between the two agents.
: > "$work/rt_certsh"
: > "$work/rt_openssh"
r=0
while [ "$r" -lt "$runs" ]; do
    for a in certsh openssh; do
        case "$a" in certsh) sock="$socket" ;; *) sock="$work/openssh-agent.sock" ;; esac
        python3 "$here/scripts/agent-roundtrip.py" "$sock" "$key-cert.pub" 100 >> "$work/rt_$a"
    done
    r=$((r + 100))
done
kill "$openssh_agent_pid"

median() { sort -n "$1" | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
p90() { sort -n "$1" | awk '{ a[NR] = $1 } END { i = int(NR * 0.9); if (i < 1) i = 1; print a[i] }'; }
floor="$(median "$work/times_plain")"
echo
echo "$(uname -sm), $(nproc 2>/dev/null || echo ?) cores, load $load_before -> $load_after, $(/usr/bin/ssh -V 2>&1)"
# The same round's plain connection is each way's floor: the median of
# those differences holds when the machine's speed drifts between rounds.
paired() {
    awk -v w="$1" '$2 == "plain" { f[$1] = $3 } $2 == w { t[$1] = $3 }
        END { for (r in t) print t[r] - f[r] }' "$work/rounds" > "$work/diff_$1"
    median "$work/diff_$1"
}
# A 95% confidence interval for that median, from order statistics (no
# assumption about the distribution): the sorted differences at
# n/2 -+ 0.98 sqrt(n).
interval() {
    sort -n "$work/diff_$1" | awk '{ a[NR] = $1 } END {
        h = 0.98 * sqrt(NR); lo = int(NR / 2 - h); hi = int(NR / 2 + h) + 1
        if (lo < 1) lo = 1; if (hi > NR) hi = NR
        printf "%+.2f to %+.2f ms", a[lo] / 1000, a[hi] / 1000 }'
}
printf '%-6s %11s %11s %13s %8s   %s\n' way median p90 "- plain" ratio "95% interval of '- plain'"
for w in "${ways[@]}"; do
    m="$(median "$work/times_$w")"
    d="$(paired "$w")"
    awk -v w="$w" -v m="$m" -v p="$(p90 "$work/times_$w")" -v d="$d" -v f="$floor" -v i="$(interval "$w")" 'BEGIN {
        printf "%-6s %8.2f ms %8.2f ms %+10.2f ms %7.3fx   %s\n", w, m / 1000, p / 1000, d / 1000, m / f, i }'
done
for a in certsh openssh; do
    awk -v a="$a" -v m="$(median "$work/rt_$a")" -v p="$(p90 "$work/rt_$a")" -v n="$(wc -l < "$work/rt_$a")" 'BEGIN {
        printf "one connection'"'"'s requests (list, sign) through %s agent, no process start: %.3f ms median, %.3f ms p90 of %d\n", a, m / 1000, p / 1000, n }'
done
echo "(median of $runs connections each; '- plain': median of each round's difference to its"
echo " plain connection; ratio: of the medians. One certificate for all, none signed during the timing.)"
