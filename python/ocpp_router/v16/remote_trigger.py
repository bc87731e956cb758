"""OCPP 1.6 Remote Trigger profile: ``trigger_message`` asks a charge point to send a message now.

A triggered message is let through the core's Pending guard for ``trigger_window`` seconds,
so a CSMS can, for example, ask a Pending charge point for its StatusNotifications before
accepting it.
"""

from __future__ import annotations

from typing import ClassVar

from .. import v16
from ._base import V16Plugin

__all__ = ["RemoteTriggerPlugin"]


class RemoteTriggerPlugin(V16Plugin):
    """The OCPP 1.6 Remote Trigger profile (CSMS-initiated only).

    Args:
        trigger_window: seconds during which the triggered message passes the Pending guard.
    """

    name: ClassVar[str] = "v16.remote_trigger"

    def __init__(self, *, trigger_window: float = 60.0) -> None:
        super().__init__()
        self.trigger_window = trigger_window

    async def trigger_message(
        self,
        identity: str,
        requested_message: v16.MessageTrigger | str,
        *,
        connector_id: int | None = None,
        timeout: float | None = None,
    ) -> v16.TriggerMessageResponse:
        """Ask for BootNotification, StatusNotification, MeterValues, Heartbeat,
        FirmwareStatusNotification or DiagnosticsStatusNotification (for one connector > 0,
        or all when ``connector_id`` is None)."""
        trigger = v16.MessageTrigger(requested_message)
        if connector_id is not None and (isinstance(connector_id, bool) or connector_id < 1):
            raise ValueError(f"connector_id must be > 0 when given, not {connector_id!r}")
        request = v16.TriggerMessageRequest(requested_message=trigger, connector_id=connector_id)
        response: v16.TriggerMessageResponse = await self.triggered_request(
            identity, request, (trigger.value,), self.trigger_window, timeout=timeout
        )
        return response
