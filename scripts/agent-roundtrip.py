#!/usr/bin/env python3
"""What one ssh connection asks of an agent, timed without a process around it.

    scripts/agent-roundtrip.py SOCKET CERT_PUB ROUNDS

Each round connects to SOCKET, lists the identities (SSH_AGENTC_REQUEST_IDENTITIES),
has the key of the certificate in CERT_PUB sign a public-key login request as ssh builds
it (SSH_AGENTC_SIGN_REQUEST over an SSH_MSG_USERAUTH_REQUEST: certsh's agent signs nothing
else), and closes: what ssh does with an agent per connection. Prints one line per round,
the round's time in microseconds. scripts/bench-connect.sh runs it against
certsh agent and OpenSSH's ssh-agent, interleaved, and takes the medians.
"""

import base64
import socket
import struct
import sys
import time

REQUEST_IDENTITIES = 11
IDENTITIES_ANSWER = 12
SIGN_REQUEST = 13
SIGN_RESPONSE = 14


def message(kind, body=b""):
    return struct.pack(">IB", len(body) + 1, kind) + body


def string(data):
    return struct.pack(">I", len(data)) + data


def read_exactly(conn, n):
    out = b""
    while len(out) < n:
        chunk = conn.recv(n - len(out))
        if not chunk:
            raise SystemExit("agent-roundtrip: the agent closed the connection")
        out += chunk
    return out


def answer(conn):
    (length,) = struct.unpack(">I", read_exactly(conn, 4))
    body = read_exactly(conn, length)
    return body[0], body[1:]


def main():
    if len(sys.argv) != 4:
        raise SystemExit("usage: scripts/agent-roundtrip.py SOCKET CERT_PUB ROUNDS")
    path, cert_file, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with open(cert_file) as f:
        fields = f.read().split()
    algorithm, blob = fields[0].encode(), base64.b64decode(fields[1])
    login = (
        string(b"\x00" * 32)  # session identifier
        + bytes([50])  # SSH_MSG_USERAUTH_REQUEST
        + string(b"git")
        + string(b"ssh-connection")
        + string(b"publickey")
        + bytes([1])
        + string(algorithm)
        + string(blob)
    )
    sign = message(SIGN_REQUEST, string(blob) + string(login) + struct.pack(">I", 0))
    for _ in range(rounds):
        start = time.perf_counter_ns()
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.connect(path)
        conn.sendall(message(REQUEST_IDENTITIES))
        kind, body = answer(conn)
        if kind != IDENTITIES_ANSWER or blob not in body:
            raise SystemExit(f"agent-roundtrip: {path} does not list the certificate")
        conn.sendall(sign)
        kind, _ = answer(conn)
        if kind != SIGN_RESPONSE:
            raise SystemExit(f"agent-roundtrip: {path} refused to sign (answer {kind})")
        conn.close()
        print((time.perf_counter_ns() - start) // 1000)


main()
