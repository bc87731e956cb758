"""Application hooks: connection lifecycle and message taps. Unset hooks cost nothing."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from ._core import ValidationFailure
    from ._security import SecurityEvent
    from ._session import ChargePoint
    from ._transport import Handshake

__all__ = ["Hooks", "Refuse", "compose_hooks"]


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
    on_call_done: Callable[[ChargePoint, str, float, str], None] | None = None
    """One of our outgoing calls ended: ``(cp, action, seconds, outcome)``. ``seconds`` runs
    from ``call()`` to its outcome (queueing behind an earlier call included); ``outcome`` is
    ``"result"``, the CALLERROR code received (``"NotSupported"``, ...), ``"timeout"``,
    ``"protocol_violation"`` (the answer broke the schema), ``"closed"`` or ``"cancelled"``.
    For call-latency metrics; it must not block (it is a plain function)."""
    on_cluster_call_done: Callable[[str, str, float, str], None] | None = None
    """A call to a charge point on another cluster node ended: ``(identity, action, seconds,
    outcome)``, outcome as for ``on_call_done`` plus ``"not_connected"``. Plain function."""


#: How each hook is chained by ``compose_hooks``.
_ASYNC_CHAINED = ("on_connected", "on_disconnected", "on_message")
_SYNC_CHAINED = (
    "on_protocol_violation",
    "on_validation_violation",
    "on_security_event",
    "on_call_done",
    "on_cluster_call_done",
)


def _chain_async(fns: list[Callable[..., Awaitable[None]]]) -> Callable[..., Awaitable[None]]:
    async def chained(*args: Any) -> None:
        for fn in fns:
            await fn(*args)

    return chained


def _chain_sync(fns: list[Callable[..., None]]) -> Callable[..., None]:
    def chained(*args: Any) -> None:
        for fn in fns:
            fn(*args)

    return chained


def _chain_on_connect(
    fns: list[Callable[[Handshake, str], Awaitable[bool | None]]],
) -> Callable[[Handshake, str], Awaitable[bool | None]]:
    async def chained(handshake: Handshake, identity: str) -> bool | None:
        for fn in fns:
            if await fn(handshake, identity) is False:
                return False  # the first refusal wins; later hooks never see the identity
        return None

    return chained


def compose_hooks(*hooks: Hooks | None) -> Hooks:
    """One ``Hooks`` calling each given set in order (``None`` entries are skipped).

    Observability (audit log, metrics) adds its taps next to the application's own hooks::

        server.hooks = compose_hooks(server.hooks, audit.hooks(), metrics.hooks())

    A hook set in none of them stays ``None`` (still free); set in exactly one, it is used
    as is (no wrapper). ``on_connect`` refuses when any of them returns False or raises
    ``Refuse``; the others run one after the other, in argument order.
    """
    given = [h for h in hooks if h is not None]
    composed = Hooks()
    for name in (f.name for f in fields(Hooks)):
        fns = [fn for h in given if (fn := getattr(h, name)) is not None]
        if not fns:
            continue
        if len(fns) == 1:
            setattr(composed, name, fns[0])
        elif name == "on_connect":
            composed.on_connect = _chain_on_connect(fns)
        elif name in _ASYNC_CHAINED:
            setattr(composed, name, _chain_async(fns))
        elif name in _SYNC_CHAINED:
            setattr(composed, name, _chain_sync(fns))
        else:  # a hook added to Hooks without teaching compose_hooks how to chain it
            raise TypeError(f"compose_hooks cannot chain {name}")
    return composed
