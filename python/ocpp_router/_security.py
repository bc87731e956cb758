"""Security events and server-wide limits."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["Limits", "ProxyHeaders", "SecurityEvent", "SecurityEventKind"]

log = logging.getLogger("ocpp_router.security")

SecurityEventKind = Literal[
    "auth_failed",
    "auth_rate_limited",
    "certificate_mismatch",
    "security_profile_mismatch",
    "connection_limit",
    "oversized_frame",
    "malformed_frame",
    "message_flood",
    "keepalive_timeout",
]


@dataclass(frozen=True, slots=True)
class SecurityEvent:
    """Something an operator's security monitoring should see (also logged at WARNING)."""

    kind: SecurityEventKind
    identity: str | None
    remote: tuple[str, int] | None
    detail: str = ""


@dataclass(slots=True)
class Limits:
    """Server-wide limits; each is a guard against a misbehaving or hostile peer."""

    max_message_size: int = 1 << 20
    """Bytes per WebSocket message; a bigger one closes the connection with 1009."""
    handshake_timeout: float = 10.0
    """Seconds from TCP accept to a complete HTTP upgrade request (slowloris guard)."""
    max_connections: int = 50_000
    """Open charge-point sessions; further upgrades are answered 503."""
    max_concurrent_handlers: int = 2_000
    """Handlers running at once across all sessions; more wait their turn."""


@dataclass(frozen=True, slots=True)
class ProxyHeaders:
    """Trust a TLS-terminating proxy in front of the server (off unless configured).

    ``real_ip``: header holding the client address (first entry of X-Forwarded-For style
    lists). ``client_certificate``: header holding the URL-encoded PEM client certificate the
    proxy verified (nginx ``$ssl_client_escaped_cert``); it is then bound to the identity like
    a direct TLS client certificate. ``tls``: connections count as TLS (security profile ≥ 2).
    """

    real_ip: str | None = "x-forwarded-for"
    client_certificate: str | None = None
    tls: bool = True
    extra: dict[str, str] = field(default_factory=dict)


def report(event: SecurityEvent) -> None:
    log.warning(
        "security event %s identity=%s remote=%s %s",
        event.kind,
        event.identity,
        f"{event.remote[0]}:{event.remote[1]}" if event.remote else "-",
        event.detail,
    )
