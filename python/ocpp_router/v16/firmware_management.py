"""OCPP 1.6 Firmware Management profile: UpdateFirmware and GetDiagnostics helpers, and the
status history the charge point reports with FirmwareStatusNotification and
DiagnosticsStatusNotification (the only way the CSMS learns how an update or upload went).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from .. import v16
from ._base import StatusEvent, V16Plugin, append_bounded, dump_record, format_time, text

if TYPE_CHECKING:
    from datetime import datetime

    from .._session import ChargePoint

__all__ = ["DiagnosticsRequest", "FirmwareManagementPlugin", "FirmwareUpdate", "StatusEvent"]


@dataclass(frozen=True, slots=True)
class FirmwareUpdate:
    """An UpdateFirmware the CSMS sent (the charge point's answer carries nothing)."""

    location: str
    retrieve_date: str
    requested_at: str


@dataclass(frozen=True, slots=True)
class DiagnosticsRequest:
    """A GetDiagnostics the CSMS sent, with the file name the charge point announced."""

    location: str
    requested_at: str
    file_name: str | None = None
    start_time: str | None = None
    stop_time: str | None = None


def _check_retries(retries: int | None, retry_interval: int | None) -> None:
    for name, value in (("retries", retries), ("retry_interval", retry_interval)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise ValueError(f"{name} must be an integer >= 0, not {value!r}")


class FirmwareManagementPlugin(V16Plugin):
    """The OCPP 1.6 Firmware Management profile.

    Args:
        max_history: status reports kept per charge point and kind (oldest dropped first).
    """

    name: ClassVar[str] = "v16.firmware_management"

    def __init__(self, *, max_history: int = 100) -> None:
        super().__init__()
        self.max_history = max_history
        self.handle("FirmwareStatusNotification", self._on_firmware_status)
        self.handle("DiagnosticsStatusNotification", self._on_diagnostics_status)

    async def _record(self, identity: str, key: str, status: object) -> None:
        event = StatusEvent(status=str(text(status)), received_at=self.now_text())
        await append_bounded(self.storage, self.name, identity, key, dump_record(event), self.max_history)

    async def _on_firmware_status(
        self, cp: ChargePoint, request: v16.FirmwareStatusNotificationRequest
    ) -> v16.FirmwareStatusNotificationResponse:
        await self._record(cp.id, "firmware_status", request.status)
        return v16.FirmwareStatusNotificationResponse()

    async def _on_diagnostics_status(
        self, cp: ChargePoint, request: v16.DiagnosticsStatusNotificationRequest
    ) -> v16.DiagnosticsStatusNotificationResponse:
        await self._record(cp.id, "diagnostics_status", request.status)
        return v16.DiagnosticsStatusNotificationResponse()

    async def update_firmware(
        self,
        identity: str,
        location: str,
        retrieve_date: datetime | str,
        *,
        retries: int | None = None,
        retry_interval: int | None = None,
        timeout: float | None = None,
    ) -> v16.UpdateFirmwareResponse:
        """Tell the charge point to fetch firmware from ``location`` from ``retrieve_date`` on;
        progress arrives as FirmwareStatusNotification (see ``firmware_status_history``)."""
        _check_retries(retries, retry_interval)
        request = v16.UpdateFirmwareRequest(
            location=location, retrieve_date=format_time(retrieve_date), retries=retries, retry_interval=retry_interval
        )
        response: v16.UpdateFirmwareResponse = await self.request(identity, request, timeout=timeout)
        record = FirmwareUpdate(location=location, retrieve_date=request.retrieve_date, requested_at=self.now_text())
        await append_bounded(
            self.storage, self.name, identity, "firmware_updates", dump_record(record), self.max_history
        )
        return response

    async def get_diagnostics(
        self,
        identity: str,
        location: str,
        *,
        retries: int | None = None,
        retry_interval: int | None = None,
        start_time: datetime | str | None = None,
        stop_time: datetime | str | None = None,
        timeout: float | None = None,
    ) -> v16.GetDiagnosticsResponse:
        """Ask for a diagnostics upload to ``location``; the answer names the file (if any),
        progress arrives as DiagnosticsStatusNotification."""
        _check_retries(retries, retry_interval)
        request = v16.GetDiagnosticsRequest(
            location=location,
            retries=retries,
            retry_interval=retry_interval,
            start_time=None if start_time is None else format_time(start_time),
            stop_time=None if stop_time is None else format_time(stop_time),
        )
        response: v16.GetDiagnosticsResponse = await self.request(identity, request, timeout=timeout)
        record = DiagnosticsRequest(
            location=location,
            requested_at=self.now_text(),
            file_name=response.file_name,
            start_time=request.start_time,
            stop_time=request.stop_time,
        )
        await append_bounded(
            self.storage, self.name, identity, "diagnostics_requests", dump_record(record), self.max_history
        )
        return response

    async def firmware_status_history(self, identity: str) -> list[StatusEvent]:
        return await self.load_list(StatusEvent, identity, "firmware_status")

    async def diagnostics_status_history(self, identity: str) -> list[StatusEvent]:
        return await self.load_list(StatusEvent, identity, "diagnostics_status")

    async def firmware_status(self, identity: str) -> str | None:
        """The last reported firmware status (e.g. ``Installed``), or None."""
        history = await self.firmware_status_history(identity)
        return history[-1].status if history else None

    async def diagnostics_status(self, identity: str) -> str | None:
        history = await self.diagnostics_status_history(identity)
        return history[-1].status if history else None

    async def firmware_updates(self, identity: str) -> list[FirmwareUpdate]:
        return await self.load_list(FirmwareUpdate, identity, "firmware_updates")

    async def diagnostics_requests(self, identity: str) -> list[DiagnosticsRequest]:
        return await self.load_list(DiagnosticsRequest, identity, "diagnostics_requests")
