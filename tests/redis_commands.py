"""Counting the commands a redis-py client sends: how the tests see round trips."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def redis_commands(client: Any) -> Iterator[list[str]]:
    """The names of the commands sent through `client` inside the block, in order."""
    sent: list[str] = []
    original = client.execute_command

    def counting(*args: Any, **kwargs: Any) -> Any:
        sent.append(args[0])
        return original(*args, **kwargs)

    client.execute_command = counting
    try:
        yield sent
    finally:
        del client.execute_command
