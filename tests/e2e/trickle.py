#!/usr/bin/env python3
"""Slow clients for the tests: PER connections from each of ADDRS (source
addresses on loopback) to PORT, each sending a request line and then one
header byte every half second. Prints "open" once all are connected, then,
when all are closed by the server or SECONDS have passed, how many the
server closed."""
import select
import socket
import sys
import time

port, addrs, per, seconds = int(sys.argv[1]), sys.argv[2].split(","), int(sys.argv[3]), float(sys.argv[4])
socks = []
for a in addrs:
    for _ in range(per):
        s = socket.socket()
        s.bind((a, 0))
        s.connect(("127.0.0.1", port))
        s.sendall(b"POST /v1/login HTTP/1.1\r\nHost: kcs\r\nX-Slow: ")
        socks.append(s)
print("open", flush=True)
closed = set()
end = time.time() + seconds
while time.time() < end and len(closed) < len(socks):
    for i, s in enumerate(socks):
        if i in closed:
            continue
        try:
            if select.select([s], [], [], 0)[0] and not s.recv(4096):
                raise ConnectionError
            s.send(b"x")
        except OSError:
            closed.add(i)
    time.sleep(0.5)
print(len(closed), flush=True)
for s in socks:
    s.close()
