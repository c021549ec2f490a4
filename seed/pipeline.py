"""Batches of the population, generated in a worker process while the caller writes.

The worker encodes each batch for the target database (packed columns for SQLite, COPY text for
PostgreSQL) and sends it through a pipe; a thread of the caller takes each message off the pipe as
soon as it is complete and holds at most ``AHEAD`` of them, so the worker runs a few batches ahead
(neither process waits for the other when a batch is slower to make or to write than the next) and
memory stays flat whatever the size. With the cards and accounts, a batch travels in two messages,
its people first: the writer loads them while the worker makes their cards and accounts. If the
caller dies, the worker's next send fails and it exits; if the worker dies, the caller's next
receive fails and the load is rolled back.
"""

from __future__ import annotations

import multiprocessing
import pickle
import queue
import threading
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from functools import partial
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any, Protocol

from seed.batch import Context
from seed.columns import pack
from seed.rows import TABLES, generate_batch

if TYPE_CHECKING:
    from seed import extras as extra_rows

BATCH_SIZE = 100_000
IN_PROCESS_UP_TO = 2 * BATCH_SIZE
AHEAD = 1  # messages received and not yet taken by the writer (~60 MB each at 100,000 people)


class GeneratorFailed(RuntimeError):
    """The generator process failed; the message is its traceback's last line."""


@dataclass
class Encoded:
    """Tables of one batch: all of them, or (with the cards and accounts) its people's tables
    (``people`` 0) and then their cards' and accounts' (``people``: the batch's size)."""

    index: int
    people: int
    tables: dict[str, Any]  # table -> payload for the writer (Packed, or columns and tuples)
    rows: dict[str, int]


def batch_sizes(size: int, batch_size: int = BATCH_SIZE) -> list[int]:
    full, rest = divmod(size, batch_size)
    return [batch_size] * full + ([rest] if rest else [])


def encoded_batches(*, seed: int, size: int, reference_date: date, dialect: str,
                    batch_size: int = BATCH_SIZE,
                    extras: extra_rows.Spec | None = None) -> Iterator[Encoded]:
    """All batches, in order, encoded for ``dialect`` ("sqlite" or "postgresql"); with
    ``extras``, each also carries its people's chip cards and VNeID accounts (as row tuples)."""
    ctx = Context(seed=seed, reference_date=reference_date)
    encode = partial(pack, for_copy=dialect != "sqlite")
    maker = None
    if extras is not None:
        from seed.extras import Maker  # the account rules: only when asked for

        maker = Maker(extras, dialect=dialect)
    for index, people in enumerate(batch_sizes(size, batch_size)):
        batch = generate_batch(ctx, index, people)
        encoded = Encoded(index=index, people=people if maker is None else 0,
                          tables={name: encode(batch.tables[name]) for name in TABLES},
                          rows={name: len(batch.tables[name]) for name in TABLES})
        citizens, relations = batch.tables["citizen"], batch.tables["family_relation"]
        del batch  # before the next batch is built: one batch in memory at a time
        yield encoded
        if maker is not None:
            del encoded
            extra = Encoded(index=index, people=people, tables={}, rows={})
            for name, payload in maker.rows(citizens, relations).items():
                extra.tables[name], extra.rows[name] = payload, len(payload[1])
            yield extra


class Source(Protocol):
    """The batches, and ``close()`` to stop making them (the caller no longer wants them)."""

    def __iter__(self) -> Iterator[Encoded]: ...

    def close(self) -> None: ...


def batches(*, seed: int, size: int, reference_date: date, dialect: str,
            extras: extra_rows.Spec | None = None) -> Source:
    """Like :func:`encoded_batches`, from a worker process when there is more than a little: it
    starts at once (the caller prepares its database meanwhile); ``close()`` stops it."""
    if size <= IN_PROCESS_UP_TO:
        return encoded_batches(seed=seed, size=size, reference_date=reference_date,
                               dialect=dialect, extras=extras)
    return _Worker(seed, size, reference_date, dialect, extras)


class _Worker:
    """The generator process, and the caller's thread that receives its messages."""

    def __init__(self, *args: Any) -> None:
        context = multiprocessing.get_context("spawn")
        self._pipe, send = context.Pipe(duplex=False)
        self._process = context.Process(target=_produce, args=(send, *args), daemon=True,
                                        name="dancu-seed-generator")
        self._process.start()
        send.close()
        self._received: queue.Queue[bytes | None] = queue.Queue(maxsize=AHEAD)
        self._closing = threading.Event()
        self._receiver = threading.Thread(target=self._receive, daemon=True,
                                          name="dancu-seed-receiver")
        self._receiver.start()

    def __iter__(self) -> Iterator[Encoded]:
        while True:
            raw = self._received.get()
            if raw is None:
                raise GeneratorFailed("the generator process stopped unexpectedly")
            message = pickle.loads(raw)
            del raw
            if message is None:
                return
            if isinstance(message, str):
                raise GeneratorFailed(message)
            yield message

    def close(self) -> None:
        self._closing.set()
        if self._process.is_alive():
            self._process.terminate()  # the receiver's read then ends
        self._process.join()
        self._receiver.join()
        self._pipe.close()

    def _receive(self) -> None:
        """Messages as bytes (the read releases the GIL), None once the pipe is closed -- or the
        read failed in any other way (a message too large to hold): the writer waiting for the
        next message must be told, or the load would hang."""
        try:
            while self._hand_over(self._pipe.recv_bytes()):
                pass
        except (EOFError, OSError):
            pass  # the worker ended or was stopped
        finally:
            self._hand_over(None)

    def _hand_over(self, message: bytes | None) -> bool:
        while not self._closing.is_set():
            try:
                self._received.put(message, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False


def _produce(send: Connection, seed: int, size: int, reference_date: date, dialect: str,
             extras: extra_rows.Spec | None = None) -> None:
    try:
        for encoded in encoded_batches(seed=seed, size=size, reference_date=reference_date,
                                       dialect=dialect, extras=extras):
            send.send_bytes(pickle.dumps(encoded, protocol=pickle.HIGHEST_PROTOCOL))
            del encoded
        send.send_bytes(pickle.dumps(None))
    except (BrokenPipeError, ConnectionResetError):
        return  # the caller is gone: its transaction is rolled back, nothing to do
    except Exception:
        last = traceback.format_exc().strip().splitlines()[-1]
        try:
            send.send_bytes(pickle.dumps(last))
        except OSError:
            return
    finally:
        send.close()
