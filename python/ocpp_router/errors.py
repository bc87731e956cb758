"""Every exception ocpp-router raises, in one place.

``OcppError`` is the root. Handlers raise one of the wire-code classes
(``NotSupportedError``, ``PropertyConstraintViolationError``, ...) to answer a CALL with
that CALLERROR; the code is spelled for the connection's version (1.6 says
``FormationViolation`` and ``OccurenceConstraintViolation``). Callers of
``await cp.call(...)`` see ``CallError`` (the peer answered with a CALLERROR),
``CallTimeoutError`` (no answer in time), ``RemoteProtocolError`` (the answer was malformed),
``ConnectionClosedError`` (the socket went away) or ``NotConnectedError``.
``LocalProtocolError`` means *we* were about to send something invalid; it never reaches
the wire.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import trio

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "CallError",
    "CallTimeoutError",
    "ConnectionClosedError",
    "FormatViolationError",
    "GenericError",
    "InternalError",
    "LocalProtocolError",
    "MessageTypeNotSupportedError",
    "NotConnectedError",
    "NotImplementedActionError",
    "NotSupportedError",
    "OccurrenceConstraintViolationError",
    "OcppError",
    "PropertyConstraintViolationError",
    "ProtocolError",
    "RemoteProtocolError",
    "RpcFrameworkError",
    "SecurityError",
    "TypeConstraintViolationError",
    "error_class_for_code",
    "wire_code",
]

_V16_SPELLING = {
    "FormatViolation": "FormationViolation",
    "OccurrenceConstraintViolation": "OccurenceConstraintViolation",
    "RpcFrameworkError": "FormationViolation",
    "MessageTypeNotSupported": "NotSupported",
}
_CANONICAL = {
    "FormationViolation": "FormatViolation",
    "OccurenceConstraintViolation": "OccurrenceConstraintViolation",
}


def wire_code(code: str, version: str) -> str:
    """Spell a canonical (2.x) error code for ``version`` ("1.6", "2.0.1" or "2.1")."""
    return _V16_SPELLING.get(code, code) if version == "1.6" else code


class OcppError(Exception):
    """Root of all ocpp-router errors. ``code`` is the canonical (2.x) OCPP error code."""

    code: ClassVar[str] = "GenericError"

    def __init__(self, description: str = "", details: Mapping[str, object] | None = None) -> None:
        super().__init__(description)
        self.description = description
        self.details: dict[str, object] = dict(details or {})

    def wire_code(self, version: str) -> str:
        """The code as sent on a connection of ``version``."""
        return wire_code(self.code, version)


class NotImplementedActionError(OcppError):
    """The action is not known (``NotImplemented``)."""

    code = "NotImplemented"


class NotSupportedError(OcppError):
    """The action is known but not handled here (``NotSupported``)."""

    code = "NotSupported"


class InternalError(OcppError):
    """Processing failed on our side (``InternalError``)."""

    code = "InternalError"


class ProtocolError(OcppError):
    """The payload is incomplete (``ProtocolError``)."""

    code = "ProtocolError"


class SecurityError(OcppError):
    """A security problem prevented processing (``SecurityError``)."""

    code = "SecurityError"


class FormatViolationError(OcppError):
    """The payload is syntactically wrong (1.6: ``FormationViolation``)."""

    code = "FormatViolation"


class PropertyConstraintViolationError(OcppError):
    """A field holds an invalid value (``PropertyConstraintViolation``)."""

    code = "PropertyConstraintViolation"


class OccurrenceConstraintViolationError(OcppError):
    """A field occurs too often or not at all (1.6: ``OccurenceConstraintViolation``)."""

    code = "OccurrenceConstraintViolation"


class TypeConstraintViolationError(OcppError):
    """A field has the wrong data type (``TypeConstraintViolation``)."""

    code = "TypeConstraintViolation"


class GenericError(OcppError):
    """Anything else (``GenericError``)."""

    code = "GenericError"


class RpcFrameworkError(OcppError):
    """Not a valid RPC message (2.x ``RpcFrameworkError``; 1.6 ``FormationViolation``)."""

    code = "RpcFrameworkError"


class MessageTypeNotSupportedError(OcppError):
    """Unknown message type number (2.x ``MessageTypeNotSupported``)."""

    code = "MessageTypeNotSupported"


_BY_CODE: dict[str, type[OcppError]] = {
    cls.code: cls
    for cls in (
        NotImplementedActionError,
        NotSupportedError,
        InternalError,
        ProtocolError,
        SecurityError,
        FormatViolationError,
        PropertyConstraintViolationError,
        OccurrenceConstraintViolationError,
        TypeConstraintViolationError,
        GenericError,
        RpcFrameworkError,
        MessageTypeNotSupportedError,
    )
}


def error_class_for_code(code: str) -> type[OcppError]:
    """The wire-code class for ``code`` in any version's spelling (unknown → GenericError)."""
    return _BY_CODE.get(_CANONICAL.get(code, code), GenericError)


class CallError(OcppError):
    """The charge point answered our call with a CALLERROR.

    ``code`` is the code as received; ``canonical_code`` the 2.x spelling of it.
    """

    def __init__(
        self,
        code: str,
        description: str = "",
        details: Mapping[str, object] | None = None,
        *,
        action: str = "",
        message_id: str = "",
    ) -> None:
        super().__init__(description, details)
        self.code = code  # type: ignore[misc]  # per instance: the code the peer sent
        self.action = action
        self.message_id = message_id

    @property
    def canonical_code(self) -> str:
        return _CANONICAL.get(self.code, self.code)

    def __str__(self) -> str:
        return f"{self.action} failed with {self.code}: {self.description}"


class RemoteProtocolError(OcppError):
    """The peer broke the protocol, e.g. answered our call with an invalid payload."""

    def __init__(
        self, description: str, code: str = "FormatViolation", *, action: str = "", message_id: str = ""
    ) -> None:
        super().__init__(description)
        self.code = code  # type: ignore[misc]
        self.action = action
        self.message_id = message_id


class LocalProtocolError(OcppError):
    """We were about to send something invalid (bad payload, unknown action, full queue)."""

    def __init__(self, description: str, code: str = "GenericError") -> None:
        super().__init__(description)
        self.code = code  # type: ignore[misc]


class CallTimeoutError(OcppError, trio.TooSlowError):
    """No answer to our call arrived in time (also a ``trio.TooSlowError``)."""

    def __init__(self, description: str, *, action: str = "", message_id: str = "") -> None:
        super().__init__(description)
        self.action = action
        self.message_id = message_id


class ConnectionClosedError(OcppError):
    """The connection closed before our call was answered."""


class NotConnectedError(OcppError):
    """No charge point with this identity is connected."""

    def __init__(self, identity: str) -> None:
        super().__init__(f"charge point {identity!r} is not connected")
        self.identity = identity
