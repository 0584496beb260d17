"""Joining a writer to a reader through an OS pipe, so an archive is packed and encrypted without a second copy."""

from __future__ import annotations

import os
import threading
from typing import BinaryIO, Callable, TypeVar

T = TypeVar("T")
_DRAIN = 1 << 16


def piped(producer: Callable[[BinaryIO], None], consumer: Callable[[BinaryIO], T]) -> T:
    """Run `producer` (writing) in a thread and `consumer` (reading) here, joined by a pipe.

    The consumer's leftovers are drained, so the producer always runs to its end: a decryption only proves the file
    whole once it has read the last chunk. The producer's error wins, because when it fails the consumer only sees the
    stream end early; a producer that stopped on a broken pipe failed because the consumer did.
    """
    read_fd, write_fd = os.pipe()
    reader, writer = os.fdopen(read_fd, "rb"), os.fdopen(write_fd, "wb")
    produced: list[BaseException] = []

    def produce() -> None:
        try:
            with writer:
                producer(writer)
        except BaseException as exc:  # handed to the calling thread below
            produced.append(exc)

    thread = threading.Thread(target=produce, name="backup-stream", daemon=True)
    thread.start()
    consumed: BaseException | None = None
    try:
        with reader:
            result = consumer(reader)
            while reader.read(_DRAIN):
                pass
    except BaseException as exc:
        consumed = exc
    thread.join()
    if produced and not isinstance(produced[0], BrokenPipeError):
        raise produced[0]
    if consumed is not None:
        raise consumed
    if produced:
        raise produced[0]
    return result
