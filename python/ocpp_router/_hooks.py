"""Application hooks: connection lifecycle and message taps. Unset hooks cost nothing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from ._core import ValidationFailure
    from ._security import SecurityEvent
    from ._session import ChargePoint
    from ._transport import Handshake

__all__ = ["Hooks", "Refuse"]


class Refuse(Exception):
    """Raise from ``on_connect`` to refuse a connection with an HTTP status before the upgrade."""

    def __init__(self, status_code: int = 404, reason: str = "") -> None:
        super().__init__(f"{status_code} {reason}".strip())
        self.status_code = status_code
        self.reason = reason


@dataclass(slots=True)
class Hooks:
    """Callbacks an application may set; every one is optional."""

    on_connect: Callable[[Handshake, str], Awaitable[bool | None]] | None = None
    """Before the upgrade: return False (404) or raise ``Refuse(status)`` to refuse an identity."""
    on_connected: Callable[[ChargePoint], Awaitable[None]] | None = None
    on_disconnected: Callable[[ChargePoint], Awaitable[None]] | None = None
    """After the session ended; ``cp.close_code`` / ``cp.close_reason`` say why."""
    on_message: Callable[[ChargePoint, str, str], Awaitable[None]] | None = None
    """Every frame: ``(cp, "in" | "out", text)``. For audit logs and metrics."""
    on_protocol_violation: Callable[[ChargePoint, str, str], None] | None = None
    """The peer sent a bad frame: ``(cp, error_code, description)``."""
    on_validation_violation: Callable[[ChargePoint, str, ValidationFailure], None] | None = None
    """A lenient validation mode let an invalid payload through: ``(cp, action, failure)``."""
    on_security_event: Callable[[SecurityEvent], None] | None = None
    """Failed auth, certificate mismatch, oversized or malformed frames, floods, ... (also logged)."""
