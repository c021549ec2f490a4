"""Batches of the population, generated in a worker process while the caller writes.

The worker encodes each batch for the target database (packed columns for SQLite, COPY text for
PostgreSQL) and sends it through a pipe; the pipe's small buffer means it runs at most one batch
ahead, so memory stays flat whatever the size. If the caller dies, the worker's next send fails and
it exits; if the worker dies, the caller's next receive fails and the load is rolled back.
"""

from __future__ import annotations

import multiprocessing
import pickle
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from functools import partial
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

from seed.batch import Context
from seed.columns import pack
from seed.rows import TABLES, generate_batch

if TYPE_CHECKING:
    from seed import extras as extra_rows

BATCH_SIZE = 100_000
IN_PROCESS_UP_TO = 2 * BATCH_SIZE


class GeneratorFailed(RuntimeError):
    """The generator process failed; the message is its traceback's last line."""


@dataclass
class Encoded:
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
        encoded = Encoded(index=index, people=people,
                          tables={name: encode(batch.tables[name]) for name in TABLES},
                          rows={name: len(batch.tables[name]) for name in TABLES})
        if maker is not None:
            for name, payload in maker.rows(batch.tables["citizen"],
                                            batch.tables["family_relation"]).items():
                encoded.tables[name], encoded.rows[name] = payload, len(payload[1])
        del batch  # before the next batch is built: one batch in memory at a time
        yield encoded


def batches(*, seed: int, size: int, reference_date: date, dialect: str,
            extras: extra_rows.Spec | None = None) -> Iterator[Encoded]:
    """Like :func:`encoded_batches`, from a worker process when there is more than a little."""
    if size <= IN_PROCESS_UP_TO:
        yield from encoded_batches(seed=seed, size=size, reference_date=reference_date,
                                   dialect=dialect, extras=extras)
        return
    receive, send = multiprocessing.get_context("spawn").Pipe(duplex=False)
    worker = multiprocessing.get_context("spawn").Process(
        target=_produce, args=(send, seed, size, reference_date, dialect, extras), daemon=True,
        name="dancu-seed-generator")
    worker.start()
    send.close()
    try:
        yield from _receive(receive)
    finally:
        receive.close()
        if worker.is_alive():
            worker.terminate()
        worker.join()


def _receive(receive: Connection) -> Iterator[Encoded]:
    while True:
        try:
            message = pickle.loads(receive.recv_bytes())
        except EOFError:
            raise GeneratorFailed("the generator process stopped unexpectedly") from None
        if message is None:
            return
        if isinstance(message, str):
            raise GeneratorFailed(message)
        yield message


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
