"""Request-path identifiers: version 4 UUIDs and hex tokens from a buffered CSPRNG."""

from __future__ import annotations

import os
import uuid

from gateway import ids


def test_uuids_are_version_4_and_distinct() -> None:
    made = [ids.random_uuid() for _ in range(10_000)]
    assert len(set(made)) == len(made)
    assert {u.version for u in made} == {4}
    assert {u.variant for u in made} == {uuid.RFC_4122}


def test_hex_tokens_have_the_asked_length_and_differ() -> None:
    tokens = [ids.random_hex(8) for _ in range(2_000)]
    assert all(len(t) == 16 and int(t, 16) >= 0 for t in tokens)
    assert len(set(tokens)) == len(tokens)
    assert len(ids.random_hex(5000)) == 10_000  # more than one refill at once


def test_a_forked_child_does_not_reuse_the_parents_buffered_bytes() -> None:
    ids.random_hex(1)  # the parent now holds a buffer with unused bytes
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next id, sent to the parent
        os.close(read)
        os.write(write, ids.random_hex(16).encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 64).decode()
    os.close(read)
    os.waitpid(pid, 0)
    assert len(child) == 32
    assert child != ids.random_hex(16)  # without the reset both would take the same bytes
