"""WAL checkpoints of SQLite files written on an event loop, run in a background thread.

SQLite copies its write-ahead log back into the database file (a *checkpoint*) in whichever
connection commits when the log has grown past ``wal_autocheckpoint`` pages: two ``fdatasync``
calls and the copy, 5-12 ms on this project's test machine. Run by a commit on the event loop
(:func:`app.services.storage.units.write_at_once`: the audit trail's group commits, the login
writes), that stalled every request in flight, roughly once a second under load: the open-loop
p99 of the lookup (bench/RESULTS.md, "Fourth pass on the lookup").

So the event loop's writing connection (:meth:`app.db.Database.unwaiting_connection`) checkpoints
only past ``app.db.LOOP_CHECKPOINT_PAGES`` (a log this thread has not kept short: 20,000 pages, ~80
MB, instead of SQLite's default 1,000), and each inline commit there
marks its file; this thread, woken by the first mark, waits :data:`INTERVAL_SECONDS` (the marks of
that time gathered), then runs a ``PASSIVE`` checkpoint of each marked file on a connection of its
own, opened for it and closed after. ``PASSIVE`` takes no lock a writer or a reader waits for,
and the copy and its ``fdatasync`` calls release the GIL. Nothing is written here: the log is
rewound by the next commit as before (what SQLite does after any checkpoint). Durability is
unchanged: a commit is in the log, synchronised as ``PRAGMA synchronous`` says, before it returns.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from urllib.parse import quote

log = logging.getLogger("dancu.storage")

INTERVAL_SECONDS = 0.5  # at ~400 commits/s of a few pages each: ~1,000 pages a checkpoint


class Checkpoints:
    """The files marked since the last pass, and the thread that checkpoints them."""

    def __init__(self) -> None:
        self._marked: set[str] = set()
        self._wake = threading.Event()
        self._start = threading.Lock()
        self._thread: threading.Thread | None = None

    def wrote(self, path: str) -> None:
        """``path`` (a SQLite file) has a new commit in its log. Cheap when already marked:
        every inline commit calls it."""
        if path in self._marked:
            return
        self._marked.add(path)
        thread = self._thread
        if thread is None or not thread.is_alive():  # first use, or a forked worker process
            self._started()
        self._wake.set()

    def _started(self) -> None:
        with self._start:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, daemon=True,
                                                name="dancu-wal-checkpoints")
                self._thread.start()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            time.sleep(INTERVAL_SECONDS)
            self._wake.clear()
            # Swapped before the checkpoints start: a commit marked in the old set after the
            # swap was made before the swap, so the checkpoint below covers it.
            marked, self._marked = self._marked, set()
            # A snapshot (a mark added to the old set just after the swap would otherwise make
            # the iteration raise), and no error ends the thread: the files marked meanwhile
            # stay marked, and wrote() starts a thread only for a file not marked yet -- a dead
            # thread would leave them to the loop's own backstop checkpoint for good.
            for path in tuple(marked):
                try:
                    checkpoint(path)
                except Exception:
                    log.exception("WAL checkpoint of a database failed")


def checkpoint(path: str) -> tuple[int, int, int] | None:
    """A ``PASSIVE`` checkpoint of the SQLite file ``path``: SQLite's (busy, log frames, frames
    copied), or ``None`` when the file cannot be opened (deleted since: a tenant dropped) or the
    checkpoint fails. Never creates the file."""
    try:
        connection = sqlite3.connect(f"file:{quote(path)}?mode=rw", uri=True, timeout=0,
                                     isolation_level=None, check_same_thread=False)
    except sqlite3.Error:
        return None
    try:
        found = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return None if found is None else (found[0], found[1], found[2])
    except sqlite3.Error as error:
        log.debug("WAL checkpoint of a database skipped: %s", error)
        return None
    finally:
        connection.close()


CHECKPOINTS = Checkpoints()  # one thread per process, for every file written on its loops
