#!/usr/bin/env python3
"""Writes a GKI key-read file (kcs-gki(5)) for the tests.

usage: gki.py OUT < SPEC.json
SPEC: {"dpn": "12345", "outlet": "67", "version": 1, "records": [
        {"vin": "...", "key": 1, "read_at": 1700000000, "mileage": 12000,
         "unit": 0, "energy_kind": 1, "energy": 80, "device": "KW-1",
         "service": [{"name": "Oil", "due_day": 20000, "remaining": 15000}]}]}
A record's "bad_crc": true writes a wrong CRC-32C for it; "count" in the
SPEC puts another number of records in the header.
"""
import json
import struct
import sys

NONE = -(2 ** 31)


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def pad(s, n):
    b = s.encode("ascii")
    assert len(b) <= n
    return b + b"\0" * (n - len(b))


def record(r):
    body = pad(r["vin"], 17)
    body += struct.pack(">BIIBBBB", r.get("key", 0), r["read_at"], r["mileage"], r.get("unit", 0),
                        r.get("energy_kind", 0), r.get("energy", 0), len(r.get("service", [])))
    body += pad(r.get("device", ""), 16)
    for i in range(2):
        if i < len(r.get("service", [])):
            s = r["service"][i]
            body += pad(s["name"], 16) + struct.pack(">Ii", s.get("due_day", 0), s.get("remaining", NONE))
        else:
            body += b"\0" * 24
    body += b"\0\0"
    assert len(body) == 96
    crc = crc32c(body) ^ (1 if r.get("bad_crc") else 0)
    return body + struct.pack(">I", crc)


def main():
    spec = json.load(sys.stdin)
    recs = spec["records"]
    head = b"GKIR" + struct.pack(">HHHHI", spec.get("version", 1), 48, 100, 0, spec.get("count", len(recs)))
    head += pad(spec["dpn"], 13) + pad(spec["outlet"], 13) + b"\0\0"
    head += struct.pack(">I", crc32c(head))
    with open(sys.argv[1], "wb") as f:
        f.write(head + b"".join(record(r) for r in recs))


main()
