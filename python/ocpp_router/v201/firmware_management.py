"""OCPP 2.0.1 block L, Firmware Management: UpdateFirmware (signed firmware: the signing
certificate and signature are passed through untouched), the FirmwareStatusNotification
history of each update (by requestId), and the Local Controller messages PublishFirmware /
UnpublishFirmware with PublishFirmwareStatusNotification.

The update record is stored before UpdateFirmware is sent, the status reports in a key of
their own, so a station that reports right behind its answer is never lost. Status reports
pass the Pending guard for ``status_window`` seconds (a firmware update may reboot the
station into Pending); the marks go when the update reached a final status.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, ClassVar

from .. import v201
from ._base import (
    Notifier,
    StatusEvent,
    V201Plugin,
    append_bounded,
    dump_record,
    expect,
    format_time,
    load_record,
    text,
    unexpect,
)

if TYPE_CHECKING:
    from datetime import datetime

    from .._session import ChargePoint

__all__ = [
    "FINAL_FIRMWARE_STATUSES",
    "FINAL_PUBLISH_STATUSES",
    "FirmwareManagementPlugin",
    "FirmwarePublication",
    "FirmwareStatusHook",
    "FirmwareUpdate",
    "StatusEvent",
]

log = logging.getLogger("ocpp_router")

#: FirmwareStatusNotification statuses after which an update is over.
FINAL_FIRMWARE_STATUSES = frozenset(
    {"Installed", "DownloadFailed", "InstallationFailed", "InstallVerificationFailed", "InvalidSignature"}
)
#: PublishFirmwareStatusNotification statuses after which a publication is settled.
FINAL_PUBLISH_STATUSES = frozenset({"Published", "DownloadFailed", "InvalidChecksum", "PublishFailed"})

_MD5 = re.compile(r"[0-9a-fA-F]{32}")
_PEM = "-----BEGIN CERTIFICATE-----"

#: ``async (cp, request_id | None, status)`` for each FirmwareStatusNotification.
FirmwareStatusHook = Callable[["ChargePoint", "int | None", str], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class FirmwareUpdate:
    """An UpdateFirmware the CSMS sent and the station's reports about it."""

    request_id: int
    location: str
    retrieve_date_time: str
    requested_at: str
    answer: str
    """``Requested`` until answered, then Accepted, Rejected, AcceptedCanceled (an earlier
    update was cancelled for this one), InvalidCertificate or RevokedCertificate."""
    install_date_time: str | None = None
    signing_certificate: str | None = None
    signature: str | None = None
    retries: int | None = None
    retry_interval: int | None = None
    statuses: tuple[StatusEvent, ...] = ()
    """FirmwareStatusNotifications with this requestId, in arrival order."""

    @property
    def status(self) -> str | None:
        """The last reported status."""
        return self.statuses[-1].status if self.statuses else None

    @property
    def signed(self) -> bool:
        return self.signature is not None

    @property
    def finished(self) -> bool:
        """Installed or failed (or refused by the station)."""
        refused = self.answer not in ("Requested", "Accepted", "AcceptedCanceled")
        return refused or self.status in FINAL_FIRMWARE_STATUSES

    @property
    def installed(self) -> bool:
        return self.status == "Installed"


@dataclass(frozen=True, slots=True)
class FirmwarePublication:
    """A PublishFirmware sent to a Local Controller and what it reported."""

    request_id: int
    location: str
    checksum: str
    requested_at: str
    answer: str
    """``Requested`` until answered, then Accepted or Rejected."""
    retries: int | None = None
    retry_interval: int | None = None
    statuses: tuple[StatusEvent, ...] = ()
    published_locations: tuple[str, ...] = ()
    """The URIs the Local Controller serves the firmware at (status Published)."""
    unpublished_at: str | None = None

    @property
    def status(self) -> str | None:
        return self.statuses[-1].status if self.statuses else None


def _check_retries(retries: int | None, retry_interval: int | None) -> None:
    for name, value in (("retries", retries), ("retry_interval", retry_interval)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise ValueError(f"{name} must be an integer >= 0, not {value!r}")


class FirmwareManagementPlugin(V201Plugin):
    """OCPP 2.0.1/2.1 block L (Firmware Management).

    Args:
        on_firmware_status: ``async (cp, request_id, status)`` after each
            FirmwareStatusNotification was stored (an exception is logged).
        status_window: seconds the status reports of an update/publication pass the
            Pending guard.
        max_history: updates (and publications) kept per station.
    """

    name: ClassVar[str] = "v201.firmware_management"

    def __init__(
        self,
        *,
        on_firmware_status: FirmwareStatusHook | None = None,
        status_window: float = 24 * 3600.0,
        max_history: int = 50,
    ) -> None:
        super().__init__()
        self.on_firmware_status = on_firmware_status
        self.status_window = status_window
        self.max_history = max_history
        self._notifier = Notifier()
        self.handle("FirmwareStatusNotification", self._on_firmware_status)
        self.handle("PublishFirmwareStatusNotification", self._on_publish_status)

    async def _track(self, identity: str, kind: str, request_id: int) -> None:
        order: list[int] = await self.load(identity, f"{kind}s", [])
        order.append(request_id)
        for old in order[: -self.max_history]:
            await self.storage.delete(self.name, identity, f"{kind}:{old}")
            await self.storage.delete(self.name, identity, f"{kind}:{old}:statuses")
        await self.save(identity, f"{kind}s", order[-self.max_history :])

    # -- UpdateFirmware -------------------------------------------------------------------

    async def update_firmware(
        self,
        identity: str,
        location: str,
        retrieve_date_time: datetime | str,
        *,
        install_date_time: datetime | str | None = None,
        signing_certificate: str | None = None,
        signature: str | None = None,
        retries: int | None = None,
        retry_interval: int | None = None,
        request_id: int | None = None,
        timeout: float | None = None,
    ) -> FirmwareUpdate:
        """Ask the station to download (from ``retrieve_date_time``) and install firmware.

        Signed firmware (L01 secure update): give the PEM ``signing_certificate`` and the
        base64 ``signature`` together; both are passed through unchanged. The record (with
        the station's answer) is returned; its ``statuses`` fill as the station reports
        (``firmware_update``, ``wait_for_firmware``).
        """
        if not location:
            raise ValueError("location must be a URI")
        if (signing_certificate is None) != (signature is None):
            raise ValueError("signed firmware needs both signing_certificate and signature")
        if signing_certificate is not None and not signing_certificate.lstrip().startswith(_PEM):
            raise ValueError("signing_certificate must be a PEM certificate")
        _check_retries(retries, retry_interval)
        if request_id is None:
            request_id = await self.new_request_id()
        firmware: dict[str, Any] = {"location": location, "retrieveDateTime": format_time(retrieve_date_time)}
        if install_date_time is not None:
            firmware["installDateTime"] = format_time(install_date_time)
        if signing_certificate is not None:
            firmware["signingCertificate"] = signing_certificate
        if signature is not None:
            firmware["signature"] = signature
        payload: dict[str, Any] = {"requestId": request_id, "firmware": firmware}
        if retries is not None:
            payload["retries"] = retries
        if retry_interval is not None:
            payload["retryInterval"] = retry_interval
        record = FirmwareUpdate(
            request_id=request_id,
            location=location,
            retrieve_date_time=firmware["retrieveDateTime"],
            requested_at=self.now_text(),
            answer="Requested",
            install_date_time=firmware.get("installDateTime"),
            signing_certificate=signing_certificate,
            signature=signature,
            retries=retries,
            retry_interval=retry_interval,
        )
        key = f"firmware:{request_id}"
        await self.save(identity, key, dump_record(record))
        await self._track(identity, "firmware", request_id)
        mark = await expect(
            self.storage, identity, "FirmwareStatusNotification", self.status_window, request_id=request_id
        )
        try:
            response = await self.request(identity, ("UpdateFirmware", payload), timeout=timeout)
        except BaseException:
            await unexpect(self.storage, identity, "FirmwareStatusNotification", mark, request_id=request_id)
            raise
        answer = str(text(response.get("status")))
        if answer not in ("Accepted", "AcceptedCanceled"):
            await unexpect(self.storage, identity, "FirmwareStatusNotification", mark, request_id=request_id)
        await self.save(identity, key, dump_record(replace(record, answer=answer)))
        self._notifier.notify((identity, "firmware", request_id))
        updated = await self.firmware_update(identity, request_id)
        assert updated is not None
        return updated

    async def _on_firmware_status(
        self, cp: ChargePoint, payload: dict[str, Any]
    ) -> v201.FirmwareStatusNotificationResponse:
        status = str(text(payload["status"]))
        request_id = payload.get("requestId")
        event = StatusEvent(status=status, received_at=self.now_text(), request_id=request_id)
        key = f"firmware:{request_id}:statuses" if request_id is not None else "firmware:none:statuses"
        await append_bounded(self.storage, self.name, cp.id, key, dump_record(event), 100)
        await self.save(cp.id, "firmware_status", dump_record(event))
        if request_id is not None and status in FINAL_FIRMWARE_STATUSES:
            await unexpect(self.storage, cp.id, "FirmwareStatusNotification", request_id=request_id)
        self._notifier.notify((cp.id, "firmware", request_id))
        if self.on_firmware_status is not None:
            try:
                await self.on_firmware_status(cp, request_id, status)
            except Exception:
                log.exception("%s: on_firmware_status hook failed", cp.id)
        return v201.FirmwareStatusNotificationResponse()

    async def firmware_update(self, identity: str, request_id: int) -> FirmwareUpdate | None:
        """One update with its status history."""
        data = await self.load(identity, f"firmware:{request_id}")
        if not data:
            return None
        statuses = await self.load_list(StatusEvent, identity, f"firmware:{request_id}:statuses")
        return replace(load_record(FirmwareUpdate, data), statuses=tuple(statuses))

    async def firmware_updates(self, identity: str) -> list[FirmwareUpdate]:
        """The station's updates, oldest first."""
        found = [await self.firmware_update(identity, rid) for rid in await self.load(identity, "firmwares", [])]
        return [u for u in found if u is not None]

    async def firmware_status(self, identity: str) -> StatusEvent | None:
        """The station's last FirmwareStatusNotification (any request, or a triggered one)."""
        data = await self.load(identity, "firmware_status")
        return load_record(StatusEvent, data) if data else None

    async def wait_for_firmware(
        self, identity: str, request_id: int, statuses: Iterable[str] | None = None, *, timeout: float = 600.0
    ) -> FirmwareUpdate:
        """Until the update reported one of ``statuses`` (default: a final one) or was
        refused; ``trio.TooSlowError`` after ``timeout``."""
        wanted = frozenset(statuses) if statuses is not None else None

        async def check() -> FirmwareUpdate | None:
            update = await self.firmware_update(identity, request_id)
            if update is None:
                return None
            if wanted is None:
                return update if update.finished else None
            return update if any(s.status in wanted for s in update.statuses) else None

        return await self._notifier.wait_for((identity, "firmware", request_id), check, timeout)

    # -- Local Controller -----------------------------------------------------------------

    async def publish_firmware(
        self,
        identity: str,
        location: str,
        checksum: str,
        *,
        retries: int | None = None,
        retry_interval: int | None = None,
        request_id: int | None = None,
        timeout: float | None = None,
    ) -> FirmwarePublication:
        """Ask a Local Controller to download firmware (``checksum``: its MD5, 32 hex digits)
        and serve it to its stations; PublishFirmwareStatusNotification reports follow."""
        if not location:
            raise ValueError("location must be a URI")
        if not _MD5.fullmatch(checksum):
            raise ValueError(f"checksum must be an MD5 digest (32 hex digits), not {checksum!r}")
        _check_retries(retries, retry_interval)
        if request_id is None:
            request_id = await self.new_request_id()
        payload: dict[str, Any] = {"location": location, "checksum": checksum, "requestId": request_id}
        if retries is not None:
            payload["retries"] = retries
        if retry_interval is not None:
            payload["retryInterval"] = retry_interval
        record = FirmwarePublication(
            request_id=request_id,
            location=location,
            checksum=checksum,
            requested_at=self.now_text(),
            answer="Requested",
            retries=retries,
            retry_interval=retry_interval,
        )
        key = f"publication:{request_id}"
        await self.save(identity, key, dump_record(record))
        await self._track(identity, "publication", request_id)
        mark = await expect(
            self.storage, identity, "PublishFirmwareStatusNotification", self.status_window, request_id=request_id
        )
        try:
            response = await self.request(identity, ("PublishFirmware", payload), timeout=timeout)
        except BaseException:
            await unexpect(self.storage, identity, "PublishFirmwareStatusNotification", mark, request_id=request_id)
            raise
        answer = str(text(response.get("status")))
        if answer != "Accepted":
            await unexpect(self.storage, identity, "PublishFirmwareStatusNotification", mark, request_id=request_id)
        current = await self.load(identity, key) or dump_record(record)
        await self.save(identity, key, {**current, "answer": answer})
        published = await self.publication(identity, request_id)
        assert published is not None
        return published

    async def _on_publish_status(
        self, cp: ChargePoint, payload: dict[str, Any]
    ) -> v201.PublishFirmwareStatusNotificationResponse:
        status = str(text(payload["status"]))
        request_id = payload.get("requestId")
        event = StatusEvent(status=status, received_at=self.now_text(), request_id=request_id)
        key = f"publication:{request_id}:statuses" if request_id is not None else "publication:none:statuses"
        await append_bounded(self.storage, self.name, cp.id, key, dump_record(event), 100)
        if request_id is not None and status == "Published" and payload.get("location"):
            record_key = f"publication:{request_id}"
            current = await self.load(cp.id, record_key)
            if current is not None:
                await self.save(cp.id, record_key, {**current, "published_locations": list(payload["location"])})
        if request_id is not None and status in FINAL_PUBLISH_STATUSES:
            await unexpect(self.storage, cp.id, "PublishFirmwareStatusNotification", request_id=request_id)
        self._notifier.notify((cp.id, "publication", request_id))
        return v201.PublishFirmwareStatusNotificationResponse()

    async def publication(self, identity: str, request_id: int) -> FirmwarePublication | None:
        """One PublishFirmware with its status history."""
        data = await self.load(identity, f"publication:{request_id}")
        if not data:
            return None
        statuses = await self.load_list(StatusEvent, identity, f"publication:{request_id}:statuses")
        record = load_record(FirmwarePublication, data)
        return replace(record, statuses=tuple(statuses), published_locations=tuple(record.published_locations))

    async def publications(self, identity: str) -> list[FirmwarePublication]:
        """The Local Controller's publications, oldest first."""
        found = [await self.publication(identity, rid) for rid in await self.load(identity, "publications", [])]
        return [p for p in found if p is not None]

    async def wait_for_publication(
        self, identity: str, request_id: int, statuses: Iterable[str] | None = None, *, timeout: float = 600.0
    ) -> FirmwarePublication:
        """Until the publication reported one of ``statuses`` (default: a final one)."""
        wanted = frozenset(statuses) if statuses is not None else FINAL_PUBLISH_STATUSES

        async def check() -> FirmwarePublication | None:
            found = await self.publication(identity, request_id)
            if found is None:
                return None
            refused = found.answer not in ("Requested", "Accepted")
            return found if refused or any(s.status in wanted for s in found.statuses) else None

        return await self._notifier.wait_for((identity, "publication", request_id), check, timeout)

    async def unpublish_firmware(
        self, identity: str, checksum: str, *, timeout: float | None = None
    ) -> v201.UnpublishFirmwareResponse:
        """Stop a Local Controller serving the firmware with this MD5 checksum
        (Unpublished, NoFirmware, DownloadOngoing); Unpublished marks its publications."""
        if not _MD5.fullmatch(checksum):
            raise ValueError(f"checksum must be an MD5 digest (32 hex digits), not {checksum!r}")
        request = v201.UnpublishFirmwareRequest(checksum=checksum)
        response = await self.request_typed(identity, request, v201.UnpublishFirmwareResponse, timeout=timeout)
        if text(response.status) == "Unpublished":
            for rid in await self.load(identity, "publications", []):
                key = f"publication:{rid}"
                current = await self.load(identity, key)
                if current is not None and current["checksum"].lower() == checksum.lower():
                    await self.save(identity, key, {**current, "unpublished_at": self.now_text()})
        return response
