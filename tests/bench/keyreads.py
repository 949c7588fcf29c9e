#!/usr/bin/env python3
"""Fills a SQLite store's KeyPool for make bench.

usage: keyreads.py DB FROM TO LUA
Adds the key reads FROM..TO-1 of a fixed series to dealer 1 (client 1):
read j is of VIN j mod 10^6, read 12 hours earlier for each round of
10^6, the newest a minute ago. LUA gets a wrk script asking for the
latest read of 1000 of the VINs that every size holds.
"""
import random
import sqlite3
import sys
import time

NVIN = 10 ** 6
LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"
VALUES = [1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 7, 9, 2, 3, 4, 5, 6, 7, 8, 9]
WEIGHT = [8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2]


def value(c):
    return int(c) if c.isdigit() else VALUES[LETTERS.index(c)]


def vin(n):
    body = "WBA3A5C5" + "0" + "CF%06d" % n
    s = sum(value(c) * WEIGHT[i] for i, c in enumerate(body)) % 11
    return body[:8] + ("X" if s == 10 else str(s)) + body[9:]


def main():
    db, lo, hi, lua = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    now = int(time.time())
    con = sqlite3.connect(db, timeout=60)
    vins = {}

    def rows():
        for j in range(lo, hi):
            k, v = divmod(j, NVIN)
            if v not in vins:
                vins[v] = vin(v)
            t = now - 60 - k * 43200
            yield (j + 1, vins[v], t, t, 10000 + j % 90000, 10000 + j % 90000, 50)

    con.executemany("INSERT INTO key_reads (id, dealer_id, client_id, source, vin, read_at, received_at, mileage,"
                    " mileage_unit, mileage_km, fuel_percent) VALUES (?, 1, 1, 'key_reader', ?, ?, ?, ?, 'km', ?, ?)",
                    rows())
    con.commit()
    # the reads into the database file, so that kcsd's readers do not search a long WAL
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    sample = [vin(random.randrange(1000)) for _ in range(1000)]
    with open(lua, "w") as f:
        f.write("local vins = {%s}\n" % ", ".join('"%s"' % v for v in sample))
        f.write("local i = 0\nrequest = function()\n  i = i + 1\n"
                "  return wrk.format(\"GET\", \"/v1/keypool/latest?vin=\" .. vins[i % #vins + 1])\nend\n")


main()
