"""What nodes send each other over the engine: JSON messages, and exceptions as data."""

from __future__ import annotations

from typing import Any

from ..errors import (
    CallError,
    CallTimeoutError,
    ConnectionClosedError,
    LocalProtocolError,
    NotConnectedError,
    OcppError,
    RemoteProtocolError,
)

__all__ = ["ClusterUnavailableError", "error_from_wire", "error_to_wire"]


class ClusterUnavailableError(NotConnectedError):
    """The charge point is not local and the cluster engine (Valkey/Redis) cannot be reached.

    A ``NotConnectedError``: code that handles "charge point not reachable" handles this too.
    """

    def __init__(self, identity: str, reason: str) -> None:
        super().__init__(identity)
        if identity:
            self.description = f"charge point {identity!r} is not reachable: cluster engine unavailable ({reason})"
        else:
            self.description = f"cluster engine unavailable: {reason}"
        self.args = (self.description,)
        self.reason = reason


def error_to_wire(exc: BaseException, identity: str) -> dict[str, Any]:
    """An exception from ``ChargePoint.call`` as JSON data (the caller's node rebuilds it)."""
    if isinstance(exc, CallError):
        return {
            "kind": "CallError",
            "code": exc.code,
            "description": exc.description,
            "details": exc.details,
            "action": exc.action,
            "message_id": exc.message_id,
        }
    if isinstance(exc, CallTimeoutError):
        return {
            "kind": "CallTimeoutError",
            "description": exc.description,
            "action": exc.action,
            "message_id": exc.message_id,
        }
    if isinstance(exc, RemoteProtocolError):
        return {
            "kind": "RemoteProtocolError",
            "code": exc.code,
            "description": exc.description,
            "action": exc.action,
            "message_id": exc.message_id,
        }
    if isinstance(exc, LocalProtocolError):
        return {"kind": "LocalProtocolError", "code": exc.code, "description": exc.description}
    if isinstance(exc, NotConnectedError):
        return {"kind": "NotConnectedError", "identity": identity}
    if isinstance(exc, ConnectionClosedError):
        return {"kind": "ConnectionClosedError", "description": exc.description}
    if isinstance(exc, TypeError):
        return {"kind": "TypeError", "description": str(exc)}
    if isinstance(exc, OcppError):
        return {"kind": "OcppError", "description": exc.description}
    return {"kind": "InternalError", "description": f"{type(exc).__name__} on the owning node (see its log)"}


def error_from_wire(data: dict[str, Any], identity: str) -> Exception:
    """The exception ``error_to_wire`` described, of the same type with the same fields."""
    kind = data.get("kind")
    description = str(data.get("description", ""))
    if kind == "CallError":
        return CallError(
            str(data.get("code", "GenericError")),
            description,
            data.get("details") or {},
            action=str(data.get("action", "")),
            message_id=str(data.get("message_id", "")),
        )
    if kind == "CallTimeoutError":
        return CallTimeoutError(
            description, action=str(data.get("action", "")), message_id=str(data.get("message_id", ""))
        )
    if kind == "RemoteProtocolError":
        return RemoteProtocolError(
            description,
            str(data.get("code", "FormatViolation")),
            action=str(data.get("action", "")),
            message_id=str(data.get("message_id", "")),
        )
    if kind == "LocalProtocolError":
        return LocalProtocolError(description, str(data.get("code", "GenericError")))
    if kind == "NotConnectedError":
        return NotConnectedError(identity)
    if kind == "ConnectionClosedError":
        return ConnectionClosedError(description)
    if kind == "TypeError":
        return TypeError(description)
    return OcppError(description)
