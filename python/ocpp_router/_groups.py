"""Exception-group hygiene for context managers that run a nursery around ``yield``."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

if sys.version_info < (3, 11):
    from exceptiongroup import BaseExceptionGroup

__all__ = ["single_error"]


@contextmanager
def single_error() -> Iterator[None]:
    """Re-raise a lone exception out of trio's nursery ``ExceptionGroup``.

    Without this, ``async with connect(...)`` would turn a user's own exception, or our
    ``ConnectError``, into an ``ExceptionGroup`` that ordinary ``except`` clauses miss.
    """
    try:
        yield
    except BaseExceptionGroup as group:
        while isinstance(group, BaseExceptionGroup) and len(group.exceptions) == 1:
            inner = group.exceptions[0]
            if not isinstance(inner, BaseExceptionGroup):
                raise inner  # noqa: B904 - the group only wrapped it
            group = inner
        raise
