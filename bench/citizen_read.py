"""The lookup's parts measured alone (bench/RESULTS.md "Sixth pass on the lookup"): the SQLite
citizen row read as ``SqliteCitizens`` does it, on a file as seeded or on a copy converted to a
``WITHOUT ROWID`` table keyed by PIN; and the making of one audit record (its hash).

    .venv/bin/python -P bench/citizen_read.py convert ./bench-1m.db ./wr-1m.db
    .venv/bin/python -P bench/citizen_read.py read ./bench-1m.db 20000 [--cold]   # CPU per read
    .venv/bin/python -P bench/citizen_read.py read ./bench-1m.db 2000 --pins pins.txt
    .venv/bin/python -P bench/citizen_read.py record 12000

For instruction counts run ``read`` (with the same ``--pins`` file) or ``record`` under
``valgrind --tool=cachegrind --cache-sim=no`` for two counts and take the difference divided by
the difference of the counts (start-up cancels out). ``--cold``: 4 MiB walked between two reads,
as the rest of a request does to the CPU caches.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import time
from datetime import UTC, datetime

from app.services.population.reading import _SQLITE_BY_PIN, CACHE_KIB, MMAP_BYTES


def convert(source: str, target: str) -> None:
    """A copy of ``source`` whose citizen table is ``WITHOUT ROWID`` (same DDL, same indexes)."""
    shutil.copyfile(source, target)
    connection = sqlite3.connect(target, isolation_level=None)
    started = time.perf_counter()
    (ddl,) = connection.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'citizen'").fetchone()
    indexes = [sql for (sql,) in connection.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'citizen' "
        "AND sql IS NOT NULL")]
    connection.execute("PRAGMA foreign_keys = OFF")
    connection.execute("BEGIN")
    connection.execute(ddl.replace("CREATE TABLE citizen", "CREATE TABLE citizen_new", 1).rstrip()
                       + " WITHOUT ROWID")
    connection.execute("INSERT INTO citizen_new SELECT * FROM citizen ORDER BY pin")
    connection.execute("DROP TABLE citizen")
    connection.execute("ALTER TABLE citizen_new RENAME TO citizen")
    for sql in indexes:
        connection.execute(sql)
    connection.execute("COMMIT")
    print(f"converted in {time.perf_counter() - started:.1f} s")
    connection.execute("VACUUM")
    print(f"and vacuumed in {time.perf_counter() - started:.1f} s")


def read(path: str, count: int, *, pins_file: str | None, cold: bool) -> None:
    connection = sqlite3.connect(path)
    connection.execute(f"PRAGMA mmap_size = {MMAP_BYTES}")
    connection.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
    if pins_file:
        with open(pins_file) as lines:
            pins = lines.read().split()[:count]
    else:
        pins = [pin for (pin,) in connection.execute(
            "SELECT pin FROM citizen ORDER BY random() LIMIT ?", (count,))]
    junk = bytearray(4 << 20)
    spent = 0.0
    for pin in pins:
        if cold:
            junk[::64] = b"\1" * (len(junk) // 64)
        started = time.thread_time()
        cursor = connection.cursor()
        cursor.execute(_SQLITE_BY_PIN, (pin,)).fetchone()
        cursor.close()
        spent += time.thread_time() - started
    print(f"CPU per read: {spent / len(pins) * 1e6:.1f} us ({len(pins)} reads)")


def record(count: int) -> None:
    from app.services.sharing import audit

    entry = audit.AuditEntry("bench", "benchmark", "lookup", "001099012345",
                             ("pin", "sex", "birth_date", "full_name"), "disclosed", "a" * 32)
    now = datetime.now(UTC)
    started = time.thread_time()
    for seq in range(count):
        audit._new_row(entry, seq=seq, prev_hash="f" * 64, now=now)
    print(f"CPU per record: {(time.thread_time() - started) / count * 1e6:.2f} us")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    commands = parser.add_subparsers(dest="command", required=True)
    converting = commands.add_parser("convert")
    converting.add_argument("source")
    converting.add_argument("target")
    reading = commands.add_parser("read")
    reading.add_argument("database")
    reading.add_argument("count", type=int)
    reading.add_argument("--pins", help="PINs to read (the same file for two runs)")
    reading.add_argument("--cold", action="store_true")
    recording = commands.add_parser("record")
    recording.add_argument("count", type=int)
    options = parser.parse_args()
    if options.command == "convert":
        convert(options.source, options.target)
    elif options.command == "read":
        read(options.database, options.count, pins_file=options.pins, cold=options.cold)
    else:
        record(options.count)
