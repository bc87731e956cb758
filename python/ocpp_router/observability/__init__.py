"""Observability for an ocpp-router server: an audit log of every frame and Prometheus metrics.

Both tap the server through ``Hooks`` and chain to the application's own hooks::

    from ocpp_router.observability import AuditLog, Metrics

    server = Server(router, hooks=my_hooks)
    audit = AuditLog("audit.jsonl")
    audit.attach(server)
    metrics = Metrics(server)

``ocpp_router.observability.metrics`` needs ``prometheus_client`` (a dependency of the
package); the audit log does not, and importing this package does not import it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._hooks import compose_hooks as compose_hooks
from .audit import AuditFrame as AuditFrame
from .audit import AuditLog as AuditLog
from .audit import open_audit_log as open_audit_log

if TYPE_CHECKING:
    from .metrics import Metrics as Metrics

__all__ = ["AuditFrame", "AuditLog", "Metrics", "compose_hooks", "open_audit_log"]


def __getattr__(name: str) -> Any:
    if name == "Metrics":
        from .metrics import Metrics

        return Metrics
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
