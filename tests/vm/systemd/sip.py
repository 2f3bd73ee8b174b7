#!/usr/bin/python3
"""SIP over UDP for the systemd tier's checks (check.sh); sipd listens on 127.0.0.1:5060.

  sip.py notify NUMBER yes|no   one unsolicited NOTIFY (RFC 3842 message-summary) from
                                127.0.0.1, the allowed source; prints the answer's status line,
                                exits 1 when none comes within 5 s
  sip.py flood SECONDS          from 127.0.0.2 (not allowed): junk datagrams and unsolicited
                                NOTIFYs, as fast as one process sends them; prints the counts
"""
import os
import random
import socket
import sys
import time

SIPD = ("127.0.0.1", 5060)


def notify(src, port, number, waiting, call_id):
    """A NOTIFY outside any dialog (RFC 3265 / RFC 6665 unsolicited use), as a voice-mail
    server sends it."""
    body = f"Messages-Waiting: {waiting}\r\nVoice-Message: 1/0\r\n"
    return (
        f"NOTIFY sip:{number}@{SIPD[0]}:{SIPD[1]} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {src}:{port};branch=z9hG4bK{call_id}\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:vm@{src}:{port}>;tag=vm{call_id}\r\n"
        f"To: <sip:{number}@{SIPD[0]}:{SIPD[1]}>\r\n"
        f"Call-ID: {call_id}@vmtest\r\n"
        "CSeq: 1 NOTIFY\r\n"
        "Event: message-summary\r\n"
        "Content-Type: application/simple-message-summary\r\n"
        f"Content-Length: {len(body)}\r\n\r\n{body}"
    ).encode()


def cmd_notify(number, waiting):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(1)
    call_id = os.urandom(6).hex()
    msg = notify("127.0.0.1", sock.getsockname()[1], number, waiting, call_id)
    # RFC 3261 §17.1.2.2: retransmit until a final answer (sipd may be restarting).
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        sock.sendto(msg, SIPD)
        try:
            line = sock.recv(65535).split(b"\r\n", 1)[0].decode()
        except socket.timeout:
            continue
        if not line.startswith("SIP/2.0 1"):
            print(line)
            return 0
    print("no final answer within 5 s", file=sys.stderr)
    return 1


def junk(n):
    """Datagrams a hostile peer sends: noise, a request line only, a lying Content-Length,
    an unknown SIP version."""
    kind = n % 4
    if kind == 0:
        return os.urandom(random.randint(1, 1400))
    if kind == 1:
        return b"NOTIFY sip:8000@127.0.0.1 SIP/2.0\r\n"
    if kind == 2:
        return b"OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nContent-Length: 18446744073709551615\r\n\r\n"
    return b"NOTIFY sip:8000@127.0.0.1 SIP/7.0\r\nVia: SIP/7.0/UDP 127.0.0.2\r\n\r\n"


def cmd_flood(seconds):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.2", 0))
    sock.setblocking(False)
    port = sock.getsockname()[1]
    sent = answered = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if sent % 2:
            msg = junk(sent // 2)
        else:
            msg = notify("127.0.0.2", port, "8001", "yes", f"f{sent}")
        try:
            sock.sendto(msg, SIPD)
            sent += 1
        except BlockingIOError:
            pass
        try:
            while True:
                sock.recv(65535)
                answered += 1
        except BlockingIOError:
            pass
    print(f"flood: {sent} datagrams in {seconds} s ({sent // seconds}/s), {answered} answers")
    return 0


def main(argv):
    if len(argv) == 4 and argv[1] == "notify" and argv[3] in ("yes", "no"):
        return cmd_notify(argv[2], argv[3])
    if len(argv) == 3 and argv[1] == "flood":
        return cmd_flood(int(argv[2]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
