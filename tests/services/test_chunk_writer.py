"""The import's write-behind thread: order, errors surfacing in the caller, clean aborts."""

from __future__ import annotations

import threading

import pytest

from newsletter.services.chunk_writer import ChunkWriter


def test_chunks_are_written_in_order_on_another_thread():
    written, threads = [], set()

    def write(chunk):
        threads.add(threading.get_ident())
        written.append(chunk)

    writer = ChunkWriter(write)
    for n in range(50):
        writer.submit(n)
    writer.close()
    assert written == list(range(50))
    assert threads and threading.get_ident() not in threads


def test_a_failed_chunk_stops_the_writer_and_the_error_reaches_the_caller():
    written = []

    def write(chunk):
        if chunk == 3:
            raise ValueError("chunk 3 is bad")
        written.append(chunk)

    writer = ChunkWriter(write)
    with pytest.raises(ValueError, match="chunk 3 is bad"):
        for n in range(100):
            writer.submit(n)
        writer.close()
    writer.abort()
    assert written == [0, 1, 2]  # nothing after the failure: resume-by-last-line stays exact


def test_abort_finishes_the_chunk_in_progress_and_drops_the_queued_ones():
    started, release, written = threading.Event(), threading.Event(), []

    def write(chunk):
        started.set()
        release.wait(5)
        written.append(chunk)

    writer = ChunkWriter(write, depth=2)
    writer.submit("first")
    assert started.wait(5)
    writer.submit("queued 1")
    writer.submit("queued 2")
    threading.Timer(0.2, release.set).start()
    writer.abort()  # as on Ctrl-C in the reading thread
    assert written == ["first"]


def test_close_without_chunks_and_abort_before_start_are_harmless():
    ChunkWriter(lambda chunk: None).close()
    ChunkWriter(lambda chunk: None).abort()
