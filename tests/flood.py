#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A connection flood for the integration tests.

    flood.py HOST:PORT COUNT SOURCES RELEASE_FILE [--send HEX] [--max-secs S]

Opens COUNT TCP connections to HOST:PORT, spread evenly over SOURCES local
addresses 127.0.0.1, 127.0.0.2, ... (every 127/8 address is the loopback),
sends the bytes HEX on each (nothing by default), prints "holding N" once
all are open, holds them until RELEASE_FILE exists, closes them all and
prints "closed N".  Gives up after --max-secs (default 60) in total.  A
connection the server closes or refuses counts as opened: the point is to
make the server deal with it.
"""
import argparse
import os
import socket
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("addr")
    ap.add_argument("count", type=int)
    ap.add_argument("sources", type=int)
    ap.add_argument("release")
    ap.add_argument("--send", default="")
    ap.add_argument("--max-secs", type=float, default=60)
    a = ap.parse_args()
    host, port = a.addr.rsplit(":", 1)
    data = bytes.fromhex(a.send)
    deadline = time.monotonic() + a.max_secs
    socks, refused = [], 0
    for i in range(a.count):
        if time.monotonic() > deadline:
            sys.exit("flood: gave up opening after %.0f s" % a.max_secs)
        s = socket.socket()
        s.bind(("127.0.0.%d" % (1 + i % a.sources), 0))
        s.settimeout(5)
        try:
            s.connect((host, int(port)))
            if data:
                s.sendall(data)
        except OSError:
            refused += 1
        socks.append(s)
    print("holding %d (%d refused or reset)" % (len(socks), refused),
          flush=True)
    while not os.path.exists(a.release):
        if time.monotonic() > deadline:
            sys.exit("flood: no release after %.0f s" % a.max_secs)
        time.sleep(0.05)
    for s in socks:
        s.close()
    print("closed %d" % len(socks), flush=True)


main()
