"""ocpp-router: fast, strict OCPP-J (1.6, 2.0.1, 2.1) for CSMS builders.

The hot path (frames, schema validation, call correlation) runs in a sans-IO Rust core;
the trio API on top serves charge points over WebSockets.
"""

from __future__ import annotations

from . import errors as errors
from ._core import Connection as Connection
from ._core import SchemaRegistry as SchemaRegistry
from ._core import ValidationFailure as ValidationFailure
from ._core import __version__ as __version__

__all__ = [
    "Connection",
    "SchemaRegistry",
    "ValidationFailure",
    "__version__",
    "errors",
]
