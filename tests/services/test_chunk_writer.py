"""The import's write-behind thread: order, grouping into transactions, errors surfacing in
the caller, clean aborts. `Ledger` stands in for a database transaction (pure threading logic)."""

from __future__ import annotations

import threading
from contextlib import contextmanager

import pytest

from newsletter.services.chunk_writer import ChunkWriter


class Ledger:
    """Transactions as lists: committed on success, dropped on error."""

    def __init__(self):
        self.committed: list[list[object]] = []
        self.rolled_back: list[list[object]] = []

    @contextmanager
    def transaction(self):
        tx: list[object] = []
        try:
            yield tx
        except BaseException:
            self.rolled_back.append(tx)
            raise
        self.committed.append(tx)

    @property
    def written(self) -> list[object]:
        return [chunk for tx in self.committed for chunk in tx]


def test_chunks_are_written_in_order_on_another_thread():
    ledger, threads = Ledger(), set()

    def write(tx, chunk):
        threads.add(threading.get_ident())
        tx.append(chunk)

    writer = ChunkWriter(write, ledger.transaction, group=4)
    for n in range(50):
        writer.submit(n)
    writer.close()
    assert ledger.written == list(range(50))
    assert threads and threading.get_ident() not in threads
    assert all(1 <= len(tx) <= 4 for tx in ledger.committed)


def test_chunks_waiting_while_one_is_written_share_its_transaction_up_to_the_group_size():
    ledger, gate = Ledger(), threading.Event()

    def write(tx, chunk):
        gate.wait(5)  # a slow database: the reader gets ahead
        tx.append(chunk)

    writer = ChunkWriter(write, ledger.transaction, depth=8, group=3)
    for n in range(7):
        writer.submit(n)
    gate.set()
    writer.close()
    assert ledger.written == list(range(7))
    assert [len(tx) for tx in ledger.committed] == [3, 3, 1]


def test_a_fast_writer_commits_each_chunk_without_waiting_for_the_next():
    ledger, committed = Ledger(), threading.Event()

    @contextmanager
    def transaction():
        with ledger.transaction() as tx:
            yield tx
        committed.set()

    writer = ChunkWriter(lambda tx, chunk: tx.append(chunk), transaction, group=8)
    writer.submit("only")
    assert committed.wait(5)  # committed while the reader has nothing more yet
    writer.close()
    assert ledger.committed == [["only"]]


def test_a_failed_chunk_rolls_back_its_transaction_and_stops_the_writer():
    ledger = Ledger()

    def write(tx, chunk):
        if chunk == 3:
            raise ValueError("chunk 3 is bad")
        tx.append(chunk)

    writer = ChunkWriter(write, ledger.transaction, depth=8, group=2)
    with pytest.raises(ValueError, match="chunk 3 is bad"):
        for n in range(100):
            writer.submit(n)
        writer.close()
    writer.abort()
    assert ledger.written == [0, 1]  # nothing after the failure: resume-by-last-line stays exact
    assert ledger.rolled_back == [[2]]  # 3 failed in the same transaction as 2


def test_abort_finishes_the_chunk_in_progress_commits_it_and_drops_the_queued_ones():
    ledger, started, release = Ledger(), threading.Event(), threading.Event()

    def write(tx, chunk):
        started.set()
        release.wait(5)
        tx.append(chunk)

    writer = ChunkWriter(write, ledger.transaction, depth=2, group=4)
    writer.submit("first")
    assert started.wait(5)
    writer.submit("queued 1")
    writer.submit("queued 2")
    threading.Timer(0.2, release.set).start()
    writer.abort()  # as on Ctrl-C in the reading thread
    assert ledger.committed == [["first"]]


def test_close_without_chunks_and_abort_before_start_are_harmless():
    ledger = Ledger()
    ChunkWriter(lambda tx, chunk: None, ledger.transaction).close()
    ChunkWriter(lambda tx, chunk: None, ledger.transaction).abort()
    assert ledger.committed == []
